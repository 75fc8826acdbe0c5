import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Transactions, Tx } from '../database/transactions';
import { Consent } from './consent.entity';

@Injectable()
export class ConsentService {
  constructor(
    @InjectRepository(Consent) private readonly consents: Repository<Consent>,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
  ) {}

  /** True when the user already allowed this client at this upstream for every requested scope. */
  async covers(userId: string, clientId: string, upstreamSlug: string, scope: string): Promise<boolean> {
    const consent = await this.consents.findOneBy({ userId, clientId, upstreamSlug });
    if (!consent) return false;
    const granted = new Set(consent.scope.split(' '));
    return scope.split(' ').every((s) => granted.has(s));
  }

  /** Stores the user's "allow" and its audit row together. */
  async remember(userId: string, clientId: string, upstreamSlug: string, scope: string): Promise<void> {
    await this.transactions.run(async (tx) => {
      await tx.upsert(this.consents, { userId, clientId, upstreamSlug, scope, createdAt: Date.now() }, ['scope', 'created_at'], ['user_id', 'client_id', 'upstream_slug']);
      await this.audit.recordIn(tx, { type: 'consent', outcome: 'success', userId, clientId, upstreamSlug, detail: { scope } });
    });
  }

  /** Forgets the user's "allow" for this client at this upstream, in the caller's transaction. */
  async forgetIn(tx: Tx, consent: { userId: string; clientId: string; upstreamSlug: string }): Promise<void> {
    await tx.delete(this.consents, consent);
  }
}
