/** The run's progress log (stderr, with the time since the start) and its list of problems, shown under the table. */
import type { CannonResult } from './mcp-http';

let t0 = performance.now();

/**
 * Starts the run's clock. run.ts calls it once all its modules are loaded, so the runtime it
 * reports (and checks against the 3-minute target) excludes loading them, as it always has.
 */
export function startClock(): void {
  t0 = performance.now();
}

/** Seconds since startClock(). */
export function elapsedS(): number {
  return (performance.now() - t0) / 1000;
}

export function log(msg: string): void {
  process.stderr.write(`[bench ${elapsedS().toFixed(1).padStart(5)} s] ${msg}\n`);
}

/** Anything that went wrong without stopping the run; printed under the table and kept in latest.json. */
export const problems: string[] = [];

/** Records failed calls of an autocannon run as a problem; throws when not a single call succeeded. */
export function check(label: string, r: CannonResult, total?: number): void {
  const bad = r.non2xx + r.errors + r.timeouts + r.mismatches;
  if (bad) {
    const msg =
      `${label}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts, ${r.mismatches} wrong bodies ` +
      `of ${total ?? r.requests + bad} (status codes ${JSON.stringify(r.statusCodes)})`;
    problems.push(msg);
    log(`WARNING ${msg}`);
    if (!r.requests) throw new Error(`${label}: no successful call at all`);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
