import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { FindOptionsWhere, LessThan, Raw, Repository } from 'typeorm';
import { ConfigService } from '../../config/config.service';
import { Transactions } from '../../database/transactions';
import { AccessToken } from '../access-token.entity';
import { AuthorizationCode } from '../authorization-code.entity';
import { RefreshToken } from '../refresh-token.entity';
import { foldLiveGrantTotals } from './live-grant-counts';

const PURGE_EVERY_MS = 10 * 60_000;

/**
 * Refresh tokens rotated before `graceEnd` that still hold a rotation nonce. Written as
 * `rotation_nonce IS NOT NULL` (not TypeORM's `NOT(… IS NULL)`) so SQLite can use the partial index
 * on rotated_at that holds only those rows (refresh-token.entity.ts) instead of reading every token.
 */
export function noncesRotatedBefore(graceEnd: number): FindOptionsWhere<RefreshToken> {
  return { rotatedAt: LessThan(graceEnd), rotationNonce: Raw((column) => `${column} IS NOT NULL`) };
}

/** Deletes what can no longer be used: expired codes and tokens, and rotation nonces past the grace window; folds the live-grant totals. */
@Injectable()
export class GrantsPurge implements OnModuleInit, OnModuleDestroy {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @InjectRepository(AuthorizationCode) private readonly codes: Repository<AuthorizationCode>,
    @InjectRepository(RefreshToken) private readonly refreshTokens: Repository<RefreshToken>,
    @InjectRepository(AccessToken) private readonly accessTokens: Repository<AccessToken>,
    private readonly config: ConfigService,
    private readonly transactions: Transactions,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.purgeExpired(), PURGE_EVERY_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async purgeExpired(): Promise<void> {
    const now = Date.now();
    // Spent codes are kept an hour past expiry, so a replay within it still revokes the grant.
    await this.codes.delete({ expiresAt: LessThan(now - 3600_000) });
    await this.accessTokens.delete({ expiresAt: LessThan(now) });
    await this.refreshTokens.delete({ expiresAt: LessThan(now) });
    // Past the grace window a rotated token can no longer be answered: drop what would re-derive its pair.
    const graceEnd = now - this.config.oauth.refresh_grace_period * 1000;
    await this.refreshTokens.update(noncesRotatedBefore(graceEnd), { rotationNonce: null });
    // PostgreSQL: the live-grant totals appended since the last fold (live-grant-counts.ts), so reads stay a few rows even when nobody reads.
    await foldLiveGrantTotals(this.transactions);
  }
}
