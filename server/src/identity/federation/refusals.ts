import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { FederatedSignInRefusal } from './federated-users.service';
import { ProviderUnreachableError } from './provider-fetch';

/** A refused federated sign-in as the page and the audit row tell it. */
export interface Refusal {
  status: number;
  /** A short code for the audit row (`identity.federated.refused` detail.reason). */
  reason: string;
  /** What the person reads; never a stack, a token or a secret. */
  message: string;
}

/**
 * What went wrong at the callback, from what openid-client's passport strategy reported: an error
 * (`err`) or a failure (`info`, e.g. the provider's access_denied or our FederatedSignInRefusal).
 * The ID-token checks are openid-client's (oauth4webapi's), per OIDC Core §3.1.3.7: signature (JWKS),
 * `iss`, `aud`, `exp`/`iat`, `nonce`.
 */
export function refusalOf(providerName: string, err: unknown, info: unknown): Refusal {
  if (info instanceof FederatedSignInRefusal) return { status: 403, reason: info.reason, message: info.message };
  if (!err) {
    const text = typeof (info as { message?: unknown })?.message === 'string' ? (info as { message: string }).message : '';
    if (/verify authorization request state/i.test(text)) return expired();
    return { status: 403, reason: 'access_denied', message: `${providerName} refused the sign-in${text ? `: ${clip(text)}` : ''}.` };
  }
  if (err instanceof ProviderUnreachableError || (err as Error).cause instanceof ProviderUnreachableError) {
    return {
      status: 502,
      reason: 'provider_unreachable',
      message: `Gatehouse could not reach ${providerName}. Try again in a moment; if it keeps failing, tell your Gatehouse administrator.`,
    };
  }
  // Told apart by their `code`, not instanceof: under a module loader that copies oauth4webapi, classes differ.
  const coded = err as { code?: string };
  if (coded.code === oauth.AUTHORIZATION_RESPONSE_ERROR) {
    const e = err as client.AuthorizationResponseError;
    return { status: 403, reason: `provider_error:${clip(e.error, 60)}`, message: `${providerName} refused the sign-in: ${clip(e.error_description ?? e.error)}.` };
  }
  if (coded.code === oauth.RESPONSE_BODY_ERROR || coded.code === oauth.WWW_AUTHENTICATE_CHALLENGE) {
    // A wrong client secret is a 400 invalid_client body, or a 401 with a WWW-Authenticate challenge (RFC 6749 §5.2).
    const code =
      coded.code === oauth.RESPONSE_BODY_ERROR
        ? (err as client.ResponseBodyError).error
        : ((err as client.WWWAuthenticateChallengeError).cause[0]?.parameters.error ?? 'invalid_client');
    return {
      status: 502,
      reason: `token_error:${clip(code, 60)}`,
      message: `${providerName} did not issue tokens (${clip(code, 60)}). Tell your Gatehouse administrator: the client id or secret may be wrong.`,
    };
  }
  // openid-client wraps oauth4webapi's error (with the precise message and, for a claim, which one) in a ClientError.
  const outer = err as { code?: string; message?: string; cause?: unknown };
  const inner = (outer.cause ?? outer) as { code?: string; message?: string; cause?: { claim?: unknown } };
  const detail = clip(inner.message ?? outer.message ?? 'unknown error');
  const idTokenCheck =
    outer.code === oauth.JWT_TIMESTAMP_CHECK
      ? 'exp'
      : outer.code === oauth.JWT_CLAIM_COMPARISON
        ? typeof inner.cause?.claim === 'string'
          ? inner.cause.claim
          : 'claim'
        : /signature/i.test(inner.message ?? '')
          ? 'signature'
          : null;
  if (idTokenCheck) {
    return {
      status: 403,
      reason: `id_token_${clip(idTokenCheck, 20)}`,
      message: `The ID token ${providerName} returned did not pass Gatehouse's checks (${detail}), so you were not signed in. Try again; if it keeps failing, tell your Gatehouse administrator.`,
    };
  }
  if (outer.code === oauth.JSON_ATTRIBUTE_COMPARISON) {
    return { status: 403, reason: 'response_mismatch', message: `The answer from ${providerName} did not match this sign-in (${detail}).` };
  }
  return { status: 502, reason: 'provider_answer_invalid', message: `The answer from ${providerName} could not be used (${detail}). Tell your Gatehouse administrator.` };
}

/** No pending sign-in for this browser: too old, already used, or begun in another browser. */
export function expired(): Refusal {
  return { status: 400, reason: 'state_mismatch', message: 'This sign-in expired or was started in another browser. Start it again from the sign-in page.' };
}

function clip(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
