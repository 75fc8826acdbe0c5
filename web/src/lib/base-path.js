/**
 * The gateway's base path: '' at the root of its host, e.g. '/gatehouse' when PUBLIC_URL has a path.
 * Read at run time from the page (the gateway writes it into index.html, server/src/console-app.ts),
 * so one build of the console works under any base path. Absent (the Vite dev server): the root.
 */
const declared = document.querySelector('meta[name="gatehouse-base-path"]')?.getAttribute('content') ?? '';

/** Only a path of plain segments is used: anything else would be a broken or foreign address. */
export const BASE_PATH = /^(\/[A-Za-z0-9._~-]+)*$/.test(declared) ? declared : '';
