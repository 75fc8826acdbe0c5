import { Option } from 'commander';

/** The option of every command that works on the data directory. */
export function dataDirOption(): Option {
  return new Option('-d, --data-dir <dir>', "the gateway's data directory (default: server.data_dir of the configuration, or DATA_DIR)");
}
