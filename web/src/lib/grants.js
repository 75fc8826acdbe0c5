import { api, seg } from './api.js';
import { confirmAction } from './confirm.svelte.js';
import { asApiError } from './list.svelte.js';
import { notify } from './toast.svelte.js';

/** Revokes one grant (admin), after confirmation. */
export async function revokeGrant(grant, done) {
  const ok = await confirmAction({
    title: 'Revoke this grant?',
    message: `${grant.client?.name ?? 'The application'} loses access to ${grant.upstream?.name ?? 'the MCP server'} for ${grant.user?.email ?? 'this user'} at once.`,
    confirmLabel: 'Revoke',
  });
  if (!ok) return;
  try {
    await api.del(`/grants/${seg(grant.id)}`);
    notify('Grant revoked.');
    done();
  } catch (err) {
    notify(asApiError(err).message, 'error');
  }
}

/**
 * Revokes every grant of one user, client or upstream (POST /grants/revoke takes exactly one).
 * @param {{ userId?: string, clientId?: string, upstream?: string }} which
 */
export async function revokeAll(which, what, done) {
  const ok = await confirmAction({ title: `Revoke ${what}?`, message: 'Each application affected loses access at once and must ask again.', confirmLabel: 'Revoke all' });
  if (!ok) return;
  try {
    const res = await api.post('/grants/revoke', which);
    const n = res?.revoked;
    notify(typeof n === 'number' ? `${n} grant${n === 1 ? '' : 's'} revoked.` : 'Grants revoked.');
    done();
  } catch (err) {
    notify(asApiError(err).message, 'error');
  }
}
