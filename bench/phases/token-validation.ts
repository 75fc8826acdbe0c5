/**
 * Token validation alone, while every other process is idle: tells the harness started by
 * lib/servers.ts (bench/token-validation.ts, booted meanwhile) to measure, and stops it.
 */
import type { Child } from '../lib/processes';
import { stopChild, waitForLine } from '../lib/processes';
import { log } from '../lib/run-log';

export interface TokenValidation {
  cachedUs: number;
  uncachedUs: number;
  unknownUs: number;
  sha256Us: number;
}

export async function measureTokenValidation(harness: Promise<Child>): Promise<TokenValidation> {
  log('token validation (in-process GrantsService.verifyAccessToken)');
  const child = await harness;
  const line = waitForLine(child, /"result"/, 60_000);
  child.proc.stdin!.end('go\n');
  const parsed = (JSON.parse(await line) as { result: TokenValidation }).result;
  await stopChild(child);
  return parsed;
}
