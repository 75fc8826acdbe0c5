import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import { RunningGateway, startGateway } from '../../server/src/app.factory';
import { loadConfig, LoadedConfig } from '../../server/src/config/config.loader';
import { dropPostgresDatabase, postgresDatabase, testEngine } from './test-database';

export const ADMIN = { email: 'admin@example.test', password: 'correct horse battery staple' };

export interface TestGatewayOptions {
  /** Raw config (as it would be in config.yaml), merged over test defaults. */
  config?: Record<string, any>;
  /** Reuse a data directory (restart tests). */
  dataDir?: string;
  port?: number;
}

export interface TestGateway extends RunningGateway {
  dataDir: string;
  config: LoadedConfig;
  mcpUrl(slug: string): string;
  /** Stops the gateway; the data directory is kept until cleanup(). */
  close(): Promise<void>;
  cleanup(): void;
}

/** Starts a real gateway on 127.0.0.1 with an ephemeral port and a fresh database (SQLite file, or PostgreSQL with GATEHOUSE_TEST_DB=postgres). */
export async function startTestGateway(opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  const raw = {
    ...opts.config,
    server: { host: '127.0.0.1', port: opts.port ?? 0, data_dir: dataDir, ...(opts.config?.server ?? {}) },
    rate_limit: { oauth_per_minute: 10_000, login_per_minute: 10_000, mcp_per_minute: 0, ...(opts.config?.rate_limit ?? {}) },
    ...(testEngine() === 'postgres' && !opts.config?.database ? { database: { url: await postgresDatabase(dataDir) } } : {}),
  };
  const env = { GATEHOUSE_ADMIN_EMAIL: ADMIN.email, GATEHOUSE_ADMIN_PASSWORD: ADMIN.password };
  // The issuer URL must carry the real port, which is only known after listening:
  // pick a free port first when the caller did not fix one.
  const port = raw.server.port || (await freePort());
  raw.server.port = port;
  raw.server.public_url ??= `http://127.0.0.1:${port}`;
  const config = configFrom(raw, env);
  Object.assign(process.env, env);
  const gateway = await startGateway(config, { logger: ['error'] });
  return {
    ...gateway,
    dataDir,
    config,
    mcpUrl: (slug) => `${config.publicUrl}/mcp/${slug}`,
    cleanup: () => {
      rmSync(dataDir, { recursive: true, force: true });
      if (testEngine() === 'postgres' && !opts.config?.database) dropPostgresDatabase(dataDir);
    },
  };
}

/** Validates raw config (as in config.yaml) the way the gateway does, ignoring PORT/HOST/PUBLIC_URL/DATA_DIR from the environment. */
export function configFrom(raw: Record<string, unknown>, env: Record<string, string> = {}): LoadedConfig {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
  const file = join(dir, 'config.yaml');
  // JSON is valid YAML.
  writeFileSync(file, JSON.stringify(raw));
  try {
    return loadConfig({
      ...process.env,
      ...env,
      GATEHOUSE_CONFIG: file,
      PORT: undefined,
      HOST: undefined,
      PUBLIC_URL: undefined,
      DATA_DIR: undefined,
      DATABASE_URL: env.DATABASE_URL,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as import('node:net').AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}
