import { Injectable } from '@nestjs/common';
import { join } from 'node:path';
import { ConfigService } from '../../config/config.service';
import { VaultService } from '../../vault/vault.service';
import { envPurpose, upstreamOwner } from '../../vault/vault-addresses';
import type { Upstream } from '../upstream';
import type { ProcessSpec } from './managed-process';
import { processEnv, withPort } from './process-env';

/** What the console shows about an upstream's processes (admins only: stderr may hold anything). */
export interface ProcessStatus {
  state: 'stopped' | 'starting' | 'running' | 'restarting' | 'failed';
  /** Processes of this upstream running now, and their ids. */
  running: number;
  pids: number[];
  /** Restarts after a crash since the gateway started. */
  restarts: number;
  lastExit: string | null;
  lastExitAt: number | null;
  /** spawn: the loopback port the child listens on. */
  port?: number | null;
  /** The last lines of stderr (and of stdout for spawned upstreams), oldest first. */
  stderr: string[];
}

/** Backoff before the n-th restart in a row (from 0): 1 s, 2 s, 4 s … up to 30 s. */
export function restartDelayMs(n: number): number {
  return Math.min(1000 * 2 ** n, 30_000);
}
/** A process that ran this long before it crashed resets the backoff. */
export const STABLE_AFTER_MS = 60_000;

/** Builds what a stdio or spawned upstream's process starts with (env values decrypted from the vault now). */
@Injectable()
export class ProcessLauncher {
  constructor(
    private readonly vault: VaultService,
    private readonly config: ConfigService,
  ) {}

  /** The process's HOME: its own directory under the data dir (nothing of the gateway's own home). */
  homeOf(slug: string): string {
    return join(this.config.dataDir, 'processes', slug);
  }

  async specFor(upstream: Upstream, stdio: ProcessSpec['stdio'], credential: Record<string, string> = {}, port?: number): Promise<ProcessSpec> {
    const settings = upstream.process!;
    const listed: Record<string, string> = {};
    for (const name of settings.envNames) {
      const value = await this.vault.get(upstreamOwner(upstream.slug), envPurpose(name));
      if (value !== null) listed[name] = value;
    }
    const home = this.homeOf(upstream.slug);
    const env = processEnv(home, port === undefined ? listed : withPort(listed, port), credential);
    return {
      command: settings.command,
      args: port === undefined ? settings.args : withPort(settings.args, port),
      cwd: settings.cwd ?? home,
      env,
      home,
      stdio,
    };
  }
}
