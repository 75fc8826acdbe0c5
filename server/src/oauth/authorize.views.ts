import { html, page } from '../common/html';
import { Upstream } from '../upstreams/upstream';

export function errorPage(title: string, message: string): string {
  return page(title, html`<h1>${title}</h1><p class="error" role="alert">${message}</p>
<p class="muted">Return to the application and try connecting again. If this keeps happening, ask your Gatehouse administrator.</p>`);
}

export interface ConsentView {
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
}

export function consentPage(v: ConsentView): string {
  const appName = v.clientName ?? 'An unnamed application';
  return page(
    'Allow access?',
    html`<h1>Allow access?</h1>
<p><strong>${appName}</strong> wants to use ${v.upstream ? html`<strong>${v.upstream.name}</strong>` : 'an MCP server'} through Gatehouse as <strong>${v.userEmail}</strong>.</p>
<dl>
<dt>Application</dt><dd>${appName} ${v.clientHost ? html`<span class="muted">(published by ${v.clientHost})</span>` : html`<span class="muted">(name chosen by the application, unverified)</span>`}</dd>
<dt>Sends you back to</dt><dd>${v.redirectHost}</dd>
<dt>Client ID</dt><dd>${v.clientId}</dd>
${v.scopes.length ? html`<dt>Access</dt><dd>${v.scopes.join(', ')}</dd>` : ''}
</dl>
<form method="post" action="/authorize">
${Object.entries(v.hidden).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
<input type="hidden" name="csrf" value="${v.csrf}">
${v.upstream ? '' : html`<label for="upstream">MCP server</label>
<select id="upstream" name="upstream">${v.choices.map((u) => html`<option value="${u.slug}">${u.name}</option>`)}</select>`}
<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>
<p class="muted">Only allow applications you trust. You can revoke access later.</p>`,
  );
}
