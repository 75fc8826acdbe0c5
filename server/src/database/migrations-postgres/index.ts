import { Initial1795708966381 } from './1795708966381-initial';
import { MainCatchUp1795714002068 } from './1795714002068-main-catch-up';
import { GrantsClientIdPrefix1795721742203 } from './1795721742203-grants-client-id-prefix';

/** Every PostgreSQL migration, in order (scripts/migration-diff.ts --engine postgres writes them). Add new ones at the end; never edit one that has shipped. */
export const POSTGRES_MIGRATIONS = [Initial1795708966381, MainCatchUp1795714002068, GrantsClientIdPrefix1795721742203];
