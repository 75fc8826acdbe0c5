/**
 * Exit codes of every `gatehouse` command (also listed in `gatehouse --help`):
 * 0 done; 1 failed (nothing, or only what the message says, was changed); 2 bad usage or
 * configuration, or a start-up check the operator must fix; 3 refused because a gateway is
 * running on the data directory.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, gatewayRunning: 3 } as const;

/** A command's failure: printed as `gatehouse: <message>` on stderr, then the process exits with exitCode. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}
