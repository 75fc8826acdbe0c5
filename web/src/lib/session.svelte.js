import { ApiError, request, useCsrfToken } from './api.js';

/**
 * Who is signed in (GET /admin/api/session) and what they may do. Roles: 'admin' manages
 * everything; 'auditor' reads the admin pages; 'member' sees only their own page ("My access").
 */
export const session = $state({
  /** @type {'loading' | 'ready' | 'error'} */
  status: 'loading',
  /** @type {{ id: string, email: string, name: string | null, role: 'admin' | 'member' | 'auditor' } | null} */
  user: null,
  /** @type {ApiError | null} */
  error: null,
});

async function fetchSession() {
  const data = await request('GET', '/session');
  if (!data?.user) throw new ApiError(500, 'bad_session', 'The gateway answered the session request without a user.');
  return data;
}

export async function loadSession() {
  session.status = 'loading';
  try {
    const data = await fetchSession();
    session.user = data.user;
    session.error = null;
    useCsrfToken(data.csrfToken, async () => (await fetchSession()).csrfToken);
    session.status = 'ready';
  } catch (err) {
    // 401 already left for the sign-in page; stay "loading" so nothing flashes meanwhile.
    if (err instanceof ApiError && err.status === 401) return;
    session.error = err instanceof ApiError ? err : new ApiError(0, 'client', String(err));
    session.status = 'error';
  }
}

/** Admins change things. */
export const isAdmin = () => session.user?.role === 'admin';
/** Admins and auditors read the admin pages. */
export const canRead = () => session.user?.role === 'admin' || session.user?.role === 'auditor';
