import { MIN_PASSWORD_LENGTH } from '../identity/password';
import { html } from './html';
import { page } from './layout';

export interface SetPasswordView {
  base: string;
  csrf: string;
  /** The path the form posts to (the link itself). */
  action: string;
  email: string;
  purpose: 'invite' | 'reset';
  error?: string;
}

/** The form behind an invite or reset link: the user chooses their password. */
export function setPasswordPage(v: SetPasswordView): string {
  const title = v.purpose === 'invite' ? 'Welcome to Gatehouse' : 'Choose a new password';
  return page(
    v.base,
    title,
    html`<h1>${title}</h1>
<p>Choose a password for <strong>${v.email}</strong>.</p>
${v.error ? html`<p class="error" role="alert" id="password-error">${v.error}</p>` : ''}
<form method="post" action="${v.action}">
<input type="hidden" name="csrf" value="${v.csrf}">
<input type="hidden" name="email" value="${v.email}" autocomplete="username">
<label for="password">New password</label>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="${MIN_PASSWORD_LENGTH}" required${v.error ? html` aria-describedby="password-error"` : ''}>
<label for="confirm">Repeat the password</label>
<input id="confirm" name="confirm" type="password" autocomplete="new-password" minlength="${MIN_PASSWORD_LENGTH}" required>
<p class="muted">At least ${MIN_PASSWORD_LENGTH} characters.</p>
<button type="submit">Set password and sign in</button>
</form>`,
  );
}

/** Why a link does not work, and what to do about it. */
export function unusableLinkPage(base: string, reason: 'unknown' | 'used' | 'expired' | 'disabled'): string {
  const message = {
    unknown: 'This link is not valid. It may be mistyped, or it was replaced by a newer link.',
    used: 'This link was already used. Each link sets a password once.',
    expired: 'This link has expired.',
    disabled: 'This account is disabled.',
  }[reason];
  return page(
    base,
    'Link not usable',
    html`<h1>This link cannot be used</h1><p class="error" role="alert">${message}</p>
<p class="muted">Ask your Gatehouse administrator for a new link. If you already have a password, <a href="${base}/login">sign in</a>.</p>`,
  );
}
