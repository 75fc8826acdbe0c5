import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, MaxLength } from 'class-validator';
import { invalidFields } from '../common/api-errors';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;

/** `?limit=&cursor=` of every admin list. Subclass it to add a list's filters. */
export class PageQuery {
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  limit?: number;

  @IsOptional()
  @IsString()
  @MaxLength(512)
  cursor?: string;
}

/** One page of a list: `nextCursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** 1..200, 50 when absent: out-of-range values are clamped rather than refused. */
export function clampLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  return Math.min(MAX_LIMIT, Math.max(1, limit));
}

export type CursorKey = Array<string | number>;
type KeyShape = Array<'string' | 'number'>;

/**
 * Cursors are opaque to clients: base64url of the JSON of the last row's sort key (e.g. its
 * unique email, or [createdAt, id]). Lists page by key ("after this key"), not by offset, so a row
 * inserted or deleted meanwhile neither repeats nor skips another.
 */
export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The sort key in a cursor, of the given shape; null without one; 400 naming `cursor` when it is not one of this list's. */
export function decodeCursor<K extends CursorKey = [string]>(cursor: string | undefined, shape: KeyShape = ['string']): K | null {
  if (cursor === undefined || cursor === '') return null;
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(key) && key.length === shape.length && key.every((part, i) => typeof part === shape[i])) return key as K;
  } catch {
    /* not base64url JSON: refused below */
  }
  throw invalidFields({ cursor: 'is not a cursor from this list' });
}

/**
 * The page request of a query: fetch `fetch` rows (one more than the page) after `after`; then
 * pageOf() keeps `limit` of them and makes the next cursor when there was more.
 */
export function pageRequest<K extends CursorKey = [string]>(query: PageQuery, shape: KeyShape = ['string']): { after: K | null; limit: number; fetch: number } {
  const limit = clampLimit(query.limit);
  return { after: decodeCursor<K>(query.cursor, shape), limit, fetch: limit + 1 };
}

export function pageOf<R, T>(rows: R[], limit: number, keyOf: (row: R) => CursorKey, view: (row: R) => T): Page<T> {
  const items = rows.slice(0, limit);
  const nextCursor = rows.length > limit ? encodeCursor(keyOf(items[items.length - 1])) : null;
  return { items: items.map(view), nextCursor };
}
