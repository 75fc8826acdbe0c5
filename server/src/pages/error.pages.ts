import { STATUS_CODES } from 'node:http';
import { html } from './html';
import { page } from './layout';

/** A step of connecting an application failed (authorize, the upstream sign-in callback). */
export function errorPage(base: string, title: string, message: string): string {
  return page(
    base,
    title,
    html`<h1>${title}</h1><p class="error" role="alert">${message}</p>
<p class="muted">Return to the application and try connecting again. If this keeps happening, ask your Gatehouse administrator.</p>`,
  );
}

export function tooManyAttemptsPage(base: string): string {
  return page(base, 'Too many attempts', html`<h1>Too many attempts</h1><p class="error" role="alert">Too many requests from your address. Wait a minute, then try again.</p>`);
}

/** For a browser that asked for an address the gateway does not serve. */
export function notFoundPage(base: string): string {
  return page(
    base,
    'Page not found',
    html`<h1>Page not found</h1><p>There is no page at this address.</p>
<p class="muted">Check the address, or <a href="${base}/login">sign in to Gatehouse</a>.</p>`,
  );
}

/**
 * Any other error a browser meets outside the OAuth flow. It says only what the status means:
 * an exception's own message may name internals, and never reaches the page.
 */
export function httpErrorPage(base: string, status: number): string {
  if (status === 404) return notFoundPage(base);
  if (status === 429) return tooManyAttemptsPage(base);
  const title = status >= 500 ? 'Something went wrong' : (STATUS_CODES[status] ?? 'Request refused');
  const message =
    status === 401
      ? html`You need to <a href="${base}/login">sign in</a> first.`
      : status === 403
        ? 'Your account is not allowed to open this page.'
        : status >= 500
          ? 'Gatehouse could not complete this request. Try again later; if it keeps happening, ask your Gatehouse administrator.'
          : 'Gatehouse could not handle this request.';
  return page(base, title, html`<h1>${title}</h1><p class="error" role="alert">${message}</p>`);
}
