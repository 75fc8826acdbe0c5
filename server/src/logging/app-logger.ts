import type { LoggerService, LogLevel } from '@nestjs/common';
import pino, { DestinationStream, Level, Logger as Pino } from 'pino';
import type { LoadedConfig } from '../config/config.loader';
import { LogOptions } from './log-options';
import { prettyLine, prettyParts } from './pretty-line';

/**
 * Nest's own start-up chatter (a line per module and per route) is detail for debugging the
 * gateway, not news for its operator: logged at debug instead of info.
 */
const NEST_CHATTER = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication']);

/** Nest's level names → pino's; Nest's `verbose` is pino's `trace`. */
const FROM_NEST: Record<LogLevel, Level> = { fatal: 'fatal', error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };
const MOST_VERBOSE_FIRST: Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** A stack trace, as Nest passes one after the message of an error (`Logger.error(message, stack, context)`). */
const STACK = /\n\s+at /;

/**
 * What a hot path logs with (the proxy's access line, once per MCP request): pino's child logger,
 * or one that writes the same line (see AppLogger.lineLogger).
 */
export interface LineLogger {
  isLevelEnabled(level: Level): boolean;
  info(fields: Record<string, unknown>, msg: string): void;
}

/**
 * The gateway's logger: pino underneath (levels, JSON), seen by Nest as its LoggerService, so every
 * `new Logger(context)` in the code base writes through it. Services that log on a hot path (the
 * proxy's access line) take a pino child from child(), which skips Nest's formatting entirely.
 */
export class AppLogger implements LoggerService {
  constructor(
    readonly pino: Pino,
    /** Where pretty lines go (the pretty format only): lineLogger writes there directly. */
    private readonly prettyTo: DestinationStream | null = null,
  ) {}

  static create(options: LogOptions, destination: DestinationStream = stdout()): AppLogger {
    const target = options.format === 'pretty' ? { write: (line: string) => destination.write(prettyLine(line)) } : destination;
    const logger = pino(
      {
        level: options.level,
        // No pid/hostname on every line: one process per container, and the host is the collector's to add.
        base: null,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      target,
    );
    return new AppLogger(logger, options.format === 'pretty' ? destination : null);
  }

  /** A pino logger whose lines carry `context` (e.g. "access"). */
  child(context: string): Pino {
    return this.pino.child({ context });
  }

  /**
   * A logger for a line written once per request (the proxy's access line), with `context`. In the
   * json format it is child(context). In the pretty format it builds the pretty line straight from
   * the fields: through pino, each line would be serialised to JSON and parsed back (prettyLine),
   * three times the allocations on the proxy's hot path for the same line. Levels are the child's.
   */
  lineLogger(context: string): LineLogger {
    const child = this.child(context);
    const out = this.prettyTo;
    if (!out) return child;
    return {
      isLevelEnabled: (level) => child.isLevelEnabled(level),
      info: (fields, msg) => {
        // pino.stdTimeFunctions.isoTime's format, as every other line of the log.
        if (child.isLevelEnabled('info')) out.write(prettyParts(new Date().toISOString(), 'info', context, msg, fields));
      },
    };
  }

  /**
   * Narrows the level to what a Nest log-level list allows (`startGateway(config, { logger: ['error'] })`,
   * as tests pass): its most verbose level; `false` or an empty list silences it.
   */
  limitTo(levels: LogLevel[] | false): void {
    const allowed = levels === false ? [] : levels.map((l) => FROM_NEST[l]).filter(Boolean);
    this.pino.level = MOST_VERBOSE_FIRST.find((l) => allowed.includes(l)) ?? 'silent';
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  /**
   * Nest calls a LoggerService with the context last (`log(message, context)`) and, for errors, a stack
   * trace before it (`error(message, stack, context)`); `message` may be an Error or an object.
   */
  private write(level: Level, message: unknown, params: unknown[]): void {
    let context: string | undefined;
    let stack: string | undefined;
    for (let i = params.length - 1; i >= 0; i--) {
      const p = params[i];
      if (typeof p !== 'string') continue;
      if (STACK.test(p)) stack ??= p;
      else context ??= p;
    }
    if (level === 'info' && context && NEST_CHATTER.has(context)) level = 'debug';
    if (!this.pino.isLevelEnabled(level)) return;
    if (message instanceof Error) {
      this.pino[level]({ context, stack: stack ?? message.stack }, message.message);
    } else if (message !== null && typeof message === 'object') {
      this.pino[level]({ context, stack, ...message });
    } else {
      this.pino[level]({ context, stack }, String(message));
    }
  }
}

/**
 * Lines are written to stdout in batches of at least this many bytes, or LOG_FLUSH_MS after the
 * first one waiting, whichever comes first. Each write is a job for libuv's thread pool (a thread
 * woken, a write(2), a callback): one per access line cost the proxy more than the line itself,
 * and a busy gateway writes hundreds of lines a second.
 */
export const LOG_BATCH_BYTES = 4096;
export const LOG_FLUSH_MS = 100;

/**
 * One asynchronous stdout stream for every logger of the process (several gateways in one test
 * process share it): a write never blocks the event loop on a slow reader (a pipe to `docker logs`),
 * and pino flushes what is pending when the process exits (also what waits for its batch).
 */
let sharedStdout: DestinationStream | null = null;
function stdout(): DestinationStream {
  sharedStdout ??= pino.destination({ dest: 1, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS });
  return sharedStdout;
}

const byConfig = new WeakMap<LoadedConfig, AppLogger>();

/**
 * The logger of the gateway that runs `config`: the same instance for Nest (NestFactory.create's
 * `logger`) and for injection (LoggingModule), so both honour one level. `limit` narrows it (see limitTo).
 */
export function gatewayLogger(config: LoadedConfig, limit?: LogLevel[] | false): AppLogger {
  let logger = byConfig.get(config);
  if (!logger) {
    logger = AppLogger.create(config.logging);
    byConfig.set(config, logger);
  }
  if (limit !== undefined) logger.limitTo(limit);
  return logger;
}
