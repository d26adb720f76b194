# syntax=docker/dockerfile:1
# Two images from one file:
#   processor (the default, last stage): the llm-user-metrics processor, `node src/main.ts` on 0.0.0.0:4318.
#   demo: the example app and its stand-in provider (examples/), with the instrumentation built from this repo.
# Node 24 runs the TypeScript sources directly (type stripping), so the processor needs no build step.

FROM node:24.21.0-bookworm-slim AS base
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false

FROM base AS demo
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
# The app loads `llm-user-metrics` and `llm-user-metrics/instrumentation` by package name; inside /app they
# resolve to this package itself (its "exports" point at dist/).
RUN npm run build
USER node
CMD ["node", "--import", "llm-user-metrics/instrumentation", "examples/demo-app.mjs"]

FROM base AS ui
COPY package.json package-lock.json ./
RUN npm ci
COPY ui ./ui
RUN npm run build:ui

FROM base AS processor
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY bin ./bin
COPY src ./src
# The Users page at /, built in the ui stage (esbuild is a dev dependency).
COPY --from=ui /app/dist/ui ./dist/ui
RUN mkdir -p /data && chown node:node /data
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4318 DATA_DIR=/data
USER node
EXPOSE 4318
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4318) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "src/main.ts"]
