/** Who is calling through the bundle, as a tool policy needs it. */
export interface BundleCaller {
  userId: string;
  groupIds: string[];
}

/**
 * Which tools of an upstream a caller may see and call through the bundle: the one seam for a tool
 * policy (per upstream, user or group, tool). The default lets every tool through; the upstream's
 * allow-list (who may use the upstream at all) is applied by the bundle itself, before this.
 * Wire a real policy by providing BUNDLE_TOOL_FILTER (bundle.module.ts).
 */
export interface BundleToolFilter {
  allows(upstreamSlug: string, caller: BundleCaller, toolName: string): boolean | Promise<boolean>;
  /**
   * False when allows() reads `caller.userId` only: the bundle then does not look the caller's
   * groups up (a database read on every tools/call) and passes `groupIds: []`. Absent is true.
   */
  readonly readsGroups?: boolean;
}

export const BUNDLE_TOOL_FILTER = Symbol('BundleToolFilter');

export const ALLOW_EVERY_TOOL: BundleToolFilter = { allows: () => true };
