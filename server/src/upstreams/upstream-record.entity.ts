import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { AuthSettings } from './auth-modes';
import type { AllowList, UpstreamSource } from './upstream';
import type { ToolArgumentsMode } from '../audit/tool-arguments';
import type { ProcessSettings, UpstreamTransport } from './transports/transport';

/** The upstream registry. Secrets (header values, OAuth client secrets) are in the vault, never here. */
@Entity('upstreams')
export class UpstreamRecord {
  @PrimaryColumn('text')
  slug: string;

  @Column('text')
  name: string;

  @Column('text')
  url: string;

  /** http, stdio or spawn (upstreams/transports). */
  @Column('text', { default: 'http' })
  transport: UpstreamTransport;

  /** stdio/spawn: command, args, env names (values in the vault), instances, limits; null for http. */
  @Column('simple-json', { name: 'transport_settings', nullable: true })
  transportSettings: ProcessSettings | null;

  @Column('boolean', { default: true })
  enabled: boolean;

  @Column('integer', { name: 'timeout_ms' })
  timeoutMs: number;

  @Column('simple-json')
  scopes: string[];

  @Column('text', { name: 'auth_mode' })
  authMode: string;

  /** Non-secret auth settings of every mode (see auth-modes/): header names or templates, credential fields, OAuth endpoints. */
  @Column('simple-json', { name: 'auth_settings' })
  authSettings: AuthSettings;

  @Column('simple-json', { name: 'allow_list' })
  allowList: AllowList;

  /** What tools/call audit rows keep of the arguments: 'digest' or 'values' (audit/tool-arguments.ts). */
  @Column('text', { name: 'tool_arguments', default: 'digest' })
  toolArguments: ToolArgumentsMode;

  /** "config" rows are seeded from config.yaml at every start (read-only in the console); "console" rows are managed at run time. */
  @Column('text')
  source: UpstreamSource;

  @Column('integer', { name: 'created_at' })
  createdAt: number;

  @Column('integer', { name: 'updated_at' })
  updatedAt: number;
}
