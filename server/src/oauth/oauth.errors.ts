/**
 * Typed OAuth errors (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 8707 §2, RFC 7009 §2.2.1).
 * Each carries the wire `error` code, a human description and the HTTP status.
 */
export class OAuthError extends Error {
  /** The named check that refused (token.checks.ts), for the audit row; unset when no check threw it. */
  check?: string;
  /** The user of the code or grant the request named, when known, for the same row. */
  userId?: string;

  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
  }

  toJSON() {
    return { error: this.error, error_description: this.description };
  }
}

export class InvalidRequest extends OAuthError {
  constructor(description: string) {
    super('invalid_request', description);
  }
}

/** 401; RFC 6749 §5.2 asks for WWW-Authenticate when the client tried HTTP Basic. */
export class InvalidClient extends OAuthError {
  constructor(
    description: string,
    readonly triedBasic = false,
    /** Set when the client exists (wrong method or secret): its refusal is audited under its id. */
    readonly knownClientId?: string,
  ) {
    super('invalid_client', description, 401);
  }
}

export class InvalidGrant extends OAuthError {
  constructor(description: string) {
    super('invalid_grant', description);
  }
}

export class UnauthorizedClient extends OAuthError {
  constructor(description: string) {
    super('unauthorized_client', description);
  }
}

export class UnsupportedGrantType extends OAuthError {
  constructor(description: string) {
    super('unsupported_grant_type', description);
  }
}

export class UnsupportedResponseType extends OAuthError {
  constructor(description: string) {
    super('unsupported_response_type', description);
  }
}

export class InvalidScope extends OAuthError {
  constructor(description: string) {
    super('invalid_scope', description);
  }
}

export class InvalidTarget extends OAuthError {
  constructor(description: string) {
    super('invalid_target', description);
  }
}

export class AccessDenied extends OAuthError {
  constructor(description: string) {
    super('access_denied', description, 403);
  }
}

export class InvalidClientMetadata extends OAuthError {
  constructor(description: string) {
    super('invalid_client_metadata', description);
  }
}

export class InvalidRedirectUri extends OAuthError {
  constructor(description: string) {
    super('invalid_redirect_uri', description);
  }
}

/** 429 (RFC 6585 §4); `retryAfterSeconds` becomes the Retry-After header (RFC 9110 §10.2.3). */
export class TooManyRequests extends OAuthError {
  constructor(
    description: string,
    readonly retryAfterSeconds?: number,
  ) {
    super('too_many_requests', description, 429);
  }
}
