import { ArgumentsHost, Catch, HttpStatus, Logger } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { Response } from 'express';
import { isCatalogUnavailable } from '@island/catalog';

/** Seconds a client is told to wait before it asks again while the catalog cannot be reached. */
const RETRY_AFTER_SECONDS = 5;

/**
 * A request that failed because the catalog database cannot be reached (restarting, stopped) is answered 503
 * with Retry-After: nothing was changed and asking again later is right. Every other error goes on to Nest's
 * own handling (500 for what nobody foresaw).
 */
@Catch()
export class CatalogUnavailableFilter extends BaseExceptionFilter {
  private readonly logger = new Logger(CatalogUnavailableFilter.name);

  override catch(error: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw error; // the Cinder RPC endpoint maps errors itself
    if (!isCatalogUnavailable(error)) return super.catch(error, host);
    const detail = error instanceof Error ? error.message : String(error);
    this.logger.warn(`answered 503: the catalog database is unavailable (${detail})`);
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(HttpStatus.SERVICE_UNAVAILABLE)
      .setHeader('retry-after', String(RETRY_AFTER_SECONDS))
      .json({
        statusCode: HttpStatus.SERVICE_UNAVAILABLE,
        error: 'CatalogUnavailable',
        message: `island's catalog database is unavailable (${detail}); nothing was changed, try again in a few seconds`,
      });
  }
}
