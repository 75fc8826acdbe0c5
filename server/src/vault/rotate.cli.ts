import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, loadConfig } from '../config/config.loader';
import { DATABASE_FILE } from '../database/database.module';
import { encodeMasterKey, findMasterKey, generateMasterKey, keyFilePath, MASTER_KEY_ENV, MasterKeyError, parseMasterKey } from './master-key';
import { KeyFileUpdateError, rotateMasterKey } from './rotate';

/**
 * `npm run vault:rotate -- [--new-key <base64|hex>] [--data-dir <dir>]`
 *
 * Re-encrypts every vault secret under a new master key. The old key is found the way the
 * gateway finds it (GATEHOUSE_MASTER_KEY, else DATA_DIR/master.key); DATA_DIR comes from
 * the same config (GATEHOUSE_CONFIG / config.yaml / DATA_DIR) unless --data-dir is given.
 * Exit codes: 0 rotated, 1 rotation failed (nothing changed), 2 bad usage or configuration.
 */

const USAGE = `usage: npm run vault:rotate -- [--new-key <base64|hex>] [--data-dir <dir>]
  --new-key   the new 32-byte master key (default: a new random key)
  --data-dir  the gateway's data directory (default: from the gateway's configuration)
Stop the gateway before rotating.`;

class UsageError extends Error {}
class HelpRequested extends Error {}

interface Args {
  newKey: string | null;
  dataDir: string | null;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { newKey: null, dataDir: null };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--new-key') args.newKey = value();
    else if (flag === '--data-dir') args.dataDir = value();
    else if (flag === '--help' || flag === '-h') throw new HelpRequested();
    else throw new UsageError(`unknown option ${argv[i]}`);
  }
  return args;
}

export function main(argv: string[], env: NodeJS.ProcessEnv = process.env, out = process.stdout, err = process.stderr): number {
  let args: Args;
  let dataDir: string;
  try {
    args = parseArgs(argv);
    dataDir = resolve(args.dataDir ?? loadConfig(env).server.data_dir);
  } catch (e) {
    if (e instanceof HelpRequested) {
      out.write(`${USAGE}\n`);
      return 0;
    }
    if (e instanceof UsageError || e instanceof ConfigError) {
      err.write(`gatehouse vault:rotate: ${e.message}\n${USAGE}\n`);
      return 2;
    }
    throw e;
  }
  try {
    const database = join(dataDir, DATABASE_FILE);
    if (!existsSync(database)) throw new MasterKeyError(`no Gatehouse database at ${database}; pass --data-dir or set DATA_DIR`);
    const old = findMasterKey(dataDir, env);
    if (!old) throw new MasterKeyError(`no master key found: set ${MASTER_KEY_ENV} or check that ${keyFilePath(dataDir)} exists`);
    const newKey = args.newKey ? parseMasterKey(args.newKey, '--new-key') : generateMasterKey();
    out.write(`Rotating the vault master key in ${dataDir} (the gateway must be stopped)...\n`);
    const result = rotateMasterKey(dataDir, old.key, newKey, { keySource: old.source });
    out.write(`Re-encrypted ${result.secrets} secret(s): master key id ${result.oldKeyId} -> ${result.newKeyId}.\n`);
    if (result.keyFile) {
      out.write(`The new key is in ${result.keyFile}.\n`);
    } else if (args.newKey) {
      out.write(`Set ${MASTER_KEY_ENV} to the new key before starting the gateway; the old key no longer works.\n`);
    } else {
      // Printed once, here: it exists nowhere else.
      out.write(
        `New master key (store it now; it is not written anywhere):\n\n  ${encodeMasterKey(newKey)}\n\n` +
          `Set ${MASTER_KEY_ENV} to it before starting the gateway; the old key no longer works.\n`,
      );
    }
    out.write('Backups taken before now still need the old key.\n');
    return 0;
  } catch (e) {
    const outcome = e instanceof KeyFileUpdateError ? '' : 'Nothing was changed; the old key is still the valid one.\n';
    err.write(`gatehouse vault:rotate: ${(e as Error).message}\n${outcome}`);
    return 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
