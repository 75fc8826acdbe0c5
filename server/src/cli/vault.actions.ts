import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DATABASE_FILE } from '../database/database.module';
import { encodeMasterKey, findMasterKey, generateMasterKey, keyFilePath, MASTER_KEY_ENV, MasterKeyError, parseMasterKey } from '../vault/master-key';
import { KeyFileUpdateError, rotateMasterKey } from '../vault/rotate';
import { CliError, commandConfig, dataDirOf, EXIT, refuseWhileRunning, say } from './common';

/**
 * `gatehouse vault rotate [--new-key <base64|hex>]`: re-encrypts every vault secret under a new
 * master key (vault/rotate.ts). The old key is found the way the gateway finds it
 * (GATEHOUSE_MASTER_KEY, else DATA_DIR/master.key). Refused while a gateway runs on the data
 * directory: it holds the old key in memory and would write secrets the new key cannot read.
 */
export function rotate(opts: { newKey?: string; dataDir?: string }): void {
  const config = commandConfig(opts);
  if (config.database.url) {
    // Replicas cannot be seen from here (no lock file or SQLite lock spans machines), and each
    // holds the old key in memory: a rotation beside a running one would strand its writes.
    throw new CliError(
      'vault rotate works on the embedded SQLite database only; with database.url (PostgreSQL, several replicas) it is refused: ' +
        'rotation there needs every replica stopped and is not supported yet. The master key stays the same for all replicas (GATEHOUSE_MASTER_KEY).',
      EXIT.usage,
    );
  }
  const dataDir = dataDirOf(config);
  let newKey: Buffer;
  try {
    newKey = opts.newKey ? parseMasterKey(opts.newKey, '--new-key') : generateMasterKey();
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.usage);
  }
  refuseWhileRunning(
    dataDir,
    'rotate the vault master key',
    'stop the gateway first (e.g. docker compose stop gatehouse, then docker compose run --rm gatehouse gatehouse vault rotate)',
  );
  try {
    const database = join(dataDir, DATABASE_FILE);
    if (!existsSync(database)) throw new MasterKeyError(`no Gatehouse database at ${database}; pass --data-dir or set DATA_DIR`);
    const old = findMasterKey(dataDir);
    if (!old) throw new MasterKeyError(`no master key found: set ${MASTER_KEY_ENV} or check that ${keyFilePath(dataDir)} exists`);
    say(`Rotating the vault master key in ${dataDir} (the gateway must be stopped)...`);
    const result = rotateMasterKey(dataDir, old.key, newKey, { keySource: old.source });
    say(`Re-encrypted ${result.secrets} secret(s): master key id ${result.oldKeyId} -> ${result.newKeyId}.`);
    if (result.keyFile) {
      say(`The new key is in ${result.keyFile}.`);
    } else if (opts.newKey) {
      say(`Set ${MASTER_KEY_ENV} to the new key before starting the gateway; the old key no longer works.`);
    } else {
      // Printed once, here: it exists nowhere else.
      say(`New master key (store it now; it is not written anywhere):\n\n  ${encodeMasterKey(newKey)}\n`);
      say(`Set ${MASTER_KEY_ENV} to it before starting the gateway; the old key no longer works.`);
    }
    say('Backups taken before now still need the old key.');
  } catch (err) {
    const outcome = err instanceof KeyFileUpdateError ? '' : '\nNothing was changed; the old key is still the valid one.';
    throw new CliError(`${(err as Error).message}${outcome}`);
  }
}
