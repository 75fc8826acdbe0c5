import { api, ApiError } from './api.js';

/**
 * One paginated admin list (`{ items, nextCursor }`): the first page, "Load more", and reloads when
 * filters change. A response that arrives after a newer request started is dropped, so quick
 * filter changes never show an older answer.
 */
export class ListLoader {
  items = $state(/** @type {any[]} */ ([]));
  nextCursor = $state(/** @type {string | null} */ (null));
  loading = $state(true);
  loadingMore = $state(false);
  error = $state(/** @type {ApiError | null} */ (null));
  moreError = $state(/** @type {ApiError | null} */ (null));
  #generation = 0;

  /**
   * @param {string} path e.g. "/users"
   * @param {Record<string, unknown>} [query] filters
   */
  constructor(path, query = {}) {
    this.path = path;
    this.query = query;
  }

  /** Loads the first page (again), with new filters when given. */
  async load(query = this.query) {
    this.query = query;
    const generation = ++this.#generation;
    this.loading = true;
    this.error = null;
    this.moreError = null;
    try {
      const page = await api.get(this.path, query);
      if (generation !== this.#generation) return;
      this.items = Array.isArray(page?.items) ? page.items : Array.isArray(page) ? page : [];
      this.nextCursor = page?.nextCursor ?? null;
    } catch (err) {
      if (generation !== this.#generation) return;
      this.items = [];
      this.nextCursor = null;
      this.error = asApiError(err);
    } finally {
      if (generation === this.#generation) this.loading = false;
    }
  }

  async more() {
    if (!this.nextCursor || this.loadingMore) return;
    const generation = this.#generation;
    this.loadingMore = true;
    this.moreError = null;
    try {
      const page = await api.get(this.path, { ...this.query, cursor: this.nextCursor });
      if (generation !== this.#generation) return;
      this.items = [...this.items, ...(page?.items ?? [])];
      this.nextCursor = page?.nextCursor ?? null;
    } catch (err) {
      if (generation === this.#generation) this.moreError = asApiError(err);
    } finally {
      this.loadingMore = false;
    }
  }

  /** Drops a row after it was deleted, without reloading the list. */
  remove(predicate) {
    this.items = this.items.filter((item) => !predicate(item));
  }
}

/**
 * One GET resource (a detail, the dashboard, settings) with loading and error state.
 */
export class Resource {
  data = $state(/** @type {any} */ (null));
  loading = $state(true);
  error = $state(/** @type {ApiError | null} */ (null));
  #generation = 0;

  /** @param {() => Promise<any>} fetcher */
  constructor(fetcher) {
    this.fetcher = fetcher;
  }

  async load() {
    const generation = ++this.#generation;
    this.loading = true;
    this.error = null;
    try {
      const data = await this.fetcher();
      if (generation === this.#generation) this.data = data;
    } catch (err) {
      if (generation === this.#generation) this.error = asApiError(err);
    } finally {
      if (generation === this.#generation) this.loading = false;
    }
  }
}

export function asApiError(err) {
  return err instanceof ApiError ? err : new ApiError(0, 'client', err instanceof Error ? err.message : String(err));
}
