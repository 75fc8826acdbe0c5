import { Controller, Get, NotFoundException, Param, Req, UseFilters } from '@nestjs/common';
import type { Request } from 'express';
import { ConfigService } from '../../config/config.service';
import { bundleSlug } from '../../bundle/bundle-resource';
import { Upstream } from '../../upstreams/upstream';
import { UpstreamsService } from '../../upstreams/upstreams.service';
import { OAuthErrorFilter } from '../oauth-error.filter';
import { AUTH_METHODS } from '../register/registration.checks';
import { ResourceHintsService } from '../resource-hints.service';
import { DiscoverySightings } from './discovery-sightings';

@Controller('.well-known')
@UseFilters(OAuthErrorFilter)
export class MetadataController {
  constructor(
    private readonly config: ConfigService,
    private readonly upstreams: UpstreamsService,
    private readonly hints: ResourceHintsService,
    private readonly sightings: DiscoverySightings,
  ) {}

  /**
   * RFC 8414 §2. With a base path it is also the answer at `/.well-known/oauth-authorization-server/<base>`
   * (RFC 8414 §3.1; http-pipeline.ts maps that here). Not served at `openid-configuration`: that
   * document must carry OpenID Connect Discovery's required fields (jwks_uri, subject_types_supported,
   * id_token_signing_alg_values_supported), which a gateway issuing no ID tokens has not; a client
   * probing it gets a 404 and moves on, where this document would fail its schema check.
   */
  @Get('oauth-authorization-server')
  authorizationServer(@Req() req?: Request) {
    if (req) this.sightings.authorizationServerMetadata(req.ip, req.headers['user-agent']);
    const issuer = this.config.issuer;
    return {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      registration_endpoint: `${issuer}/register`,
      revocation_endpoint: `${issuer}/revoke`,
      introspection_endpoint: `${issuer}/introspect`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: AUTH_METHODS,
      revocation_endpoint_auth_methods_supported: AUTH_METHODS,
      introspection_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      scopes_supported: this.upstreams.allScopes(),
      authorization_response_iss_parameter_supported: true,
      client_id_metadata_document_supported: this.config.clientMetadataDocuments.enabled,
    };
  }

  /** RFC 9728 §3: the metadata of the bundle, the protected resource at /mcp (bundle/). */
  @Get('oauth-protected-resource/mcp')
  bundleProtectedResource(@Req() req?: Request) {
    return this.bundleMetadata(this.upstreams.bundle, req);
  }

  /** RFC 9728 §3: the metadata of a named bundle at /mcp/b/{name}. */
  @Get('oauth-protected-resource/mcp/b/:name')
  namedBundleProtectedResource(@Param('name') name: string, @Req() req?: Request) {
    const bundle = this.upstreams.target(bundleSlug(name));
    if (!bundle) throw new NotFoundException();
    return this.bundleMetadata(bundle, req);
  }

  private bundleMetadata(bundle: Upstream, req?: Request) {
    this.hints.metadataFetched(req?.ip, bundle.slug);
    return {
      resource: bundle.resource,
      authorization_servers: [this.config.issuer],
      scopes_supported: bundle.scopes,
      bearer_methods_supported: ['header'],
      resource_name: bundle.name,
    };
  }

  /** RFC 9728 §3: the metadata of the protected resource at /mcp/{slug}. */
  @Get('oauth-protected-resource/mcp/:slug')
  protectedResource(@Param('slug') slug: string, @Req() req?: Request) {
    const upstream = this.upstreams.get(slug);
    if (!upstream) throw new NotFoundException();
    this.hints.metadataFetched(req?.ip, slug);
    if (req) this.sightings.protectedResourceMetadata(req.ip, req.headers['user-agent'], slug);
    return {
      resource: upstream.resource,
      authorization_servers: [this.config.issuer],
      scopes_supported: upstream.scopes,
      bearer_methods_supported: ['header'],
      resource_name: upstream.name,
    };
  }

  /** With a single upstream, the root document is unambiguous, and some clients ask for it. */
  @Get('oauth-protected-resource')
  rootProtectedResource(@Req() req?: Request) {
    const all = this.upstreams.list();
    if (all.length !== 1) throw new NotFoundException();
    return this.protectedResource(all[0].slug, req);
  }
}
