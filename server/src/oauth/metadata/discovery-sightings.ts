import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';

/** What one caller (address + User-Agent) fetched of the discovery documents, and when (epoch ms). */
export interface DiscoverySighting {
  authorizationServerMetadataAt?: number;
  protectedResourceMetadataAt?: number;
  /** The upstream whose protected-resource metadata it fetched last. */
  upstream?: string;
}

const MAX_CALLERS = 10_000;
const KEPT_MS = 30 * 60_000;

/**
 * Discovery requests (/.well-known/*) carry no client id: they cannot go into a client's history
 * when they happen. Who fetched what is kept here for a while, per address and User-Agent (the
 * caller that registers next from the same place is taken to be the same program), and written
 * into the `client.register` audit row, so the connection doctor shows "metadata fetched" before
 * "registered" (or its absence). Memory only, bounded in count and age: keyed by what anyone sends.
 */
@Injectable()
export class DiscoverySightings {
  private readonly byCaller = new LRUCache<string, DiscoverySighting>({ max: MAX_CALLERS, ttl: KEPT_MS });

  authorizationServerMetadata(ip: string | undefined, userAgent: string | undefined): void {
    this.update(ip, userAgent, { authorizationServerMetadataAt: Date.now() });
  }

  protectedResourceMetadata(ip: string | undefined, userAgent: string | undefined, upstream: string): void {
    this.update(ip, userAgent, { protectedResourceMetadataAt: Date.now(), upstream });
  }

  /** What this caller fetched in the last half hour; null when nothing. */
  of(ip: string | undefined, userAgent: string | undefined): DiscoverySighting | null {
    return this.byCaller.get(callerKey(ip, userAgent)) ?? null;
  }

  private update(ip: string | undefined, userAgent: string | undefined, seen: DiscoverySighting): void {
    const key = callerKey(ip, userAgent);
    this.byCaller.set(key, { ...this.byCaller.get(key), ...seen });
  }
}

function callerKey(ip: string | undefined, userAgent: string | undefined): string {
  return `${ip ?? '?'}|${(userAgent ?? '').slice(0, 200)}`;
}
