import type { Logger } from '@nestjs/common';

/** Lines of a process's stderr kept for the console. */
export const STDERR_LINES_KEPT = 50;
/** A line longer than this is cut (a process may write anything, e.g. a minified stack). */
const MAX_LINE = 1000;
/** At most this many stderr lines per process go to the gateway log per window; the rest are counted. */
const LOG_BUDGET = 100;
const LOG_WINDOW_MS = 60_000;

/**
 * A process's stderr: the last lines in a ring buffer (shown to admins in the console) and in the
 * gateway log, bounded both ways, so a chatty or hostile process can fill neither memory nor disk.
 * stderr may hold anything, secrets included: it is shown to admins only, never to MCP clients.
 */
export class StderrLog {
  private readonly lines: string[] = [];
  private partial = '';
  private logged = 0;
  private dropped = 0;
  private windowStart = Date.now();

  constructor(
    private readonly logger: Logger,
    private readonly label: string,
    /** Also told every kept line (an upstream's ring across its processes). */
    private readonly onLine?: (line: string) => void,
  ) {}

  write(chunk: Buffer): void {
    const text = this.partial + chunk.toString('utf8');
    const parts = text.split('\n');
    this.partial = parts.pop()!.slice(0, MAX_LINE);
    for (const line of parts) this.add(line);
  }

  /** The process ended: a last line without its newline still counts. */
  flush(): void {
    if (this.partial) this.add(this.partial);
    this.partial = '';
  }

  last(): string[] {
    return [...this.lines];
  }

  private add(raw: string): void {
    const line = raw.replace(/\r$/, '').slice(0, MAX_LINE);
    if (!line.trim()) return;
    this.lines.push(line);
    if (this.lines.length > STDERR_LINES_KEPT) this.lines.shift();
    this.onLine?.(line);
    const now = Date.now();
    if (now - this.windowStart > LOG_WINDOW_MS) {
      if (this.dropped) this.logger.warn(`${this.label}: ${this.dropped} stderr lines not logged (over ${LOG_BUDGET} a minute)`);
      this.windowStart = now;
      this.logged = 0;
      this.dropped = 0;
    }
    if (this.logged++ < LOG_BUDGET) this.logger.log(`${this.label} stderr: ${line}`);
    else this.dropped++;
  }
}

/** A bounded ring of the last lines of every process of one upstream, each led by its pid. */
export class StderrRing {
  private readonly lines: string[] = [];

  add(pid: number | undefined, line: string): void {
    this.lines.push(`[${pid ?? '?'}] ${line}`);
    if (this.lines.length > STDERR_LINES_KEPT) this.lines.shift();
  }

  last(): string[] {
    return [...this.lines];
  }
}
