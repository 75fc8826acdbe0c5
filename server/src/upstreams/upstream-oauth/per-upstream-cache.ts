/**
 * One value per upstream, computed on first use and reused while the upstream's settings (summed up
 * by a fingerprint) stay the same. Failures are not cached: the next use tries again.
 */
export class PerUpstreamCache<T> {
  private readonly bySlug = new Map<string, { fingerprint: string; value: Promise<T> }>();

  get(slug: string, fingerprint: string, compute: () => Promise<T>): Promise<T> {
    const cached = this.bySlug.get(slug);
    if (cached && cached.fingerprint === fingerprint) return cached.value;
    const value = compute().catch((err: Error) => {
      if (this.bySlug.get(slug)?.value === value) this.bySlug.delete(slug);
      throw new Error(`upstream "${slug}": ${err.message}`);
    });
    this.bySlug.set(slug, { fingerprint, value });
    return value;
  }

  delete(slug: string): void {
    this.bySlug.delete(slug);
  }
}
