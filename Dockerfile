# The image `portico manifests` names (portico:VERSION): Node.js 20 and git, the project built, run as
# a non-root user. Build with: docker build -t portico:$(node -p "require('./package.json').version") .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY bin bin
COPY src src
RUN npm ci --no-audit --no-fund --ignore-scripts && npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends git openssh-client ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/bin bin
COPY --from=build /app/dist/src dist/src
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/portico.js"]
