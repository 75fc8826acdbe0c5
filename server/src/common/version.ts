import { readFileSync } from 'node:fs';
import { join } from 'node:path';

let cached: string | undefined;

/** The package version (package.json sits three levels above both server/src/common and dist/server/common). */
export function gatewayVersion(): string {
  cached ??= (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  return cached;
}
