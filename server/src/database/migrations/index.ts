import { Initial1764140000000 } from './1764140000000-initial';

/** Every migration, in order. Add new ones at the end; never edit one that has shipped. */
export const MIGRATIONS = [Initial1764140000000];
