import { ArgumentsHost, Catch, HttpStatus, Logger } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { Response } from 'express';
import { catalogOutage } from '@island/catalog';

/** Seconds a client is told to wait before it asks again while the catalog cannot be reached. */
const RETRY_AFTER_SECONDS = 5;

/**
 * A request that failed because the catalog database cannot be reached (restarting, stopped) is answered 503 with
 * Retry-After. When no statement reached the database, nothing changed; when the connection was cut under the
 * request, it may or may not have taken effect, and the answer says to check before repeating a change. The
 * driver's detail (which may name the database's address) is logged, not returned. Every other error goes on to
 * Nest's own handling (500 for what nobody foresaw).
 */
@Catch()
export class CatalogUnavailableFilter extends BaseExceptionFilter {
  private readonly logger = new Logger(CatalogUnavailableFilter.name);

  override catch(error: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw error; // the Cinder RPC endpoint maps errors itself
    const outage = catalogOutage(error);
    if (!outage) return super.catch(error, host);
    this.logger.warn(`answered 503: the catalog database is unavailable (${error instanceof Error ? error.message : String(error)})`);
    const effect =
      outage === 'not-reached'
        ? 'nothing was changed; try again in a few seconds'
        : 'the request may or may not have taken effect; check before repeating a change';
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(HttpStatus.SERVICE_UNAVAILABLE)
      .setHeader('retry-after', String(RETRY_AFTER_SECONDS))
      .json({ statusCode: HttpStatus.SERVICE_UNAVAILABLE, error: 'CatalogUnavailable', message: `island's catalog database is unavailable: ${effect}` });
  }
}
