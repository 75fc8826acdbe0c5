import { Injectable } from '@nestjs/common';

const FRESH_MS = 10 * 60_000;
const MAX_ENTRIES = 10_000;

/**
 * Remembers which upstream's protected-resource metadata a client fetched, so an
 * authorization request that omits `resource` (reported of some clients) can default
 * to that upstream instead of asking the user. The hint follows the fetching address
 * into the client's registration (DCR happens from the same place as discovery).
 * Memory only: without a hint the user simply picks the upstream on the consent page.
 */
@Injectable()
export class ResourceHintsService {
  private readonly byAddress = new Map<string, { slug: string; at: number }>();
  private readonly byClient = new Map<string, string>();

  metadataFetched(address: string | undefined, slug: string): void {
    if (!address) return;
    this.byAddress.delete(address);
    this.byAddress.set(address, { slug, at: Date.now() });
    trim(this.byAddress);
  }

  clientRegistered(address: string | undefined, clientId: string): void {
    const hint = address ? this.fresh(address) : undefined;
    if (!hint) return;
    this.byClient.set(clientId, hint);
    trim(this.byClient);
  }

  slugFor(clientId: string, address: string | undefined): string | undefined {
    return this.byClient.get(clientId) ?? (address ? this.fresh(address) : undefined);
  }

  private fresh(address: string): string | undefined {
    const hint = this.byAddress.get(address);
    return hint && Date.now() - hint.at < FRESH_MS ? hint.slug : undefined;
  }
}

function trim<K, V>(map: Map<K, V>): void {
  while (map.size > MAX_ENTRIES) map.delete(map.keys().next().value as K);
}
