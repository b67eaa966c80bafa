# syntax=docker/dockerfile:1
# The operator image: `node dist/cli/main.js run` on distroless Node.js 22, as user 65532, with
# nothing but the compiled code, the production dependencies and package.json. Runs with a
# read-only root filesystem (the manifests mount an emptyDir at /tmp; the operator writes nothing).
#
#   docker build -t ghcr.io/OWNER/emr-serverless-operator:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/emr-serverless-operator:0.1.0 --push .
#
# Multi-arch: both base images are published for amd64 and arm64. The build stage runs on the
# builder's own platform ($BUILDPLATFORM, no emulation): its output is plain JavaScript and no
# production dependency has native code or install scripts, so the same files serve every target.
#
# test/integration/manifests/package.test.ts checks the same steps without Docker: the npm package
# (what `files` in package.json ships), a production install, `run --help`, and the controller
# started from that install against a real API server under the RBAC of manifests/.

ARG NODE_IMAGE=node:22-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs22-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build
WORKDIR /src
# Dependencies first, so they stay cached while only the sources change. --ignore-scripts: skip
# `prepare` (the sources are not here yet); no production dependency has install scripts.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${RUNTIME_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
# Two glibc malloc arenas, not 8 per core: freed native memory is reused, not parked per thread
# (the manifests and the chart set the same, with the V8 flags, in the container's env).
ENV MALLOC_ARENA_MAX=2
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# distroless :nonroot is already 65532; stated again so the Deployment's runAsUser matches by design.
USER 65532:65532
EXPOSE 8080 8081
# The distroless image's own entrypoint is node; flags for `run` come from the container's args.
ENTRYPOINT ["/nodejs/bin/node", "dist/cli/main.js", "run"]
