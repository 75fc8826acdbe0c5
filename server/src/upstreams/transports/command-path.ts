import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/**
 * Why a command cannot be run, or null: the check execvp(3) would make (a name with a slash is a
 * path, relative to the working directory; a bare name is looked up in PATH), without running
 * anything. For the reachability probe and the console's connection test of stdio upstreams.
 */
export function commandProblem(command: string, cwd: string | null): string | null {
  if (command.includes('/')) {
    const path = isAbsolute(command) || !cwd ? resolve(command) : resolve(cwd, command);
    return executable(path) ? null : `command not found or not executable: ${command}`;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, command))) return null;
  }
  return `command ${command} is not in PATH`;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
