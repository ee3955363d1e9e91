import { readFileSync } from 'node:fs';
import { Server } from 'node:http';
import { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CustomTransportStrategy } from '@nestjs/microservices';
import { ConfigError, getConfig, heapCapInForce, IslandConfig } from '@island/config';
import { createLogger } from './logging/create-logger';
import { setHeapGrowth } from './heap-growth';

/** Idle keep-alive connections stay open this long (longer than common clients' and load balancers' 60 s). */
const KEEP_ALIVE_MS = 65_000;

export interface ServiceDefinition {
  /** Process name, used in logs and metrics. */
  name: string;
  module: Type<unknown>;
  port(config: IslandConfig): number;
  /** Last preparation of the app before its HTTP port opens (e.g. the OpenAPI page). */
  beforeListen?(app: INestApplication, config: IslandConfig): void;
  /** Message transports the service consumes from (connected before the HTTP port opens). */
  transports?(app: INestApplication, config: IslandConfig): CustomTransportStrategy[];
  /** What this service refuses to start with, beyond what the configuration's own validation checks. */
  refuse?(config: IslandConfig): string[];
  /** Serve HTTPS when the configuration names a certificate and key (ISLAND_TLS_CERT, ISLAND_TLS_KEY). */
  tls?: boolean;
}

/**
 * Starts an island service: validates the configuration first (a bad environment stops the process with
 * one message naming every bad variable), then Nest with shutdown hooks, its transports, and HTTP for
 * health, readiness and metrics.
 */
export async function startService(definition: ServiceDefinition): Promise<INestApplication> {
  setHeapGrowth();
  let config: IslandConfig;
  try {
    config = getConfig();
    const refusals = definition.refuse?.(config) ?? [];
    if (refusals.length > 0) throw new ConfigError(refusals);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${definition.name}: ${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  const logger = createLogger(definition.name, config.log.level);
  const heapCap = heapCapInForce();
  if (heapCap !== config.heap.oldSpaceMib) {
    const running = heapCap === undefined ? 'no heap cap' : `a ${heapCap} MiB heap cap`;
    logger.warn(
      `runs with ${running}, not ISLAND_HEAP_MIB's ${config.heap.oldSpaceMib} MiB: launch it with node --max-old-space-size=${config.heap.oldSpaceMib}`,
    );
  }
  const tls = definition.tls ? config.http.tls : undefined;
  const httpsOptions = tls && { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) };
  const app = await NestFactory.create(definition.module, { logger, bufferLogs: true, ...(httpsOptions && { httpsOptions }) });
  app.useLogger(logger);
  app.enableShutdownHooks();
  boundShutdown(definition.name);
  // no "X-Powered-By: Express" on every answer: it tells a scanner what to try, and no client needs it
  (app.getHttpAdapter().getInstance() as { disable?: (setting: string) => void }).disable?.('x-powered-by');
  for (const strategy of definition.transports?.(app, config) ?? []) {
    app.connectMicroservice({ strategy }, { inheritAppConfig: true });
  }
  await app.startAllMicroservices();
  definition.beforeListen?.(app, config);
  const port = definition.port(config);
  // Node closes idle keep-alive connections after 5 s; a client reusing one at that instant gets "other side
  // closed" on a request that may not be safe to retry. Idle connections live longer than clients keep them.
  const server = app.getHttpServer() as Server;
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 1000;
  await app.listen(port, config.http.bindAddress);
  logger.log(`listening on ${httpsOptions ? 'https' : 'http'}://${config.http.bindAddress}:${port} (healthz, readyz, metrics)`);
  return app;
}

/** How long a stop may take: past it the process exits anyway, as a crash would (island recovers from those). */
const SHUTDOWN_DEADLINE_MS = 30_000;

/**
 * A SIGTERM or SIGINT ends the process within SHUTDOWN_DEADLINE_MS: a shutdown hook waiting on something that never
 * answers (a connection, a job) must not keep a service manager or an operator waiting without a word.
 */
function boundShutdown(name: string): void {
  const deadline = () => {
    setTimeout(() => {
      process.stderr.write(`${name}: still stopping ${SHUTDOWN_DEADLINE_MS / 1000} s after the signal; exiting now\n`);
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
  };
  process.once('SIGTERM', deadline);
  process.once('SIGINT', deadline);
}

/** `startService` for a process's main: any start-up failure is printed once and ends the process. */
export function runService(definition: ServiceDefinition): void {
  startService(definition).catch((error: unknown) => {
    process.stderr.write(`${definition.name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
