import { Initial1795708966381 } from './1795708966381-initial';
import { MainCatchUp1795714002068 } from './1795714002068-main-catch-up';
import { PendingSignIns1795719550610 } from './1795719550610-pending-sign-ins';
import { SharedRateLimitCounters1795720740999 } from './1795720740999-shared-rate-limit-counters';
import { GrantsClientIdPrefix1795721742203 } from './1795721742203-grants-client-id-prefix';
import { UsersSearch1795733542897 } from './1795733542897-users-search';
import { LiveGrantCounts1795733628019 } from './1795733628019-live-grant-counts';

/** Every PostgreSQL migration, in order (scripts/migration-diff.ts --engine postgres writes them). Add new ones at the end; never edit one that has shipped. */
export const POSTGRES_MIGRATIONS = [
  Initial1795708966381,
  MainCatchUp1795714002068,
  PendingSignIns1795719550610,
  SharedRateLimitCounters1795720740999,
  GrantsClientIdPrefix1795721742203,
  UsersSearch1795733542897,
  LiveGrantCounts1795733628019,
];
