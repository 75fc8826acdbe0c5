import { createHmac } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { randomToken, sha256 } from '../../common/crypto';
import { ConfigService } from '../../config/config.service';
import { Tx } from '../../database/transactions';
import { VaultService } from '../../vault/vault.service';
import { AccessToken } from '../access-token.entity';
import { Grant } from '../grant.entity';
import { RefreshToken } from '../refresh-token.entity';
import { AccessTokenInfo } from './access-token.cache';

/** OAuth 2.1 §3.2.3 successful token response. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
}

/** Makes access/refresh token pairs and stores them, as hashes only, in the caller's transaction. */
@Injectable()
export class TokenPairs {
  private rotationKey: Buffer | null = null;

  constructor(
    @InjectRepository(AccessToken) private readonly accessTokens: Repository<AccessToken>,
    @InjectRepository(RefreshToken) private readonly refreshTokens: Repository<RefreshToken>,
    private readonly config: ConfigService,
    private readonly vault: VaultService,
  ) {}

  /** The first pair of a grant: 256 random bits each. */
  random(): TokenPair {
    return { accessToken: randomToken(), refreshToken: randomToken() };
  }

  /**
   * The pair a refresh token rotates into: HMAC-SHA256 under a key derived from the vault's master
   * key, of the old token and a random nonce. Re-derivable only by whoever presents the old token
   * while the nonce is stored (the grace window); without the key, neither the database nor an old
   * token predicts it.
   */
  rotated(oldRefreshToken: string, nonce: string): TokenPair {
    this.rotationKey ??= this.vault.deriveKey('refresh-rotation');
    const mac = (label: string) => createHmac('sha256', this.rotationKey!).update(`${label}\0${nonce}\0${oldRefreshToken}`).digest('base64url');
    return { accessToken: mac('access'), refreshToken: mac('refresh') };
  }

  /** Inserts the pair's rows (hashes only) in the caller's transaction; returns what the access-token cache holds. */
  async insertIn(tx: Tx, grant: Grant, scope: string, pair: TokenPair, now: number): Promise<AccessTokenInfo> {
    const info: AccessTokenInfo = {
      tokenHash: sha256(pair.accessToken),
      grantId: grant.id,
      clientId: grant.clientId,
      userId: grant.userId,
      upstreamSlug: grant.upstreamSlug,
      scope,
      expiresAt: now + this.config.oauth.access_token_ttl * 1000,
    };
    await tx.insert(this.accessTokens, { ...info });
    await tx.insert(this.refreshTokens, {
      tokenHash: sha256(pair.refreshToken),
      grantId: grant.id,
      createdAt: now,
      expiresAt: now + this.config.oauth.refresh_token_ttl * 1000,
      rotatedAt: null,
      rotationNonce: null,
    });
    return info;
  }

  /** expires_in defaults to the access token's remaining lifetime (a repeated answer is sent later than the first). */
  response(pair: TokenPair, access: { scope: string; expiresAt: number }, expiresIn = Math.max(0, Math.floor((access.expiresAt - Date.now()) / 1000))): TokenResponse {
    return { access_token: pair.accessToken, token_type: 'Bearer', expires_in: expiresIn, refresh_token: pair.refreshToken, scope: access.scope };
  }

  /** A new pair's response: expires_in is the full configured lifetime. */
  freshResponse(pair: TokenPair, access: { scope: string; expiresAt: number }): TokenResponse {
    return this.response(pair, access, this.config.oauth.access_token_ttl);
  }
}

/** The grant, user, client and upstream columns of an audit row about a grant, a code or a token. */
export function who(x: { userId: string; clientId: string; upstreamSlug: string }) {
  return { userId: x.userId, clientId: x.clientId, upstreamSlug: x.upstreamSlug };
}
