import { Initial1764140000000 } from './1764140000000-initial';
import { Vault1764150000000 } from './1764150000000-vault';
import { ClientRegistrationSource1764160000000 } from './1764160000000-client-registration-source';
import { UpstreamRegistryAndGroups1795677118358 } from './1795677118358-upstream-registry-and-groups';
import { RefreshRotationNonce1795691461782 } from './1795691461782-refresh-rotation-nonce';
import { UserRolesAndInvites1795692346984 } from './1795692346984-user-roles-and-invites';
import { UpstreamChecks1795693458320 } from './1795693458320-upstream-checks';
import { GrantsLastUsedAndListIndexes1795694715951 } from './1795694715951-grants-last-used-and-list-indexes';
import { AuditQueriesAndRollups1795696639535 } from './1795696639535-audit-queries-and-rollups';
import { ToolAudit1795708687179 } from './1795708687179-tool-audit';
import { ToolPolicyAndCatalogue1795708785188 } from './1795708785188-tool-policy-and-catalogue';
import { NamedBundles1795710501055 } from './1795710501055-named-bundles';
import { FederatedSignIn1795708994629 } from './1795708994629-federated-sign-in';
import { UpstreamTransports1795708612245 } from './1795708612245-upstream-transports';
import { DataGrowthIndexes1795711408422 } from './1795711408422-data-growth-indexes';
import { PendingSignIns1795719550610 } from './1795719550610-pending-sign-ins';
import { SharedRateLimitCounters1795720740999 } from './1795720740999-shared-rate-limit-counters';
import { UsersSearch1795733542897 } from './1795733542897-users-search';
import { LiveGrantCounts1795733628019 } from './1795733628019-live-grant-counts';

/** Every migration, in order. Add new ones at the end; never edit one that has shipped. */
export const MIGRATIONS = [
  Initial1764140000000,
  Vault1764150000000,
  ClientRegistrationSource1764160000000,
  UpstreamRegistryAndGroups1795677118358,
  RefreshRotationNonce1795691461782,
  UserRolesAndInvites1795692346984,
  UpstreamChecks1795693458320,
  GrantsLastUsedAndListIndexes1795694715951,
  AuditQueriesAndRollups1795696639535,
  ToolAudit1795708687179,
  ToolPolicyAndCatalogue1795708785188,
  NamedBundles1795710501055,
  FederatedSignIn1795708994629,
  UpstreamTransports1795708612245,
  DataGrowthIndexes1795711408422,
  PendingSignIns1795719550610,
  SharedRateLimitCounters1795720740999,
  UsersSearch1795733542897,
  LiveGrantCounts1795733628019,
];
