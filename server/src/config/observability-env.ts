type Env = Record<string, string | undefined>;

/**
 * LOG_LEVEL, LOG_FORMAT and METRICS_TOKEN win over logging.level, logging.format and metrics.token
 * of the file; OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME (the OpenTelemetry names) over
 * tracing.otlp_endpoint and tracing.service_name. Empty means unset (docker-compose passes empty values); a bad value is reported
 * under the key it sets.
 */
export function applyObservabilityEnv(raw: Record<string, unknown>, env: Env): void {
  // A section whose keys are all commented out (`metrics:` alone, as in config.example.yaml) is YAML null: the defaults.
  for (const key of ['logging', 'metrics', 'tracing']) if (raw[key] === null) delete raw[key];
  const level = env.LOG_LEVEL?.trim();
  const format = env.LOG_FORMAT?.trim();
  if (level) section(raw, 'logging', (s) => (s.level = level.toLowerCase()));
  if (format) section(raw, 'logging', (s) => (s.format = format.toLowerCase()));
  if (env.METRICS_TOKEN) section(raw, 'metrics', (s) => (s.token = env.METRICS_TOKEN));
  const otlp = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const serviceName = env.OTEL_SERVICE_NAME?.trim();
  if (otlp) section(raw, 'tracing', (s) => (s.otlp_endpoint = otlp));
  if (serviceName) section(raw, 'tracing', (s) => (s.service_name = serviceName));
}

function section(raw: Record<string, unknown>, key: string, set: (s: Record<string, unknown>) => void): void {
  const found = (raw[key] ??= {});
  if (typeof found === 'object' && found !== null && !Array.isArray(found)) set(found as Record<string, unknown>); // else validation reports it
}
