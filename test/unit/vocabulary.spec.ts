import { AUDIT_EVENT_TYPES, AuditEventType, AuditVerb, isAuditEventType } from '../../server/src/audit/audit-event-type';
import type { AuditRecord } from '../../server/src/audit/audit.service';
import { CorsPolicy } from '../../server/src/common/cors';
import { isSameOriginPath } from '../../server/src/common/same-origin-path';
import { withoutTrailingSlashes } from '../../server/src/common/trailing-slashes';
import { ConfigService } from '../../server/src/config/config.service';
import { loadConfig } from '../../server/src/config/config.loader';
import { consoleHome, safeReturnTo } from '../../server/src/identity/return-to';
import { verifyS256 } from '../../server/src/oauth/pkce';
import { headerPurpose, upstreamOwner, usersOfUpstream, userUpstreamOwner, VaultOwner, VaultPurpose } from '../../server/src/vault/vault-addresses';

/**
 * The shared vocabulary (restructuring item 5): one copy of each small rule, and types that turn a
 * misspelt vault purpose into a compile error. The `@ts-expect-error` lines are checked by the
 * typecheck (`tsc --noEmit` fails if one of them compiles), the rest by Jest.
 */
describe('shared vocabulary', () => {
  describe('isSameOriginPath (sign-in return paths)', () => {
    it.each(['/', '/admin/', '/authorize?client_id=x&state=%2F%2Fy', '/x//y'])('accepts the same-origin path %s', (path) => {
      expect(isSameOriginPath(path)).toBe(true);
      expect(safeReturnTo(path, '')).toBe(path);
    });

    it.each(['//evil.example/', '/\\evil.example', 'https://evil.example/', 'admin', '', 'javascript:alert(1)'])('refuses %s, which could leave the origin', (path) => {
      expect(isSameOriginPath(path)).toBe(false);
      expect(safeReturnTo(path, '')).toBe(consoleHome(''));
    });

    it('refuses what is not a string (a repeated query parameter arrives as an array)', () => {
      for (const value of [undefined, null, ['/a', '/b'], 42, { path: '/' }]) {
        expect(isSameOriginPath(value)).toBe(false);
        expect(safeReturnTo(value, '')).toBe(consoleHome(''));
      }
    });
  });

  it('withoutTrailingSlashes drops every trailing slash and nothing else', () => {
    expect(withoutTrailingSlashes('https://gw.example/')).toBe('https://gw.example');
    expect(withoutTrailingSlashes('https://gw.example/mcp/a///')).toBe('https://gw.example/mcp/a');
    expect(withoutTrailingSlashes('https://gw.example/mcp/a')).toBe('https://gw.example/mcp/a');
    expect(withoutTrailingSlashes('/')).toBe('');
  });

  it('the public URL and CORS origins are compared without trailing slashes', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://gw.example//' }).publicUrl).toBe('https://gw.example');
    const cors = new CorsPolicy(['https://claude.ai/']);
    expect(cors.allows('https://claude.ai')).toBe(true);
    expect(cors.allows('https://claude.ai/')).toBe(false);
  });

  it('verifyS256 checks the RFC 7636 Appendix B example, and nothing else', () => {
    const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    expect(verifyS256(verifier, 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM')).toBe(true);
    expect(verifyS256(verifier, 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN')).toBe(false);
    expect(verifyS256(`${verifier}x`, 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM')).toBe(false);
  });

  describe('vault addresses', () => {
    it('build the owners and purposes the stored rows use', () => {
      expect(upstreamOwner('crm')).toEqual({ type: 'upstream', id: 'crm' });
      expect(userUpstreamOwner('user-1', 'crm')).toEqual({ type: 'user_upstream', id: 'user-1:crm' });
      expect(usersOfUpstream('crm')).toEqual({ type: 'user_upstream', idSuffix: ':crm' });
      expect(userUpstreamOwner('user-1', 'crm').id.endsWith(usersOfUpstream('crm').idSuffix)).toBe(true);
      expect(headerPurpose('X-Api-Key')).toBe('header:X-Api-Key');
    });

    it('are typed: a misspelt purpose or owner type does not compile', () => {
      const purposes: VaultPurpose[] = ['oauth_client_secret', 'oauth_registration', 'oauth_tokens', 'credentials', 'header:X-Api-Key'];
      // @ts-expect-error 'oauth_client_secrets' is no vault purpose
      const typo: VaultPurpose = 'oauth_client_secrets';
      // @ts-expect-error 'headers:' is not the header prefix
      const header: VaultPurpose = 'headers:X-Api-Key';
      // @ts-expect-error 'upstreams' is no owner type
      const owner: VaultOwner = { type: 'upstreams', id: 'crm' };
      expect([...purposes, typo, header, owner.type]).toHaveLength(8);
    });
  });

  describe('audit event types', () => {
    it('are listed once each, as the rows spell them', () => {
      expect(new Set(AUDIT_EVENT_TYPES).size).toBe(AUDIT_EVENT_TYPES.length);
      for (const type of AUDIT_EVENT_TYPES) expect(type).toMatch(/^[a-z_]+(\.[a-z_]+)*$/);
      expect(AUDIT_EVENT_TYPES).toEqual(expect.arrayContaining(['login', 'consent', 'mcp.request', 'token.issue', 'vault.rotate', 'admin.user.create', 'admin.group.member.add']));
    });

    it('isAuditEventType knows exactly the listed types', () => {
      expect(isAuditEventType('login')).toBe(true);
      expect(isAuditEventType('admin.grant.revoke_all')).toBe(true);
      for (const value of ['Login', 'login ', 'admin.user', 'retention.probe', '', null, 7, ['login']]) expect(isAuditEventType(value)).toBe(false);
    });

    it('are typed: a misspelt type does not compile', () => {
      const row: AuditRecord = { type: 'token.issue', outcome: 'success' };
      // @ts-expect-error 'token.issued' is no audit event type
      const typo: AuditRecord = { type: 'token.issued', outcome: 'success' };
      const verb: AuditVerb<'admin.group'> = 'member.add';
      // @ts-expect-error 'promote' is no admin.user verb
      const badVerb: AuditVerb<'admin.user'> = 'promote';
      const composed: AuditEventType = `admin.group.${verb}`;
      expect([row.type, typo.type, badVerb, composed]).toEqual(['token.issue', 'token.issued', 'promote', 'admin.group.member.add']);
    });
  });

  it('ConfigService names each configuration section it serves', () => {
    const loaded = loadConfig({});
    const config = new ConfigService(loaded);
    expect(config.loaded).toBe(loaded);
    expect(config.registration).toBe(loaded.registration);
    expect(config.invites).toBe(loaded.invites);
    expect(config.cors).toBe(loaded.cors);
    expect(config.rateLimit).toBe(loaded.rate_limit);
    expect(config.clientMetadataDocuments).toBe(loaded.client_metadata_documents);
    expect(config.upstreams).toBe(loaded.upstreams);
    expect(config.upstreamsPolicy).toBe(loaded.upstreams_policy);
    expect(config.metrics).toBe(loaded.metrics);
    expect(config.audit).toBe(loaded.audit);
    expect(config.allowedHosts).toBe(loaded.server.allowed_hosts);
    expect(config.source).toBe('embedded default');
  });
});
