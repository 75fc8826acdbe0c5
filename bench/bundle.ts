/**
 * The bundle's figures (bench/phases/bundle.ts), printed as a table with its targets:
 * `node --require ts-node/register/transpile-only bench/bundle.ts` (about 20 s; loopback only).
 */
import 'reflect-metadata';
import { bundleReport, measureBundle } from './phases/bundle';

async function main(): Promise<void> {
  process.stdout.write(bundleReport(await measureBundle()));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bundle bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
