import { BadRequestException, ConflictException, NotFoundException } from '@nestjs/common';

/**
 * The JSON error bodies of the admin API (and of the services it calls): `error` is a stable
 * code for programs, `message` a sentence for people, `fields` names each bad input.
 */

export function notFound(message: string): NotFoundException {
  return new NotFoundException({ error: 'not_found', message });
}

/** 409: the request is well-formed but clashes with the current state (a taken name, the last admin). */
export function conflict(message: string): ConflictException {
  return new ConflictException({ error: 'conflict', message });
}

/** 400 naming the bad fields: field → what is wrong with it. */
export function invalidFields(fields: Record<string, string>): BadRequestException {
  const message = Object.entries(fields)
    .map(([field, problem]) => `${field} ${problem}`)
    .join('; ');
  return new BadRequestException({ error: 'invalid_request', message, fields });
}
