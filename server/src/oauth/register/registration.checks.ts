import { InvalidClientMetadata, InvalidRedirectUri } from '../oauth.errors';
import { TokenEndpointAuthMethod } from '../client.entity';
import { redirectUriProblem } from '../redirect-uri';

export const AUTH_METHODS: TokenEndpointAuthMethod[] = ['none', 'client_secret_post', 'client_secret_basic'];
export const GRANT_TYPES = ['authorization_code', 'refresh_token'];
const MAX_REDIRECT_URIS = 10;
const MAX_STRING = 2000;
const MAX_CONTACTS = 10;
/** RFC 5321 §4.5.3.1.3 caps a path (an address with its brackets) at 256 octets. */
const MAX_CONTACT_LENGTH = 256;

export interface RegistrationRequest {
  redirectUris: string[];
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  grantTypes: string[];
  responseTypes: string[];
  clientName: string | null;
  scope: string | null;
  extra: Record<string, unknown>;
}

type Body = Record<string, unknown>;

/** Each check validates one part of an RFC 7591 §2 registration request, in order. */
const checks: Array<(body: Body, out: Partial<RegistrationRequest>) => void> = [
  function checkBodyIsObject(body) {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw new InvalidClientMetadata('the request body must be a JSON object');
    }
  },
  function checkRedirectUris(body, out) {
    const uris = body.redirect_uris;
    if (!Array.isArray(uris) || uris.length === 0) throw new InvalidRedirectUri('redirect_uris must be a non-empty array');
    if (uris.length > MAX_REDIRECT_URIS) throw new InvalidRedirectUri(`at most ${MAX_REDIRECT_URIS} redirect_uris`);
    uris.forEach((uri, i) => {
      const problem = redirectUriProblem(uri);
      if (problem) throw new InvalidRedirectUri(`redirect_uris[${i}] ${problem}`);
    });
    out.redirectUris = uris as string[];
  },
  function checkAuthMethod(body, out) {
    // RFC 7591 §2: the default is client_secret_basic.
    const method = body.token_endpoint_auth_method ?? 'client_secret_basic';
    if (!AUTH_METHODS.includes(method as TokenEndpointAuthMethod)) {
      throw new InvalidClientMetadata(`token_endpoint_auth_method must be one of: ${AUTH_METHODS.join(', ')}`);
    }
    out.tokenEndpointAuthMethod = method as TokenEndpointAuthMethod;
  },
  function checkGrantTypes(body, out) {
    // Clients that omit grant_types still expect refresh tokens in practice.
    const grants = body.grant_types ?? GRANT_TYPES;
    if (!isStringArray(grants) || !grants.length || grants.some((g) => !GRANT_TYPES.includes(g))) {
      throw new InvalidClientMetadata(`grant_types may only contain: ${GRANT_TYPES.join(', ')}`);
    }
    if (!grants.includes('authorization_code')) {
      throw new InvalidClientMetadata('grant_types must include authorization_code');
    }
    out.grantTypes = [...new Set(grants)];
  },
  function checkResponseTypes(body, out) {
    const types = body.response_types ?? ['code'];
    if (!isStringArray(types) || types.length !== 1 || types[0] !== 'code') {
      throw new InvalidClientMetadata('response_types must be ["code"]');
    }
    out.responseTypes = types;
  },
  function checkNameAndScope(body, out) {
    for (const key of ['client_name', 'scope', 'software_id', 'software_version']) {
      const v = body[key];
      if (v !== undefined && (typeof v !== 'string' || v.length > MAX_STRING)) {
        throw new InvalidClientMetadata(`${key} must be a string of at most ${MAX_STRING} characters`);
      }
    }
    out.clientName = (body.client_name as string | undefined)?.trim().slice(0, 200) || null;
    out.scope = (body.scope as string | undefined) ?? null;
  },
  function checkUris(body) {
    for (const key of ['client_uri', 'logo_uri', 'tos_uri', 'policy_uri']) {
      const v = body[key];
      if (v === undefined) continue;
      if (typeof v !== 'string' || v.length > MAX_STRING || !/^https?:\/\//.test(v) || !isUrl(v)) {
        throw new InvalidClientMetadata(`${key} must be an http(s) URL`);
      }
    }
  },
  function checkContacts(body) {
    // RFC 7591 §2: "Array of strings representing ways to contact people responsible for this client".
    const contacts = body.contacts;
    if (contacts === undefined) return;
    if (!isStringArray(contacts) || contacts.length > MAX_CONTACTS || contacts.some((c) => c.length > MAX_CONTACT_LENGTH)) {
      throw new InvalidClientMetadata(`contacts must be an array of at most ${MAX_CONTACTS} strings of at most ${MAX_CONTACT_LENGTH} characters`);
    }
  },
  /**
   * Only the members checked above are kept, so what is stored is always small and flat;
   * other members are ignored, as RFC 7591 §2 asks of unknown ones.
   */
  function keepExtraMetadata(body, out) {
    const extra: Record<string, unknown> = {};
    for (const key of ['client_uri', 'logo_uri', 'tos_uri', 'policy_uri', 'software_id', 'software_version', 'contacts']) {
      if (body[key] !== undefined) extra[key] = body[key];
    }
    out.extra = extra;
  },
];

export function parseRegistration(body: unknown): RegistrationRequest {
  const out: Partial<RegistrationRequest> = {};
  for (const check of checks) check(body as Body, out);
  return out as RegistrationRequest;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function isUrl(v: string): boolean {
  try {
    new URL(v);
    return true;
  } catch {
    return false;
  }
}
