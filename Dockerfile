# One image for every island app (the command picks the app); see docker-compose.yml.
FROM node:20-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends qemu-utils qemu-system-common libnbd-bin curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/island
COPY . .
RUN npm ci --no-audit --no-fund && npx nx run-many -t build && npm prune --omit=dev
ENV NODE_ENV=production
# each process's V8 heap sizes (ISLAND_HEAP_MIB, docs/configuration.md): set both, node reads NODE_OPTIONS
ENV ISLAND_HEAP_MIB=192 NODE_OPTIONS="--max-old-space-size=192 --max-semi-space-size=4"
CMD ["node", "apps/api/dist/main.js"]
