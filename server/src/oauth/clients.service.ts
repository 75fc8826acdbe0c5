import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Brackets, In, IsNull, LessThan, MoreThan, Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { publicId, randomToken, safeEqual, sha256 } from '../common/crypto';
import { AuditService } from '../audit/audit.service';
import { ConfigService } from '../config/config.service';
import { Transactions, Tx } from '../database/transactions';
import { ClientMetadataError, ClientMetadataService } from './cimd/client-metadata.service';
import { OAuthClient, TokenEndpointAuthMethod } from './client.entity';
import { Consent } from './consent.entity';
import { InvalidClient, InvalidRequest, TooManyRequests } from './oauth.errors';
import { RegistrationRequest } from './register/registration.checks';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

export interface ClientCredentials {
  authorization?: string;
  body: Record<string, unknown>;
}

@Injectable()
export class ClientsService implements OnModuleInit, OnModuleDestroy {
  private purgeTimer: NodeJS.Timeout | null = null;

  constructor(
    @InjectRepository(OAuthClient) private readonly clients: Repository<OAuthClient>,
    @InjectRepository(Consent) private readonly consents: Repository<Consent>,
    private readonly metadataDocuments: ClientMetadataService,
    private readonly config: ConfigService,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.purgeUnused();
    this.purgeTimer = setInterval(() => void this.purgeUnused(), HOUR);
    this.purgeTimer.unref();
  }

  onModuleDestroy(): void {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
  }

  /** Persists a registration with its audit row; the secret is returned once and stored only as a hash. */
  async register(req: RegistrationRequest, source: string, ip: string | null, detail: Record<string, unknown> = {}): Promise<{ client: OAuthClient; secret: string | null }> {
    const now = Date.now();
    const inWindow = { registrationSource: source, createdAt: MoreThan(now - HOUR) };
    const recent = await this.clients.count({ where: inWindow });
    const max = this.config.registration.max_per_source_per_hour;
    if (recent >= max) {
      // A slot frees when the registration that keeps the count at the cap leaves the hour window.
      const [blocking] = await this.clients.find({ select: { createdAt: true }, where: inWindow, order: { createdAt: 'ASC' }, skip: recent - max, take: 1 });
      const retryAfter = blocking ? Math.max(1, Math.ceil((blocking.createdAt + HOUR - now) / 1000)) : 1;
      throw new TooManyRequests('too many client registrations from this address in the last hour; reuse an existing registration', retryAfter);
    }
    const secret = req.tokenEndpointAuthMethod === 'none' ? null : randomToken();
    const client = this.clients.create({
      clientId: publicId(),
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
      registrationSource: source,
    });
    await this.transactions.run(async (tx) => {
      // A whole entity is insertable; QueryDeepPartialEntity only cannot express simple-json's unknown values (extraMetadata).
      await tx.insert(this.clients, client as QueryDeepPartialEntity<OAuthClient>);
      await this.audit.recordIn(tx, {
        type: 'client.register',
        outcome: 'success',
        clientId: client.clientId,
        ip,
        detail: { client_name: client.clientName, auth_method: client.tokenEndpointAuthMethod, ...detail },
      });
    });
    return { client, secret };
  }

  /**
   * A registered client, or one described by its metadata document when the
   * client_id is a URL. Throws ClientMetadataError when such a document is unusable.
   */
  async find(clientId: unknown): Promise<OAuthClient | null> {
    if (typeof clientId !== 'string' || !clientId || clientId.length > 2000) return null;
    if (this.metadataDocuments.isDocumentUrl(clientId)) return this.metadataDocuments.resolve(clientId);
    return this.clients.findOneBy({ clientId });
  }

  /** For a client identified by a metadata document URL: the host that published it; null for registered clients. */
  publisherHost(clientId: string): string | null {
    return this.metadataDocuments.isDocumentUrl(clientId) ? new URL(clientId).host : null;
  }

  /** Deletes dynamically registered clients unused for the configured number of days, with their consents. */
  async purgeUnused(now = Date.now()): Promise<number> {
    const cutoff = now - this.config.registration.unused_client_days * DAY;
    const stale = await this.clients.find({
      select: { clientId: true },
      where: [{ lastUsedAt: LessThan(cutoff) }, { lastUsedAt: IsNull(), createdAt: LessThan(cutoff) }],
    });
    const ids = stale.map((c) => c.clientId);
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500);
      await this.consents.delete({ clientId: In(batch) });
      await this.clients.delete({ clientId: In(batch) });
    }
    return ids.length;
  }

  /**
   * Registered clients for the console, newest first: up to `page.limit` after `page.after` =
   * [createdAt, clientId], matching `q` (part of the id or name, case-insensitive) when given.
   */
  listRegistered(q: string | undefined, page: { after: [number, string] | null; limit: number }): Promise<OAuthClient[]> {
    const qb = this.clients.createQueryBuilder('c').orderBy('c.createdAt', 'DESC').addOrderBy('c.clientId', 'DESC').limit(page.limit);
    if (page.after) qb.andWhere('(c.created_at, c.client_id) < (:afterAt, :afterId)', { afterAt: page.after[0], afterId: page.after[1] });
    if (q) {
      const pattern = `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      qb.andWhere(new Brackets((w) => w.where(`LOWER(c.client_id) LIKE :q ESCAPE '\\'`, { q: pattern }).orWhere(`LOWER(c.client_name) LIKE :q ESCAPE '\\'`, { q: pattern })));
    }
    return qb.getMany();
  }

  registeredByIds(clientIds: string[]): Promise<OAuthClient[]> {
    return clientIds.length ? this.clients.findBy({ clientId: In(clientIds) }) : Promise.resolve([]);
  }

  /** Deletes a registered client and every consent given to it (any client id), in the caller's transaction. */
  async deleteIn(tx: Tx, clientId: string): Promise<void> {
    await tx.delete(this.consents, { clientId });
    await tx.delete(this.clients, { clientId });
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
    const client = await this.find(clientId).catch((err) => {
      if (err instanceof ClientMetadataError) throw new InvalidClient(err.message, !!basic);
      throw err;
    });
    if (!client) throw new InvalidClient('unknown client', !!basic);
    if (used !== client.tokenEndpointAuthMethod) {
      throw new InvalidClient(`this client is registered for ${client.tokenEndpointAuthMethod}, not ${used}`, !!basic, client.clientId);
    }
    if (used !== 'none') {
      const secret = basic?.secret ?? bodySecret;
      if (typeof secret !== 'string' || !client.clientSecretHash || !safeEqual(sha256(secret), client.clientSecretHash)) {
        throw new InvalidClient('client authentication failed', !!basic, client.clientId);
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
