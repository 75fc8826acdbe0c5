import { html } from './html';
import { page } from './layout';

export function loginPage(input: { base: string; csrf: string; returnTo: string; email?: string; error?: string }): string {
  return page(
    input.base,
    'Sign in',
    html`<h1>Sign in to Gatehouse</h1>
${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
<form method="post" action="${input.base}/login">
<input type="hidden" name="csrf" value="${input.csrf}">
<input type="hidden" name="return_to" value="${input.returnTo}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required value="${input.email ?? ''}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`,
  );
}
