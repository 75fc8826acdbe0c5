/** Log levels an operator may set (logging.level, LOG_LEVEL): pino's, from the fewest lines to the most. */
export const LOG_LEVELS = ['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/** `pretty`: one compact line a person reads; `json`: one JSON object per line, for a log collector. */
export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogOptions {
  level: LogLevelName;
  format: LogFormat;
}
