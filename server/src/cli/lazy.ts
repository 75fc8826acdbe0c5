import { Option } from 'commander';

/**
 * A command's implementation, loaded when the command runs: `gatehouse --help` and `--version`
 * then load commander alone, not NestJS, TypeORM and SQLite.
 */
export function lazy<T>(load: () => T): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load());
}

export function dataDirOption(): Option {
  return new Option('-d, --data-dir <dir>', "the gateway's data directory (default: server.data_dir of the configuration, or DATA_DIR)");
}
