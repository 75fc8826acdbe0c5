import { html } from './html';
import { page } from './layout';

/**
 * During the bundle's /authorize: one member upstream wants the user to sign in at its own service
 * first. Either link continues the same authorization request: signing in comes back to it, and
 * skipping leaves that upstream out (the bundle then lists a message in its place).
 */
export function bundleSignInPage(base: string, opts: { upstreamName: string; signInUrl: string; skipUrl: string; remaining: number }): string {
  const title = `Sign in to ${opts.upstreamName}`;
  const more = opts.remaining > 0 ? html`<p class="muted">${opts.remaining} more MCP server(s) may ask the same after this one.</p>` : '';
  return page(
    base,
    title,
    html`<h1>${title}</h1>
<p>This connector brings together every MCP server you may use. ${opts.upstreamName} needs you to sign in at its own service before the connector can use it for you.</p>
<p><a class="button" id="bundle-signin" href="${opts.signInUrl}">Sign in to ${opts.upstreamName}</a></p>
<p><a id="bundle-skip" href="${opts.skipUrl}">Skip ${opts.upstreamName} for now</a> (its tools stay out of the connector until you connect again and sign in).</p>
${more}`,
  );
}
