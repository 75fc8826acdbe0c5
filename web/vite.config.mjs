import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The admin console: built into <repo>/dist/web and served by the gateway at /admin/.
const webRoot = fileURLToPath(new URL('.', import.meta.url));
const outDir = fileURLToPath(new URL('../dist/web', import.meta.url));

export default defineConfig({
  root: webRoot,
  // Relative asset URLs: one build serves any base path. The gateway answers index.html with them
  // made absolute under <base path>/admin/ (server/src/console-app.ts); chunks load relative to each other.
  base: './',
  // No svelte.config.js: Svelte 5 defaults are enough (components using runes compile in runes mode).
  plugins: [svelte({ configFile: false })],
  build: {
    outDir,
    emptyOutDir: true,
    // The gateway's CSP allows scripts from 'self' only: keep everything in files, nothing inline.
    assetsInlineLimit: 0,
  },
  server: {
    // `npx vite --config web/vite.config.mjs` during development: API calls go to a gateway on :8080.
    proxy: {
      '/admin/api': 'http://127.0.0.1:8080',
      '/healthz': 'http://127.0.0.1:8080',
      '/.well-known': 'http://127.0.0.1:8080',
      '/login': 'http://127.0.0.1:8080',
      '/logout': 'http://127.0.0.1:8080',
    },
  },
});
