/** Short confirmations after an action ("User invited"), announced to screen readers. */
export const toasts = $state(/** @type {Array<{ id: number, text: string, kind: 'ok' | 'error' }>} */ ([]));
let next = 1;

export function notify(text, kind = /** @type {'ok' | 'error'} */ ('ok')) {
  const id = next++;
  toasts.push({ id, text, kind });
  setTimeout(() => dismiss(id), kind === 'error' ? 8000 : 4000);
}

export function dismiss(id) {
  const i = toasts.findIndex((t) => t.id === id);
  if (i >= 0) toasts.splice(i, 1);
}
