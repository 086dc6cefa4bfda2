# Coccinelle on the official Bun image. The build stage runs the same install and typecheck as CI;
# the runtime stage carries production dependencies only.
FROM oven/bun:1.4.5 AS build
WORKDIR /app
COPY package.json bun.lock ./
COPY patches ./patches
RUN bun install --frozen-lockfile
COPY tsconfig.json bunfig.toml ./
COPY src ./src
COPY sql ./sql
COPY test ./test
RUN bunx tsc --noEmit -p .

FROM oven/bun:1.4.5 AS deps
WORKDIR /app
COPY package.json bun.lock ./
COPY patches ./patches
RUN bun install --frozen-lockfile --production

FROM oven/bun:1.4.5-slim
WORKDIR /app
ENV NODE_ENV=production \
    PORT=8080 \
    DATABASE_URL=/data/coccinelle.db
COPY --from=deps /app/node_modules ./node_modules
COPY package.json bun.lock tsconfig.json bunfig.toml ./
COPY --from=build /app/src ./src
COPY --from=build /app/sql ./sql
# Runs as root: Fly mounts the volume holding the SQLite file as root-owned.
EXPOSE 8080
STOPSIGNAL SIGTERM
# package.json's start script: the server with its collector's headroom set (README, "Memory on Bun"), as
# `bun run start` runs it anywhere; `bun run` passes SIGTERM on to it, so a deploy still drains the calls.
CMD ["bun", "run", "start"]
