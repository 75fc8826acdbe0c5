/** The part of autocannon's API the benchmark uses (autocannon ships no type declarations). */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  interface Result {
    /** Seconds. */
    duration: number;
    '2xx'?: number;
    non2xx: number;
    statusCodeStats?: Record<string, { count: number }>;
    errors: number;
    timeouts: number;
    mismatches?: number;
  }

  /** Emits `response` (client, statusCode, bytes, responseTime ms) per response; awaiting it gives the result. */
  interface Instance extends EventEmitter, PromiseLike<Result> {}

  function autocannon(opts: Record<string, unknown>): Instance;
  export = autocannon;
}
