import { IsIn, IsOptional, IsUrl, Matches, MinLength, ValidateIf } from 'class-validator';
import { LOG_FORMATS, LOG_LEVELS, LogFormat, LogLevelName } from '../logging/log-options';

export class LoggingConfig {
  /** Env LOG_LEVEL. `info` logs one access line per MCP request; `warn` only problems. */
  @IsIn(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` })
  level: LogLevelName = 'info';

  /** Env LOG_FORMAT. */
  @IsIn(LOG_FORMATS, { message: `must be one of ${LOG_FORMATS.join(', ')}` })
  format: LogFormat = 'pretty';
}

/** metrics.listen: a loopback address (it serves /metrics to anyone who can connect) and a port. */
export const METRICS_LISTEN = /^(127(?:\.\d{1,3}){3}|localhost|\[::1\]):(\d{1,5})$/;

export class MetricsConfig {
  /**
   * Bearer token for GET /metrics on the gateway's port (env METRICS_TOKEN). Empty or absent: that
   * /metrics answers 404. Token characters as RFC 6750 §2.1 allows, at least 16 of them.
   */
  @IsOptional()
  @ValidateIf((_, v) => v !== '')
  @MinLength(16, { message: 'must be at least 16 characters (e.g. `openssl rand -hex 32`)' })
  @Matches(/^[A-Za-z0-9\-._~+/]+=*$/, { message: 'may only use the characters of an RFC 6750 bearer token (letters, digits, -._~+/ and trailing =)' })
  token?: string;

  /**
   * A separate listener serving /metrics without a token, e.g. 127.0.0.1:9464. Loopback only:
   * for a scraper on another host, use the token.
   */
  @IsOptional()
  @ValidateIf((_, v) => v !== '')
  @Matches(METRICS_LISTEN, { message: 'must be a loopback address and port, e.g. 127.0.0.1:9464 (it serves /metrics without a token; use metrics.token for remote scrapers)' })
  listen?: string;
}

export class TracingConfig {
  /**
   * Env OTEL_EXPORTER_OTLP_ENDPOINT: an OTLP/HTTP collector (e.g. http://otel-collector:4318); each
   * MCP request is then exported as a span to `<endpoint>/v1/traces`. Absent: no tracing at all (the
   * W3C traceparent is still passed to upstreams). The operator sets it, like a config upstream, so it
   * may be a private address; nothing an outsider sends reaches it.
   */
  @IsOptional()
  @ValidateIf((_, v) => v !== '')
  @IsUrl(
    { protocols: ['http', 'https'], require_protocol: true, require_tld: false },
    { message: 'must be an http(s) URL of an OTLP/HTTP collector, e.g. http://otel-collector:4318 (env OTEL_EXPORTER_OTLP_ENDPOINT)' },
  )
  otlp_endpoint?: string;

  /** Env OTEL_SERVICE_NAME: the service.name of the exported spans. */
  @Matches(/^[\x21-\x7e][\x20-\x7e]{0,99}$/, { message: 'must be 1 to 100 printable ASCII characters (env OTEL_SERVICE_NAME)' })
  service_name: string = 'gatehouse';
}
