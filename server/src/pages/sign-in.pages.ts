import { html } from './html';
import { page } from './layout';

export interface SignInProviderButton {
  id: string;
  name: string;
}

/**
 * The sign-in page: a "Sign in with …" button per identity provider, and the password form. When
 * local passwords are limited (auth.local_passwords) and providers exist, the form is folded away
 * under a disclosure for the administrators who still use it.
 */
export function loginPage(input: {
  base: string;
  csrf: string;
  returnTo: string;
  email?: string;
  error?: string;
  providers?: SignInProviderButton[];
  passwordsLimited?: boolean;
}): string {
  const providers = input.providers ?? [];
  const buttons = providers.map(
    (p) => html`<p><a class="provider" href="${input.base}/login/oidc/${p.id}?return_to=${encodeURIComponent(input.returnTo)}">Sign in with ${p.name}</a></p>`,
  );
  const form = passwordForm(input);
  const folded = providers.length > 0 && input.passwordsLimited && !input.error;
  return page(
    input.base,
    'Sign in',
    html`<h1>Sign in to Gatehouse</h1>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
${buttons}
${folded ? html`<details><summary>Administrator sign-in with a password</summary>${form}</details>` : form}`,
  );
}

function passwordForm(input: { base: string; csrf: string; returnTo: string; email?: string }) {
  return html`<form method="post" action="${input.base}/login">
<input type="hidden" name="csrf" value="${input.csrf}">
<input type="hidden" name="return_to" value="${input.returnTo}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required value="${input.email ?? ''}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`;
}

/** A sign-in through an identity provider was refused: why, and the way back to the sign-in page. */
export function federatedRefusalPage(input: { base: string; providerName: string; message: string; retryUrl: string }): string {
  return page(
    input.base,
    'Sign-in refused',
    html`<h1>Sign-in with ${input.providerName} refused</h1><p class="error" role="alert">${input.message}</p>
<p><a href="${input.retryUrl}">Back to sign-in</a></p>`,
  );
}
