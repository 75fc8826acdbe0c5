import { Initial1795708966381 } from './1795708966381-initial';

/** Every PostgreSQL migration, in order (scripts/migration-diff.ts --engine postgres writes them). Add new ones at the end; never edit one that has shipped. */
export const POSTGRES_MIGRATIONS = [Initial1795708966381];
