import { HEADER_VALUE_PROBLEM, isSendableHeaderValue } from '../../common/header-value';
import type { AuthConfigProblem } from './auth-mode';

/** RFC 9110 §5.1: a field name is a token. */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** Config `auth.headers` of modes "headers" and "user_credentials": at least one header. */
export function missingHeadersProblem(mode: string, headers: unknown): AuthConfigProblem | null {
  if (!headers || typeof headers !== 'object' || !Object.keys(headers).length) return { key: 'headers', problem: `mode "${mode}" needs at least one header` };
  return null;
}

/**
 * Each header's name, and its value's literal part (`literalPart` removes what is filled in later),
 * must be sendable. The value is never put in the message: it may be a secret from the environment.
 */
export function headerProblem(headers: Record<string, unknown>, literalPart: (value: string) => string): AuthConfigProblem | null {
  for (const [name, value] of Object.entries(headers)) {
    const key = `headers.${name}`;
    if (!HEADER_NAME.test(name)) return { key, problem: 'not a valid header name' };
    if (typeof value !== 'string') return { key, problem: 'must be a string' };
    if (!isSendableHeaderValue(literalPart(value))) return { key, problem: HEADER_VALUE_PROBLEM };
  }
  return null;
}
