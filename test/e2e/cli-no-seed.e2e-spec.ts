import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { RunningUpstream, startUpstream } from '../fixtures/upstream-mcp-server';
import { runCli } from '../helpers/cli';
import { ADMIN, startTestGateway, TestGateway } from '../helpers/gateway';

/**
 * A command (`gatehouse doctor`, `users`, …) opens the gateway's database with its own
 * configuration, which in a shell without GATEHOUSE_CONFIG is the embedded default. It must not
 * seed the registry from that: seeding disables every upstream its config lacks, and on PostgreSQL
 * the running gateway applies that at once (change feed). Runs on either engine.
 */
describe('a CLI command leaves the upstream registry and tool rules as the gateway seeded them', () => {
  let upstream: RunningUpstream;
  let gw: TestGateway;
  let cwd: string;

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'gatehouse-cli-no-seed-'));
    upstream = await startUpstream({ stateless: true });
    gw = await startTestGateway({ config: { upstreams: [{ slug: 'notes', name: 'Notes', url: upstream.url, tools: { rules: [{ effect: 'deny', tools: ['echo'] }] } }] } });
  }, 60_000);

  afterAll(async () => {
    await gw?.close();
    gw?.cleanup();
    await upstream?.close();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('gatehouse doctor with the embedded default config disables nothing and deletes no rule', async () => {
    const result = await runCli(['doctor', ADMIN.email, '--json', '--data-dir', gw.dataDir], { cwd, env: { DATABASE_URL: gw.config.database?.url ?? undefined } });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const db = gw.app.get(DataSource);
    const rows: { slug: string; enabled: unknown }[] = await db.query('SELECT slug, enabled FROM upstreams ORDER BY slug');
    expect(rows.find((r) => r.slug === 'notes')).toBeTruthy();
    expect(Boolean(Number(rows.find((r) => r.slug === 'notes')!.enabled))).toBe(true);
    expect(rows.map((r) => r.slug)).not.toContain('demo');
    const disabled: unknown[] = await db.query("SELECT id FROM audit_events WHERE type = 'upstream.disable'");
    expect(disabled).toHaveLength(0);
    const rules: unknown[] = await db.query("SELECT upstream_slug FROM tool_policies WHERE upstream_slug = 'notes'");
    expect(rules).toHaveLength(1);
  }, 60_000);
});
