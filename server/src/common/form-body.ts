/**
 * The parsed body of a form post (or JSON body) as a record of unknown values, to be checked field by
 * field: Express types `req.body` as `any`, and a request without a body leaves it undefined.
 */
export function formBody(req: { body?: unknown }): Record<string, unknown> {
  return (req.body ?? {}) as Record<string, unknown>;
}
