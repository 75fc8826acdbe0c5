import { accessSync, constants, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DATABASE_FILE } from './database.module';

/** Files the gateway writes in the data directory (besides the directory itself). */
const OWN_FILES = [DATABASE_FILE, `${DATABASE_FILE}-wal`, `${DATABASE_FILE}-shm`, 'master.key'];

/**
 * Why the gateway could not write its data directory, in one line that names the path, who the
 * process runs as and the fix; null when it can. Checked before anything is created, so the
 * operator sees this instead of a SQLite or TypeORM error (and no retries). Uses access(2), which
 * answers for this process's user and groups and for read-only mounts (EROFS) alike.
 */
export function dataDirProblem(dir: string): string | null {
  const who = processUser();
  const fix = who ? `; fix: chown -R ${who.uid}:${who.gid} ${dir}` : '';
  const runsAs = who ? ` by uid ${who.uid} (gid ${who.gid})` : '';
  let stat;
  try {
    stat = statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') return `data directory ${dir} cannot be read${runsAs}: ${(err as Error).message}${fix}`;
    // Created at start (mkdir -p): the nearest existing ancestor must let us.
    const parent = nearestExisting(dirname(dir));
    if (parent && !statSync(parent).isDirectory()) return `data directory ${dir} cannot be created: ${parent} is not a directory; set DATA_DIR (or server.data_dir) to a directory`;
    if (parent && writable(parent, true)) return null;
    const mk = who ? `; fix: mkdir -p ${dir} && chown -R ${who.uid}:${who.gid} ${dir}` : '';
    return `data directory ${dir} does not exist and ${parent ?? dirname(dir)} is not writable${runsAs}${mk}`;
  }
  if (!stat.isDirectory()) return `data directory ${dir} is not a directory; set DATA_DIR (or server.data_dir) to a directory`;
  const blocked = [dir, ...OWN_FILES.map((f) => join(dir, f))].find((path) => !writable(path, path === dir));
  if (!blocked) return null;
  return blocked === dir ? `data directory ${dir} is not writable${runsAs}${fix}` : `${blocked} in the data directory is not writable${runsAs}${fix}`;
}

function writable(path: string, isDirectory = false): boolean {
  try {
    // A directory needs x (search) as well to create files in it.
    accessSync(path, constants.R_OK | constants.W_OK | (isDirectory ? constants.X_OK : 0));
    return true;
  } catch (err) {
    // A file that does not exist yet is created in the directory, which was checked first.
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function nearestExisting(path: string): string | null {
  for (let p = path; ; p = dirname(p)) {
    try {
      statSync(p);
      return p;
    } catch {
      if (dirname(p) === p) return null;
    }
  }
}

function processUser(): { uid: number; gid: number } | null {
  // POSIX only; Windows has no uid to chown to.
  return typeof process.getuid === 'function' && typeof process.getgid === 'function' ? { uid: process.getuid(), gid: process.getgid() } : null;
}
