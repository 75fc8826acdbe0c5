import { Injectable } from '@nestjs/common';
import { conflict, invalidFields, notFound } from '../common/api-errors';
import { AccessPolicyService } from '../upstreams/access-policy.service';
import { AuthModesService, ConsentInputError, CredentialField } from '../upstreams/auth-modes';
import { Upstream } from '../upstreams/upstream';
import { UpstreamsService } from '../upstreams/upstreams.service';

/** An upstream a member may use, as My access shows it. */
export interface MyUpstreamView {
  slug: string;
  name: string;
  /** What to paste into an MCP client. */
  mcpUrl: string;
  authMode: string;
  /** The mode takes credentials from each user (typed on the consent page or here). */
  needsCredentials: boolean;
  hasCredentials: boolean;
  credentialFields: CredentialField[];
}

/**
 * "My access" for any signed-in user: the upstreams their allow-lists admit, and the credentials
 * they keep for them. The credentials go through the upstream's auth mode, as on the consent page
 * (same validation, same vault entry, same audit row). An upstream the user may not use answers
 * 404, as one that does not exist: members learn nothing of the others.
 */
@Injectable()
export class MyAccessService {
  constructor(
    private readonly upstreams: UpstreamsService,
    private readonly policy: AccessPolicyService,
    private readonly authModes: AuthModesService,
  ) {}

  async upstreamsOf(userId: string): Promise<MyUpstreamView[]> {
    const views: MyUpstreamView[] = [];
    for (const upstream of this.upstreams.list()) {
      if (!(await this.policy.allows(upstream, userId))) continue;
      const mode = this.authModes.for(upstream);
      const fields = mode.consentFields(upstream);
      views.push({
        slug: upstream.slug,
        name: upstream.name,
        mcpUrl: upstream.resource,
        authMode: upstream.authMode,
        needsCredentials: fields.length > 0,
        hasCredentials: fields.length > 0 && (await mode.hasConsentInput(upstream, userId)),
        credentialFields: fields.map(({ name, label, secret, required }) => ({ name, label, secret, required })),
      });
    }
    return views;
  }

  /** Replaces the user's credentials for the upstream; a blank value keeps the stored one. */
  async saveCredentials(userId: string, slug: string, values: Record<string, string>): Promise<void> {
    const { upstream, fields } = await this.credentialUpstream(userId, slug);
    const known = new Set(fields.map((f) => f.name));
    const unknown = Object.keys(values).filter((name) => !known.has(name));
    if (unknown.length) throw invalidFields(Object.fromEntries(unknown.map((name) => [`values.${name}`, `is not a credential field of ${upstream.name}`])));
    try {
      await this.authModes.for(upstream).saveConsentInput(upstream, userId, values);
    } catch (err) {
      if (err instanceof ConsentInputError) throw invalidFields({ [`values.${err.field}`]: err.message });
      throw err;
    }
  }

  /** Deletes the user's credentials for the upstream; their clients must authorize again to use it. */
  async deleteCredentials(userId: string, slug: string): Promise<void> {
    const { upstream } = await this.credentialUpstream(userId, slug);
    await this.authModes.for(upstream).forgetUser?.(upstream, userId);
  }

  private async credentialUpstream(userId: string, slug: string): Promise<{ upstream: Upstream; fields: CredentialField[] }> {
    const upstream = this.upstreams.get(slug);
    if (!upstream || !(await this.policy.allows(upstream, userId))) throw notFound('no such MCP server');
    const fields = this.authModes.for(upstream).consentFields(upstream);
    if (!fields.length) throw conflict(`${upstream.name} takes no credentials from its users`);
    return { upstream, fields };
  }
}
