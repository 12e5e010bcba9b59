# Caduceus container image: node:20-bookworm-slim, built with `npm ci` from the lockfile, run as
# the unprivileged `node` user (uid 1000). See docs/deployment.md.
#
#   docker build -t caduceus:local .
#   docker run --rm -v /etc/caduceus:/etc/caduceus:ro -e CADUCEUS_MASTER_KEY=… -p 8443:8443 caduceus:local
#
# The configuration is read from /etc/caduceus/caduceus.yaml. Secrets (master key, database
# password, client secrets) come from the environment or from mounted secret files, never from
# the image.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# argon2 and better-sqlite3 are native modules: prebuilt binaries are used when they fit, and these
# tools build them from source when they do not.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
# `npm ci` installs exactly the lockfile and runs the `prepare` script (npm run build → dist/).
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
RUN chmod 0755 bin/caduceus.js \
 && ln -s /app/bin/caduceus.js /usr/local/bin/caduceus \
 && mkdir -p /etc/caduceus /var/lib/caduceus \
 && chown node:node /var/lib/caduceus
# Never root at run time.
USER node
# 8443: the public TLS listener (listen.port). 9464: the admin listener (admin.port: metrics, health).
EXPOSE 8443 9464
# Readiness on the admin listener; requires `admin: {port: 9464}` in the configuration (use host
# 0.0.0.0 inside a container, and do not publish the port). Without it, remove this check or
# point an orchestrator's probe at https://…:8443/readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM closes the listeners, commits queued audit events and signs a final checkpoint.
STOPSIGNAL SIGTERM
CMD ["caduceus", "serve", "--config", "/etc/caduceus/caduceus.yaml"]
