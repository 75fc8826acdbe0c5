# syntax=docker/dockerfile:1

# ---- build: compile the server (tsc) and the admin console (vite), then drop dev dependencies ----
FROM node:20-bookworm-slim AS build
# better-sqlite3 is a native addon: node-gyp needs these when no prebuilt binary can be fetched.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY server ./server
COPY web ./web
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: production dependencies + compiled output only, running as a non-root user ----
FROM node:20-bookworm-slim AS runtime
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
RUN mkdir -p /data /config \
 && chown node:node /data \
 && chmod 700 /data \
 && ln -s /config/config.yaml /app/config.yaml
# The `gatehouse` command on the PATH: docker compose exec gatehouse gatehouse user list
RUN printf '#!/bin/sh\nexec node /app/dist/server/cli/index.js "$@"\n' > /usr/local/bin/gatehouse \
 && chmod 755 /usr/local/bin/gatehouse
USER node
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# A small young generation keeps idle RSS near 115 MB (see README, Performance).
CMD ["node", "--max-semi-space-size=4", "dist/server/cli/index.js", "start"]
