import { SCOPE_READ, SCOPE_TOOLS } from '../proxy/required-scope';
import { CredentialField, Upstream } from '../upstreams/upstream';
import { html, raw } from './html';
import { page } from './layout';

const ERROR_ID = 'consent-error';

/** What each scope lets the application do, in words a person approving it understands. */
const SCOPE_WORDS: Record<string, string> = {
  [SCOPE_READ]: 'Read tools and resources',
  [SCOPE_TOOLS]: 'Call tools',
};

/** A scope in words; one the gateway has no words for (configured per upstream) as it is. */
export function scopeInWords(scope: string): string {
  return SCOPE_WORDS[scope] ?? scope;
}

export interface ConsentView {
  /** The gateway's base path (pages/layout.ts). */
  base: string;
  csrf: string;
  clientName: string | null;
  clientId: string;
  /** For a client identified by a metadata document URL: that URL's host, which vouches for the name. */
  clientHost: string | null;
  redirectHost: string;
  userEmail: string;
  upstream: Upstream | null;
  choices: Upstream[];
  scopes: string[];
  hidden: Record<string, string>;
  /** Mode "user_credentials": the fields to fill, and whether values are already stored. */
  credentialFields: CredentialField[];
  hasCredentials: boolean;
  error?: string;
  /** The credential field the error is about, marked in the form. */
  invalidField?: string;
}

export function refusedPage(base: string, upstreamName: string, email: string): string {
  return page(
    base,
    'Access not allowed',
    html`<h1>Access not allowed</h1><p class="error" role="alert">Your account (${email}) is not allowed to use <strong>${upstreamName}</strong>.</p>
<p class="muted">No access was granted. Ask your Gatehouse administrator to add you to this server's allow-list.</p>`,
  );
}

function credentialInputs(v: ConsentView) {
  if (!v.credentialFields.length) return '';
  return html`<fieldset><legend>Your credentials for ${v.upstream?.name ?? 'this server'}</legend>
${v.hasCredentials ? html`<p class="muted">Credentials are stored. Leave a field blank to keep its stored value.</p>` : ''}
${v.credentialFields.map(
  (f) => html`<label for="cred_${f.name}">${f.label}${f.required && !v.hasCredentials ? ' *' : ''}</label>
<input id="cred_${f.name}" name="cred_${f.name}" type="${f.secret ? 'password' : 'text'}" autocomplete="off" ${f.required && !v.hasCredentials ? 'required' : ''}${f.name === v.invalidField ? raw(` aria-invalid="true" aria-describedby="${ERROR_ID}"`) : ''}>`,
)}
</fieldset>`;
}

export function consentPage(v: ConsentView): string {
  const appName = v.clientName ?? 'An unnamed application';
  return page(
    v.base,
    'Allow access?',
    html`<h1>Allow access?</h1>
<p><strong>${appName}</strong> wants to use ${v.upstream ? html`<strong>${v.upstream.name}</strong>` : 'an MCP server'} through Gatehouse as <strong>${v.userEmail}</strong>.</p>
<dl>
<dt>Application</dt><dd>${appName} ${v.clientHost ? html`<span class="muted">(published by ${v.clientHost})</span>` : html`<span class="muted">(name chosen by the application, unverified)</span>`}</dd>
<dt>Sends you back to</dt><dd>${v.redirectHost}</dd>
<dt>Client ID</dt><dd>${v.clientId}</dd>
${v.scopes.length ? html`<dt>Access</dt><dd><ul class="scopes">${v.scopes.map((scope) => html`<li>${scopeInWords(scope)}</li>`)}</ul></dd>` : ''}
</dl>
${v.error ? html`<p class="error" role="alert" id="${ERROR_ID}">${v.error}</p>` : ''}
<form method="post" action="${v.base}/authorize">
${Object.entries(v.hidden).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
<input type="hidden" name="csrf" value="${v.csrf}">
${
  v.upstream
    ? ''
    : html`<label for="upstream">MCP server</label>
<select id="upstream" name="upstream">${v.choices.map((u) => html`<option value="${u.slug}">${u.name}</option>`)}</select>`
}
${credentialInputs(v)}
<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>
<p class="muted">Only allow applications you trust. You can revoke access later on <a href="${v.base}/admin/me">My access</a>.</p>`,
  );
}
