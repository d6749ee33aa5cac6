# syntax=docker/dockerfile:1
# The codex-affinity processor image: built with the full toolchain, run on a distroless Node.js
# (no shell, no package manager) as a non-root user. Checked by test/deploy/dockerfile.test.ts.
#   docker build -t codex-affinity:0.1.0 .
#   docker run --rm -v "$PWD/deploy/example-config.yaml:/etc/codex-affinity/config.yaml:ro" codex-affinity:0.1.0
# Node.js 24 is the current LTS line (package.json engines: >=20.10 <25).
ARG NODE_MAJOR=24

# ---- build: compile TypeScript to dist/ ----
FROM node:${NODE_MAJOR}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY proto ./proto
RUN npx tsc -p tsconfig.json

# ---- runtime dependencies only ----
FROM node:${NODE_MAJOR}-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- run: distroless, non-root ----
FROM gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY proto ./proto
COPY package.json ./
# 65532 is "nonroot" in distroless images; numeric so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# ext_proc gRPC (loopback in the pod by default) and the admin HTTP port (/metrics /healthz /readyz).
EXPOSE 50051 9464
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/src/cli/main.js"]
CMD ["serve", "--config", "/etc/codex-affinity/config.yaml"]
