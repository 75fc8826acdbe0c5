import { MigrationInterface, QueryRunner } from 'typeorm';

export class Initial1795708966381 implements MigrationInterface {
  name = 'Initial1795708966381';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of [
      'CREATE TABLE "audit_events" ("id" BIGSERIAL NOT NULL, "at" bigint NOT NULL, "type" text NOT NULL, "outcome" text NOT NULL, "user_id" text, "client_id" text, "upstream_slug" text, "mcp_method" text, "tool" text, "status" bigint, "duration_ms" bigint, "ip" text, "detail" text, CONSTRAINT "PK_910f64d901a5c3e9878f0d4a407" PRIMARY KEY ("id"))',
      'CREATE INDEX "IDX_3648e11676f1929b9875ee272b" ON "audit_events" ("at") ',
      'CREATE INDEX "IDX_a4d1e18d2c2c4510d6fa54fda5" ON "audit_events" ("tool", "at") WHERE "tool" IS NOT NULL',
      'CREATE INDEX "IDX_4ec7c5547663200c309d5ca75e" ON "audit_events" ("mcp_method", "at") WHERE "mcp_method" IS NOT NULL',
      'CREATE INDEX "IDX_1b9a1df9b0197b9639dae4d9f6" ON "audit_events" ("upstream_slug", "at") WHERE "upstream_slug" IS NOT NULL',
      'CREATE INDEX "IDX_95697f2963a9fc2c483208167b" ON "audit_events" ("client_id", "at") WHERE "client_id" IS NOT NULL',
      'CREATE INDEX "IDX_b146ce049b8664dbbc707b14e7" ON "audit_events" ("user_id", "at") WHERE "user_id" IS NOT NULL',
      'CREATE INDEX "IDX_322e2395de62978d0f6e612869" ON "audit_events" ("at") WHERE "outcome" = \'failure\'',
      'CREATE INDEX "IDX_c8c3ce23c34564965a62ff53ed" ON "audit_events" ("type", "at") WHERE "type" != \'mcp.request\'',
      'CREATE TABLE "audit_rollups" ("bucket_ms" bigint NOT NULL, "start_at" bigint NOT NULL, "upstream_slug" text NOT NULL, "requests" bigint NOT NULL DEFAULT \'0\', "errors" bigint NOT NULL DEFAULT \'0\', "ms_le_0" bigint NOT NULL DEFAULT \'0\', "ms_le_1" bigint NOT NULL DEFAULT \'0\', "ms_le_2" bigint NOT NULL DEFAULT \'0\', "ms_le_3" bigint NOT NULL DEFAULT \'0\', "ms_le_5" bigint NOT NULL DEFAULT \'0\', "ms_le_7" bigint NOT NULL DEFAULT \'0\', "ms_le_10" bigint NOT NULL DEFAULT \'0\', "ms_le_15" bigint NOT NULL DEFAULT \'0\', "ms_le_20" bigint NOT NULL DEFAULT \'0\', "ms_le_30" bigint NOT NULL DEFAULT \'0\', "ms_le_50" bigint NOT NULL DEFAULT \'0\', "ms_le_70" bigint NOT NULL DEFAULT \'0\', "ms_le_100" bigint NOT NULL DEFAULT \'0\', "ms_le_150" bigint NOT NULL DEFAULT \'0\', "ms_le_200" bigint NOT NULL DEFAULT \'0\', "ms_le_300" bigint NOT NULL DEFAULT \'0\', "ms_le_500" bigint NOT NULL DEFAULT \'0\', "ms_le_700" bigint NOT NULL DEFAULT \'0\', "ms_le_1000" bigint NOT NULL DEFAULT \'0\', "ms_le_1500" bigint NOT NULL DEFAULT \'0\', "ms_le_2000" bigint NOT NULL DEFAULT \'0\', "ms_le_3000" bigint NOT NULL DEFAULT \'0\', "ms_le_5000" bigint NOT NULL DEFAULT \'0\', "ms_le_7000" bigint NOT NULL DEFAULT \'0\', "ms_le_10000" bigint NOT NULL DEFAULT \'0\', "ms_le_15000" bigint NOT NULL DEFAULT \'0\', "ms_le_20000" bigint NOT NULL DEFAULT \'0\', "ms_le_30000" bigint NOT NULL DEFAULT \'0\', "ms_le_50000" bigint NOT NULL DEFAULT \'0\', "ms_le_70000" bigint NOT NULL DEFAULT \'0\', "ms_le_100000" bigint NOT NULL DEFAULT \'0\', "ms_le_150000" bigint NOT NULL DEFAULT \'0\', "ms_le_200000" bigint NOT NULL DEFAULT \'0\', "ms_le_300000" bigint NOT NULL DEFAULT \'0\', "ms_gt_300000" bigint NOT NULL DEFAULT \'0\', CONSTRAINT "PK_1a7aaa7842f6bcd38f730336007" PRIMARY KEY ("bucket_ms", "start_at", "upstream_slug"))',
      'CREATE TABLE "audit_tool_rollups" ("bucket_ms" bigint NOT NULL, "start_at" bigint NOT NULL, "upstream_slug" text NOT NULL, "tool" text NOT NULL, "calls" bigint NOT NULL DEFAULT \'0\', "errors" bigint NOT NULL DEFAULT \'0\', CONSTRAINT "PK_a0aae38775c8677ba41869181c3" PRIMARY KEY ("bucket_ms", "start_at", "upstream_slug", "tool"))',
      'CREATE TABLE "audit_counts" ("type" text NOT NULL, "outcome" text NOT NULL, "start_at" bigint NOT NULL, "count" bigint NOT NULL DEFAULT \'0\', CONSTRAINT "PK_725cd2f0813993e4945fc598ac3" PRIMARY KEY ("type", "outcome", "start_at"))',
      'CREATE INDEX "IDX_e1436c5148d3e808230021665a" ON "audit_counts" ("start_at") ',
      'CREATE TABLE "group_members" ("group_id" text NOT NULL, "user_id" text NOT NULL, CONSTRAINT "PK_f5939ee0ad233ad35e03f5c65c1" PRIMARY KEY ("group_id", "user_id"))',
      'CREATE INDEX "IDX_20a555b299f75843aa53ff8b0e" ON "group_members" ("user_id") ',
      'CREATE TABLE "groups" ("id" text NOT NULL, "name" text NOT NULL, "created_at" bigint NOT NULL, CONSTRAINT "UQ_664ea405ae2a10c264d582ee563" UNIQUE ("name"), CONSTRAINT "PK_659d1483316afb28afd3a90646e" PRIMARY KEY ("id"))',
      'CREATE TABLE "invite_tokens" ("token_hash" text NOT NULL, "user_id" text NOT NULL, "purpose" text NOT NULL, "created_at" bigint NOT NULL, "expires_at" bigint NOT NULL, "used_at" bigint, CONSTRAINT "PK_b728a0bd605dc34a9a5ef7fba2d" PRIMARY KEY ("token_hash"))',
      'CREATE INDEX "IDX_e784f26221df4e5537b3ca7a4c" ON "invite_tokens" ("user_id") ',
      'CREATE TABLE "login_sessions" ("id_hash" text NOT NULL, "user_id" text NOT NULL, "created_at" bigint NOT NULL, "expires_at" bigint NOT NULL, CONSTRAINT "PK_9e9b678f5cfc0977b94c38b690c" PRIMARY KEY ("id_hash"))',
      'CREATE INDEX "IDX_b5edc6cc3a246a811005a96e06" ON "login_sessions" ("user_id") ',
      'CREATE TABLE "users" ("id" text NOT NULL, "email" text NOT NULL, "password_hash" text, "display_name" text, "role" text NOT NULL DEFAULT \'member\', "disabled" boolean NOT NULL DEFAULT false, "created_at" bigint NOT NULL, "last_login_at" bigint, CONSTRAINT "UQ_97672ac88f789774dd47f7c8be3" UNIQUE ("email"), CONSTRAINT "PK_a3ffb1c0c8416b9fc6f907b7433" PRIMARY KEY ("id"))',
      'CREATE TABLE "access_tokens" ("token_hash" text NOT NULL, "grant_id" text NOT NULL, "client_id" text NOT NULL, "user_id" text NOT NULL, "upstream_slug" text NOT NULL, "scope" text NOT NULL, "expires_at" bigint NOT NULL, CONSTRAINT "PK_9bbf8c3c1a897742f78d50e729b" PRIMARY KEY ("token_hash"))',
      'CREATE INDEX "IDX_43afe32d20c1a486faa1ea786b" ON "access_tokens" ("grant_id") ',
      'CREATE TABLE "authorization_codes" ("code_hash" text NOT NULL, "client_id" text NOT NULL, "user_id" text NOT NULL, "upstream_slug" text NOT NULL, "redirect_uri" text NOT NULL, "code_challenge" text NOT NULL, "scope" text NOT NULL, "expires_at" bigint NOT NULL, "used_at" bigint, "grant_id" text, CONSTRAINT "PK_2e198275bb8a2fe00f554be97a3" PRIMARY KEY ("code_hash"))',
      'CREATE TABLE "oauth_clients" ("client_id" text NOT NULL, "client_secret_hash" text, "client_name" text, "redirect_uris" text NOT NULL, "token_endpoint_auth_method" text NOT NULL, "grant_types" text NOT NULL, "response_types" text NOT NULL, "scope" text, "extra_metadata" text NOT NULL, "created_at" bigint NOT NULL, "last_used_at" bigint, "registration_source" text, CONSTRAINT "PK_c5c4af500cc8bfc05500fff7f90" PRIMARY KEY ("client_id"))',
      'CREATE INDEX "IDX_efdd5d522c93a9ecbb801d6950" ON "oauth_clients" ("created_at", "client_id") ',
      'CREATE INDEX "IDX_d5463479402eca0b74fdb538d0" ON "oauth_clients" ("registration_source", "created_at") ',
      'CREATE TABLE "consents" ("id" BIGSERIAL NOT NULL, "user_id" text NOT NULL, "client_id" text NOT NULL, "upstream_slug" text NOT NULL, "scope" text NOT NULL, "created_at" bigint NOT NULL, CONSTRAINT "UQ_80e4598cedf56f6da3c95371dd2" UNIQUE ("user_id", "client_id", "upstream_slug"), CONSTRAINT "PK_9efc68eb6aba7d638fb6ea034dd" PRIMARY KEY ("id"))',
      'CREATE TABLE "grants" ("id" text NOT NULL, "user_id" text NOT NULL, "client_id" text NOT NULL, "upstream_slug" text NOT NULL, "scope" text NOT NULL, "created_at" bigint NOT NULL, "last_used_at" bigint, "revoked_at" bigint, "revoked_reason" text, CONSTRAINT "PK_a25f5f89eff8b3277f7969b7094" PRIMARY KEY ("id"))',
      'CREATE INDEX "IDX_05da858713264508a2cf3bda19" ON "grants" ("created_at", "id") ',
      'CREATE INDEX "IDX_be9429398e93db00044e797b0a" ON "grants" ("revoked_at", "created_at", "id") ',
      'CREATE INDEX "IDX_79e46a61b1b124a680b9292f9b" ON "grants" ("upstream_slug", "created_at", "id") ',
      'CREATE INDEX "IDX_777c1b8882d0eee87f6323c984" ON "grants" ("client_id", "created_at", "id") ',
      'CREATE INDEX "IDX_9142d9a59cf58a69182d6dca1c" ON "grants" ("user_id", "created_at", "id") ',
      'CREATE TABLE "refresh_tokens" ("token_hash" text NOT NULL, "grant_id" text NOT NULL, "created_at" bigint NOT NULL, "expires_at" bigint NOT NULL, "rotated_at" bigint, "rotation_nonce" text, CONSTRAINT "PK_a7838d2ba25be1342091b6695f1" PRIMARY KEY ("token_hash"))',
      'CREATE INDEX "IDX_8578bf8bd718bc77dd57134b1d" ON "refresh_tokens" ("grant_id") ',
      'CREATE TABLE "upstream_checks" ("slug" text NOT NULL, "checked_at" bigint NOT NULL, "result" text NOT NULL, CONSTRAINT "PK_70edd95bacc98f0d1b3cdee67a7" PRIMARY KEY ("slug"))',
      'CREATE TABLE "upstreams" ("slug" text NOT NULL, "name" text NOT NULL, "url" text NOT NULL, "enabled" boolean NOT NULL DEFAULT true, "timeout_ms" bigint NOT NULL, "scopes" text NOT NULL, "auth_mode" text NOT NULL, "auth_settings" text NOT NULL, "allow_list" text NOT NULL, "source" text NOT NULL, "created_at" bigint NOT NULL, "updated_at" bigint NOT NULL, CONSTRAINT "PK_c0ee38aee1e86a3a21a43307c7e" PRIMARY KEY ("slug"))',
      'CREATE TABLE "vault_keys" ("key_id" text NOT NULL, "nonce" text NOT NULL, "ciphertext" text NOT NULL, "tag" text NOT NULL, "created_at" bigint NOT NULL, CONSTRAINT "PK_fa4c284b81a8fb81baa02d64935" PRIMARY KEY ("key_id"))',
      'CREATE TABLE "vault_secrets" ("id" text NOT NULL, "owner_type" text NOT NULL, "owner_id" text NOT NULL, "purpose" text NOT NULL, "key_id" text NOT NULL, "nonce" text NOT NULL, "ciphertext" text NOT NULL, "tag" text NOT NULL, "created_at" bigint NOT NULL, "updated_at" bigint NOT NULL, CONSTRAINT "UQ_6ff21fd454c32eeadaa5230d09c" UNIQUE ("owner_type", "owner_id", "purpose"), CONSTRAINT "PK_a585b7c530e11915101b9e50286" PRIMARY KEY ("id"))',
    ]) {
      await q.query(sql);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of [
      'DROP TABLE "vault_secrets"',
      'DROP TABLE "vault_keys"',
      'DROP TABLE "upstreams"',
      'DROP TABLE "upstream_checks"',
      'DROP INDEX "public"."IDX_8578bf8bd718bc77dd57134b1d"',
      'DROP TABLE "refresh_tokens"',
      'DROP INDEX "public"."IDX_9142d9a59cf58a69182d6dca1c"',
      'DROP INDEX "public"."IDX_777c1b8882d0eee87f6323c984"',
      'DROP INDEX "public"."IDX_79e46a61b1b124a680b9292f9b"',
      'DROP INDEX "public"."IDX_be9429398e93db00044e797b0a"',
      'DROP INDEX "public"."IDX_05da858713264508a2cf3bda19"',
      'DROP TABLE "grants"',
      'DROP TABLE "consents"',
      'DROP INDEX "public"."IDX_d5463479402eca0b74fdb538d0"',
      'DROP INDEX "public"."IDX_efdd5d522c93a9ecbb801d6950"',
      'DROP TABLE "oauth_clients"',
      'DROP TABLE "authorization_codes"',
      'DROP INDEX "public"."IDX_43afe32d20c1a486faa1ea786b"',
      'DROP TABLE "access_tokens"',
      'DROP TABLE "users"',
      'DROP INDEX "public"."IDX_b5edc6cc3a246a811005a96e06"',
      'DROP TABLE "login_sessions"',
      'DROP INDEX "public"."IDX_e784f26221df4e5537b3ca7a4c"',
      'DROP TABLE "invite_tokens"',
      'DROP TABLE "groups"',
      'DROP INDEX "public"."IDX_20a555b299f75843aa53ff8b0e"',
      'DROP TABLE "group_members"',
      'DROP INDEX "public"."IDX_e1436c5148d3e808230021665a"',
      'DROP TABLE "audit_counts"',
      'DROP TABLE "audit_tool_rollups"',
      'DROP TABLE "audit_rollups"',
      'DROP INDEX "public"."IDX_c8c3ce23c34564965a62ff53ed"',
      'DROP INDEX "public"."IDX_322e2395de62978d0f6e612869"',
      'DROP INDEX "public"."IDX_b146ce049b8664dbbc707b14e7"',
      'DROP INDEX "public"."IDX_95697f2963a9fc2c483208167b"',
      'DROP INDEX "public"."IDX_1b9a1df9b0197b9639dae4d9f6"',
      'DROP INDEX "public"."IDX_4ec7c5547663200c309d5ca75e"',
      'DROP INDEX "public"."IDX_a4d1e18d2c2c4510d6fa54fda5"',
      'DROP INDEX "public"."IDX_3648e11676f1929b9875ee272b"',
      'DROP TABLE "audit_events"',
    ]) {
      await q.query(sql);
    }
  }
}
