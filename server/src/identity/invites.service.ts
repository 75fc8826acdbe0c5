import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, LessThan, MoreThan, Repository } from 'typeorm';
import { randomToken, sha256 } from '../common/crypto';
import { ConfigService } from '../config/config.service';
import { InvitePurpose, InviteToken } from './invite-token.entity';

export interface IssuedLink {
  /** PUBLIC_URL/invite/<token>: shown once, to the admin who asked for it, and never stored. */
  url: string;
  expiresAt: number;
  purpose: InvitePurpose;
}

/** What a presented link is; only 'valid' lets its holder set a password. */
export type LinkState = { state: 'valid'; row: InviteToken } | { state: 'unknown' | 'used' | 'expired' };

/** Longer than any link we issue (43 characters); anything longer is not worth a lookup. */
const MAX_TOKEN_LENGTH = 128;
/** Used and expired links are kept this long so their holders get "used"/"expired" rather than "unknown". */
const KEEP_SPENT_MS = 30 * 24 * 3600_000;

/** One-time links to set a password (invites for new users, resets for existing ones). */
@Injectable()
export class InvitesService {
  constructor(
    @InjectRepository(InviteToken) private readonly tokens: Repository<InviteToken>,
    private readonly config: ConfigService,
  ) {}

  /** A fresh link for the user; every older link of theirs stops working. */
  async issue(userId: string, purpose: InvitePurpose): Promise<IssuedLink> {
    const now = Date.now();
    await this.tokens.delete({ expiresAt: LessThan(now - KEEP_SPENT_MS) });
    await this.voidFor(userId);
    const token = randomToken();
    const ttl = purpose === 'invite' ? this.config.invites.invite_ttl : this.config.invites.reset_ttl;
    const expiresAt = now + ttl * 1000;
    await this.tokens.insert({ tokenHash: sha256(token), userId, purpose, createdAt: now, expiresAt, usedAt: null });
    return { url: `${this.config.publicUrl}/invite/${token}`, expiresAt, purpose };
  }

  async inspect(token: string): Promise<LinkState> {
    if (typeof token !== 'string' || !token || token.length > MAX_TOKEN_LENGTH) return { state: 'unknown' };
    const row = await this.tokens.findOneBy({ tokenHash: sha256(token) });
    if (!row) return { state: 'unknown' };
    if (row.usedAt !== null) return { state: 'used' };
    if (row.expiresAt <= Date.now()) return { state: 'expired' };
    return { state: 'valid', row };
  }

  /** Marks the link used; false when it was used (or expired) meanwhile. One statement: of two concurrent uses one wins. */
  async claim(row: InviteToken): Promise<boolean> {
    const now = Date.now();
    const { affected } = await this.tokens.update({ tokenHash: row.tokenHash, usedAt: IsNull(), expiresAt: MoreThan(now) }, { usedAt: now });
    return !!affected;
  }

  /** Ends every unused link of the user (a newer one replaces them; the user is deleted). */
  async voidFor(userId: string): Promise<void> {
    await this.tokens.delete({ userId, usedAt: IsNull() });
  }
}
