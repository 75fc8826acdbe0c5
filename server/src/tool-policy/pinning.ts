/**
 * What the gateway does when an upstream's tool changes definition (or a new tool appears):
 * `off` takes it as it is; `warn` keeps it usable but audits the change and badges it in the
 * console until an admin approves it; `quarantine` hides it from tools/list and refuses its calls
 * until an admin approves it.
 */
export const PINNING_MODES = ['off', 'warn', 'quarantine'] as const;
export type PinningMode = (typeof PINNING_MODES)[number];

export function isPinningMode(value: unknown): value is PinningMode {
  return typeof value === 'string' && (PINNING_MODES as readonly string[]).includes(value);
}
