# syntax=docker/dockerfile:1

# Node.js 22, an LTS line in support until April 2027 (24 works too: --build-arg NODE_IMAGE=node:24-bookworm-slim).
# Both stages must use the same image: better-sqlite3's native addon is built for the build stage's Node.
# The server is CommonJS and requires oauth4webapi, which ships only ES modules: Node loads those
# with require() by default since 22.12 (and 20.19), so no flag and no bundler is needed.
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: compile the server (tsc) and the admin console (vite), then keep what runs in production ----
FROM ${NODE_IMAGE} AS build
# better-sqlite3 is a native addon: node-gyp needs these when no prebuilt binary can be fetched.
# They exist in this stage only; the runtime image has no compiler.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY server ./server
COPY web ./web
RUN npm run build
# Production dependencies only, without what served only to install or build them:
# - `npm prune --omit=dev` keeps typescript and ts-node: typeorm names ts-node as an optional peer,
#   so the lockfile marks both (and ts-node's own dependencies) "devOptional", which that prune
#   keeps. The server never loads them; every devOptional package is removed;
# - node_modules/.bin: the runtime runs no package's command;
# - better-sqlite3's C++ sources, SQLite amalgamation, object files and test extension: only
#   build/Release/better_sqlite3.node is loaded (through `bindings`, which looks there).
RUN npm prune --omit=dev --no-audit --no-fund \
 && node -e "for (const [dir, pkg] of Object.entries(require('./package-lock.json').packages)) if (dir && pkg.devOptional) require('node:fs').rmSync(dir, { recursive: true, force: true })" \
 && rm -rf node_modules/.bin \
 && cd node_modules/better-sqlite3 \
 && mv build/Release/better_sqlite3.node . \
 && rm -rf build deps src binding.gyp \
 && mkdir -p build/Release \
 && mv better_sqlite3.node build/Release/
# Fail the build rather than the first start: the runtime set loads (the SQLite addon, the argon2
# binary for this platform, oauth4webapi through require) and holds no TypeScript.
RUN node -e "new (require('better-sqlite3'))(':memory:').close(); require('@node-rs/argon2'); require('oauth4webapi')" \
 && test ! -e node_modules/typescript \
 && test ! -e node_modules/ts-node

# ---- runtime: production dependencies + compiled output only, running as a non-root user ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    DATA_DIR=/data
WORKDIR /app
# Code stays owned by root, so the "node" user that runs it cannot modify it.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# /data holds the SQLite database: it must belong to the runtime user (a fresh named
# volume copies this ownership). /app/config.yaml is where the loader looks when
# GATEHOUSE_CONFIG is unset; it points into /config, so mounting a directory with a
# config.yaml at /config is picked up, and without one the embedded default is used.
# /usr/local/bin/gatehouse is the CLI on the PATH: docker compose exec gatehouse gatehouse user list
RUN mkdir -p /data /config \
 && chown node:node /data \
 && chmod 700 /data \
 && ln -s /config/config.yaml /app/config.yaml \
 && printf '#!/bin/sh\nexec node /app/dist/server/cli/index.js "$@"\n' > /usr/local/bin/gatehouse \
 && chmod 755 /usr/local/bin/gatehouse
USER node
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# A small young generation keeps idle RSS near 115 MB (see README, Performance).
CMD ["node", "--max-semi-space-size=4", "dist/server/cli/index.js", "start"]
