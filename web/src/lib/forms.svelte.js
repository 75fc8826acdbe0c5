import { tick } from 'svelte';
import { asApiError } from './list.svelte.js';

/** Checks for form fields: each returns a problem for people, or '' when the value is fine. */
export const rules = {
  required: (v) => (String(v ?? '').trim() ? '' : 'Required.'),
  email: (v) => (!v || /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(String(v).trim()) ? '' : 'Enter an email address, like name@example.com.'),
  url: (v) => {
    if (!v) return '';
    try {
      const u = new URL(String(v).trim());
      return u.protocol === 'http:' || u.protocol === 'https:' ? '' : 'Use an http:// or https:// address.';
    } catch {
      return 'Enter a full address, like https://mcp.example.com/mcp.';
    }
  },
  slug: (v) => (!v || /^[a-z0-9][a-z0-9-]{0,62}$/.test(String(v)) ? '' : 'Lowercase letters, digits and dashes; starts with a letter or digit.'),
  domain: (v) => (/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$/i.test(String(v).trim()) ? '' : 'Enter a domain, like example.com.'),
  minLength: (n) => (v) => (!v || String(v).length >= n ? '' : `At least ${n} characters.`),
  intRange: (min, max) => (v) => {
    const n = Number(v);
    return Number.isInteger(n) && n >= min && n <= max ? '' : `A whole number from ${min} to ${max}.`;
  },
};

/** The first problem of `value` under `checks`. */
export function check(value, ...checks) {
  for (const c of checks) {
    const problem = c(value);
    if (problem) return problem;
  }
  return '';
}

/**
 * The state of one form: field problems (from its own checks, then from the server's 400
 * `{fields}`), a message for the whole form, and whether it is being sent.
 */
export class FormState {
  errors = $state(/** @type {Record<string, string>} */ ({}));
  message = $state('');
  submitting = $state(false);

  /**
   * Runs `checks` (field → problem); when all pass, `action`. Returns true when the action succeeded.
   * @param {Record<string, string>} problems
   * @param {() => Promise<unknown>} action
   */
  async submit(problems, action) {
    this.message = '';
    const found = Object.fromEntries(Object.entries(problems).filter(([, p]) => p));
    this.errors = found;
    if (Object.keys(found).length) {
      this.message = 'Check the highlighted fields.';
      await focusFirstProblem();
      return false;
    }
    this.submitting = true;
    try {
      await action();
      return true;
    } catch (err) {
      const e = asApiError(err);
      if (e.status === 401) return false;
      this.errors = e.fields;
      this.message = Object.keys(e.fields).length ? 'Check the highlighted fields.' : e.message || 'Something went wrong.';
      await focusFirstProblem();
      return false;
    } finally {
      this.submitting = false;
    }
  }

  reset() {
    this.errors = {};
    this.message = '';
  }
}

async function focusFirstProblem() {
  await tick();
  const el = /** @type {HTMLElement | null} */ (document.querySelector('[aria-invalid="true"]'));
  el?.focus();
}
