import { join } from 'node:path';
import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ConfigService } from '../config/config.service';
import { DATABASE_FILE } from '../database/database.module';
import { Transactions } from '../database/transactions';
import { UpstreamsService } from '../upstreams/upstreams.service';
import { VaultService } from '../vault/vault.service';
import { databaseWriteProblem, postgresWriteProblem } from './database-probe';

export type CheckName = 'database' | 'migrations' | 'vault' | 'upstreams';
export type CheckResult = { status: 'ok' } | { status: 'failing'; reason: string };

export interface Readiness {
  ready: boolean;
  checks: Record<CheckName, CheckResult>;
}

/**
 * A readiness probe may come every second or from anyone (it needs no credentials): a result is
 * reused this long, so probes cost at most one database check per interval.
 */
const REUSE_MS = 1000;

/**
 * Whether the gateway can serve (GET /readyz): its database takes writes, every migration is
 * applied, the vault's master key is loaded, and at least one upstream is enabled.
 */
@Injectable()
export class ReadinessService {
  private readonly logger = new Logger('Readiness');
  private last: { at: number; result: Promise<Readiness> } | null = null;
  /** The reasons logged last, so a failing check is logged when it starts and ends, not at every probe. */
  private logged = new Map<CheckName, string>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
    private readonly config: ConfigService,
    private readonly vault: VaultService,
    private readonly upstreams: UpstreamsService,
  ) {}

  check(now = Date.now()): Promise<Readiness> {
    if (!this.last || now - this.last.at >= REUSE_MS) this.last = { at: now, result: this.run() };
    return this.last.result;
  }

  private async run(): Promise<Readiness> {
    const problems: Record<CheckName, Problem | null> = {
      database:
        this.transactions.engine === 'sqlite'
          ? attempt(() => databaseWriteProblem(this.transactions.db, join(this.config.dataDir, DATABASE_FILE), this.config.dataDir))
          : await attemptAsync(() => postgresWriteProblem(this.transactions)),
      migrations: await attemptAsync(async () => ((await this.dataSource.showMigrations()) ? 'migrations are pending' : null)),
      vault: attempt(() => (this.vault.keyId ? null : 'the master key is not loaded')),
      upstreams: attempt(() => (this.upstreams.list().length ? null : 'no upstream is enabled')),
    };
    this.logChanges(problems);
    const checks = {} as Record<CheckName, CheckResult>;
    for (const [name, problem] of Object.entries(problems) as Array<[CheckName, Problem | null]>) {
      checks[name] = problem ? { status: 'failing', reason: problem.reason } : { status: 'ok' };
    }
    return { ready: Object.values(problems).every((p) => !p), checks };
  }

  private logChanges(problems: Record<CheckName, Problem | null>): void {
    for (const [name, problem] of Object.entries(problems) as Array<[CheckName, Problem | null]>) {
      const before = this.logged.get(name);
      if (problem && before !== problem.reason) {
        this.logger.warn(`not ready: ${name}: ${problem.detail ?? problem.reason}`);
        this.logged.set(name, problem.reason);
      } else if (!problem && before !== undefined) {
        this.logger.log(`ready again: ${name} ok`);
        this.logged.delete(name);
      }
    }
  }
}

/**
 * `reason` is answered to anyone who asks /readyz, so it is one of the fixed sentences above or an
 * error code; `detail` (an error's message, which may name paths) goes to the log only.
 */
interface Problem {
  reason: string;
  detail?: string;
}

function failure(err: unknown): Problem {
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  return { reason: `the check failed (${typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'error'})`, detail: String(e?.message ?? err) };
}

function attempt(problem: () => string | null): Problem | null {
  try {
    const reason = problem();
    return reason ? { reason } : null;
  } catch (err) {
    return failure(err);
  }
}

async function attemptAsync(problem: () => Promise<string | null>): Promise<Problem | null> {
  try {
    const reason = await problem();
    return reason ? { reason } : null;
  } catch (err) {
    return failure(err);
  }
}
