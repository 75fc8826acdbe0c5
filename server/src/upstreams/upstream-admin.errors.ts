import { ConflictException } from '@nestjs/common';
import { conflict, invalidFields, notFound } from '../common/api-errors';

/** 409: the upstream comes from config.yaml; the console cannot change it (the file is the source of truth). */
export function readOnly(message: string): ConflictException {
  return new ConflictException({ error: 'read_only', message });
}

export const upstreamNotFound = (slug: string) => notFound(`no upstream "${slug}"`);
export const slugTaken = (slug: string) => conflict(`an upstream with the slug "${slug}" already exists`);
/** 400 naming each bad field by its name in the admin API (e.g. "timeoutSeconds", "auth.headers.X-Api-Key"). */
export const invalidUpstream = invalidFields;
