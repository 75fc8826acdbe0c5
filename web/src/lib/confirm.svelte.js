/**
 * The one confirmation dialog of the console (ConfirmDialog.svelte shows it): destructive
 * actions `await confirmAction({...})` and go on only when it resolves true.
 */
export const pending = $state({
  open: false,
  title: '',
  message: '',
  confirmLabel: 'Confirm',
  danger: true,
  /** @type {(ok: boolean) => void} */
  resolve: () => {},
});

/**
 * @param {{ title: string, message?: string, confirmLabel?: string, danger?: boolean }} options
 * @returns {Promise<boolean>}
 */
export function confirmAction({ title, message = '', confirmLabel = 'Delete', danger = true }) {
  pending.resolve(false);
  return new Promise((resolve) => {
    Object.assign(pending, { open: true, title, message, confirmLabel, danger, resolve });
  });
}

export function settle(ok) {
  const resolve = pending.resolve;
  pending.open = false;
  pending.resolve = () => {};
  resolve(ok);
}
