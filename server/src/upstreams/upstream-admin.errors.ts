import { BadRequestException, ConflictException, NotFoundException } from '@nestjs/common';

/**
 * The JSON errors of the console's upstream actions: `error` a stable code, `message` a sentence
 * for people, `fields` (400) naming each bad input by its name in the admin API.
 */

/** 409: the upstream comes from config.yaml; the console cannot change it (the file is the source of truth). */
export function readOnly(message: string): ConflictException {
  return new ConflictException({ error: 'read_only', message });
}

export function upstreamNotFound(slug: string): NotFoundException {
  return new NotFoundException({ error: 'not_found', message: `no upstream "${slug}"` });
}

export function slugTaken(slug: string): ConflictException {
  return new ConflictException({ error: 'conflict', message: `an upstream with the slug "${slug}" already exists` });
}

export function invalidUpstream(fields: Record<string, string>): BadRequestException {
  const message = Object.entries(fields)
    .map(([field, problem]) => `${field} ${problem}`)
    .join('; ');
  return new BadRequestException({ error: 'invalid_request', message, fields });
}
