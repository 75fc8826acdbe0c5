import Audit from './pages/Audit.svelte';
import Bundles from './pages/Bundles.svelte';
import Clients from './pages/Clients.svelte';
import Dashboard from './pages/Dashboard.svelte';
import Doctor from './pages/Doctor.svelte';
import GroupDetail from './pages/GroupDetail.svelte';
import Groups from './pages/Groups.svelte';
import Grants from './pages/Grants.svelte';
import MyAccess from './pages/MyAccess.svelte';
import Settings from './pages/Settings.svelte';
import UpstreamDetail from './pages/UpstreamDetail.svelte';
import UpstreamEdit from './pages/UpstreamEdit.svelte';
import Upstreams from './pages/Upstreams.svelte';
import UserDetail from './pages/UserDetail.svelte';
import Users from './pages/Users.svelte';

/**
 * The console's pages. `access`: 'any' signed-in user, 'read' admins and auditors, 'admin' admins
 * only (the API enforces the same; this only spares people pages they cannot use).
 * `section` is the navigation entry a page belongs to.
 */
export const routes = [
  { path: '/dashboard', title: 'Dashboard', component: Dashboard, access: 'read', section: 'dashboard' },
  // "+" cannot be in a slug, so no upstream's page is shadowed by the form for a new one.
  { path: '/upstreams/+new', title: 'Add upstream', component: UpstreamEdit, access: 'admin', section: 'upstreams' },
  { path: '/upstreams/:slug/edit', title: 'Edit upstream', component: UpstreamEdit, access: 'admin', section: 'upstreams' },
  { path: '/upstreams/:slug', title: 'Upstream', component: UpstreamDetail, access: 'read', section: 'upstreams' },
  { path: '/upstreams', title: 'Upstreams', component: Upstreams, access: 'read', section: 'upstreams' },
  { path: '/users/:id', title: 'User', component: UserDetail, access: 'read', section: 'users' },
  { path: '/users', title: 'Users', component: Users, access: 'read', section: 'users' },
  { path: '/bundles', title: 'Bundles', component: Bundles, access: 'read', section: 'bundles' },
  { path: '/groups/:id', title: 'Group', component: GroupDetail, access: 'read', section: 'groups' },
  { path: '/groups', title: 'Groups', component: Groups, access: 'read', section: 'groups' },
  { path: '/clients', title: 'Clients', component: Clients, access: 'read', section: 'clients' },
  // ?client=<id> or ?user=<id>: a query, not a path segment, as a metadata document client's id is a URL (often ending in .json).
  { path: '/doctor', title: 'Connection doctor', component: Doctor, access: 'read', section: 'clients' },
  { path: '/grants', title: 'Grants', component: Grants, access: 'read', section: 'grants' },
  { path: '/audit', title: 'Audit log', component: Audit, access: 'read', section: 'audit' },
  { path: '/settings', title: 'Settings', component: Settings, access: 'read', section: 'settings' },
  { path: '/me', title: 'My access', component: MyAccess, access: 'any', section: 'me' },
];

/** The navigation, in order; who sees an entry follows its page's access. */
export const nav = [
  { section: 'dashboard', label: 'Dashboard', path: '/dashboard', access: 'read' },
  { section: 'upstreams', label: 'Upstreams', path: '/upstreams', access: 'read' },
  { section: 'bundles', label: 'Bundles', path: '/bundles', access: 'read' },
  { section: 'users', label: 'Users', path: '/users', access: 'read' },
  { section: 'groups', label: 'Groups', path: '/groups', access: 'read' },
  { section: 'clients', label: 'Clients', path: '/clients', access: 'read' },
  { section: 'grants', label: 'Grants', path: '/grants', access: 'read' },
  { section: 'audit', label: 'Audit log', path: '/audit', access: 'read' },
  { section: 'settings', label: 'Settings', path: '/settings', access: 'read' },
  { section: 'me', label: 'My access', path: '/me', access: 'any' },
];

/** Whether `role` may open pages of `access`; an unknown role (session not loaded) leaves it to the API. */
export function allowed(access, role) {
  if (!role || access === 'any') return true;
  if (access === 'read') return role === 'admin' || role === 'auditor';
  return role === 'admin';
}
