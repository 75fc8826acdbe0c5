import { Injectable } from '@nestjs/common';
import { ToolCatalogueService } from '../tool-policy/tool-catalogue.service';
import { ToolPolicyService } from '../tool-policy/tool-policy.service';
import type { BundleCaller, BundleToolFilter } from './bundle-tool-filter';

/**
 * The gateway's per-tool policy and pinned catalogue (tool-policy/) as the bundle's tool filter: a
 * tool is offered and callable through the bundle exactly when it would be at `/mcp/{slug}` (the
 * rules allow it for this caller and it is not quarantined).
 */
@Injectable()
export class ToolPolicyBundleFilter implements BundleToolFilter {
  /** The policy looks the caller up itself (policy.callerOf, cached): the bundle's group lookup would be wasted. */
  readonly readsGroups = false;

  constructor(
    private readonly policy: ToolPolicyService,
    private readonly catalogue: ToolCatalogueService,
  ) {}

  async allows(upstreamSlug: string, caller: BundleCaller, toolName: string): Promise<boolean> {
    if (!this.catalogue.isCallable(upstreamSlug, toolName)) return false;
    if (!this.policy.hasRules(upstreamSlug)) return true;
    // Rules name groups by name and users by email (as allow-lists do): the policy's own view of the caller (cached by identity/).
    const who = await this.policy.callerOf(caller.userId);
    return this.policy.decide(upstreamSlug, who, toolName).allowed;
  }
}
