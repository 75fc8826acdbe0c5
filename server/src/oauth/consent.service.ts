import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { Consent } from './consent.entity';

@Injectable()
export class ConsentService {
  constructor(@InjectRepository(Consent) private readonly consents: Repository<Consent>) {}

  /** True when the user already allowed this client at this upstream for every requested scope. */
  async covers(userId: string, clientId: string, upstreamSlug: string, scope: string): Promise<boolean> {
    const consent = await this.consents.findOneBy({ userId, clientId, upstreamSlug });
    if (!consent) return false;
    const granted = new Set(consent.scope.split(' '));
    return scope.split(' ').every((s) => granted.has(s));
  }

  async remember(userId: string, clientId: string, upstreamSlug: string, scope: string): Promise<void> {
    await this.consents.upsert({ userId, clientId, upstreamSlug, scope, createdAt: Date.now() }, [
      'userId',
      'clientId',
      'upstreamSlug',
    ]);
  }
}
