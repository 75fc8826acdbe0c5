/** A sign-in that could not be completed; `message` is safe to show the user (it never carries a secret). */
export class UpstreamSignInError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly title = 'Sign-in at the MCP server failed',
  ) {
    super(message);
  }
}

/** The upstream's authorization server could not be reached or answered garbage (not a rejection of the grant). */
export class UpstreamAuthUnavailableError extends Error {}

/** The token endpoint said no (an OAuth error); as opposed to being unreachable. */
export class GrantRejected extends Error {
  constructor(
    readonly error: string,
    readonly description: string | null,
  ) {
    super(description ? `${error}: ${description}` : error);
  }
}
