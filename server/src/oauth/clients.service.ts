import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { randomToken, safeEqual, sha256 } from '../common/crypto';
import { OAuthClient, TokenEndpointAuthMethod } from './client.entity';
import { InvalidClient, InvalidRequest } from './oauth.errors';
import { RegistrationRequest } from './registration.checks';

export interface ClientCredentials {
  authorization?: string;
  body: Record<string, unknown>;
}

@Injectable()
export class ClientsService {
  constructor(@InjectRepository(OAuthClient) private readonly clients: Repository<OAuthClient>) {}

  /** Persists a registration; the secret is returned once and stored only as a hash. */
  async register(req: RegistrationRequest): Promise<{ client: OAuthClient; secret: string | null }> {
    const secret = req.tokenEndpointAuthMethod === 'none' ? null : randomToken();
    const client = this.clients.create({
      clientId: randomToken(16),
      clientSecretHash: secret ? sha256(secret) : null,
      clientName: req.clientName,
      redirectUris: req.redirectUris,
      tokenEndpointAuthMethod: req.tokenEndpointAuthMethod,
      grantTypes: req.grantTypes,
      responseTypes: req.responseTypes,
      scope: req.scope,
      extraMetadata: req.extra,
      createdAt: Date.now(),
      lastUsedAt: null,
    });
    await this.clients.insert(client as any);
    return { client, secret };
  }

  find(clientId: unknown): Promise<OAuthClient | null> {
    if (typeof clientId !== 'string' || !clientId || clientId.length > 200) return Promise.resolve(null);
    return this.clients.findOneBy({ clientId });
  }

  async touch(clientId: string): Promise<void> {
    await this.clients.update({ clientId }, { lastUsedAt: Date.now() });
  }

  /**
   * RFC 6749 §2.3 client authentication. The method used must be the one the
   * client registered; anything else is invalid_client.
   */
  async authenticate(creds: ClientCredentials): Promise<OAuthClient> {
    const basic = parseBasic(creds.authorization);
    const bodyId = creds.body.client_id;
    const bodySecret = creds.body.client_secret;
    if (basic && bodySecret !== undefined) {
      throw new InvalidRequest('use only one client authentication method (RFC 6749 §2.3)');
    }
    if (basic && bodyId !== undefined && bodyId !== basic.id) {
      throw new InvalidRequest('client_id in the body does not match the Authorization header');
    }
    const clientId = basic?.id ?? bodyId;
    const used: TokenEndpointAuthMethod = basic ? 'client_secret_basic' : bodySecret !== undefined ? 'client_secret_post' : 'none';
    if (typeof clientId !== 'string' || !clientId) throw new InvalidClient('client authentication required', !!basic);
    const client = await this.find(clientId);
    if (!client) throw new InvalidClient('unknown client', !!basic);
    if (used !== client.tokenEndpointAuthMethod) {
      throw new InvalidClient(
        `this client is registered for ${client.tokenEndpointAuthMethod}, not ${used}`,
        !!basic,
      );
    }
    if (used !== 'none') {
      const secret = basic?.secret ?? bodySecret;
      if (typeof secret !== 'string' || !client.clientSecretHash || !safeEqual(sha256(secret), client.clientSecretHash)) {
        throw new InvalidClient('client authentication failed', !!basic);
      }
    }
    return client;
  }
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before base64. */
function parseBasic(header: string | undefined): { id: string; secret: string } | null {
  if (!header || !/^basic /i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new InvalidClient('malformed Basic credentials', true);
  try {
    return {
      id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
    };
  } catch {
    throw new InvalidClient('malformed Basic credentials', true);
  }
}
