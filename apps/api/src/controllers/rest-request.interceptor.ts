import { BadRequestException, CallHandler, ExecutionContext, Injectable, NestInterceptor, UnsupportedMediaTypeException } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import type { Request } from 'express';
import { Observable } from 'rxjs';

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- Nest's metadata is keyed by classes and methods
type Target = Function;

/** The query parameters a route declares with `@Query('name')`; undefined when it takes the whole query (its DTO checks it). */
export function declaredQueryParameters(controller: Target, handler: Target): ReadonlySet<string> | undefined {
  const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, handler.name) ?? {}) as Record<string, { index: number; data?: unknown }>;
  const queries = Object.entries(args)
    .filter(([key]) => Number(key.split(':')[0]) === RouteParamtypes.QUERY)
    .map(([, arg]) => arg)
    .sort((a, b) => a.index - b.index); // in the order the handler lists them
  if (queries.some((arg) => typeof arg.data !== 'string')) return undefined;
  return new Set(queries.map((arg) => String(arg.data)));
}

/**
 * What the validation pipe cannot see of a REST call, refused as it refuses a body's unknown property (runs after the
 * route's guard: a caller without a valid token hears 401 first):
 * - a body not sent as JSON (415, naming its type): the JSON parser left it unread, so the route saw no fields and
 *   answered with every rule of a missing one for a body that held them;
 * - a query parameter the route does not take (400, naming it and those it takes): a mistyped filter (`?volumeID=…`)
 *   was ignored and a list answered unfiltered, a mistyped option of a DELETE (`?purg=true`) did something other than asked.
 */
@Injectable()
export class RestRequestInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.getType() === 'http' ? context.switchToHttp().getRequest<Request>() : undefined;
    if (request?.path.startsWith('/v1/')) {
      refuseNonJsonBody(request);
      refuseUndeclaredQuery(Object.keys(request.query ?? {}), context.getClass(), context.getHandler());
    }
    return next.handle();
  }
}

function refuseNonJsonBody(request: Request): void {
  const hasBody = request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
  if (hasBody && !request.is('application/json')) {
    const type = request.headers['content-type'] ?? 'no Content-Type';
    throw new UnsupportedMediaTypeException(`the body must be JSON (Content-Type: application/json), not ${type}`);
  }
}

function refuseUndeclaredQuery(given: string[], controller: Target, handler: Target): void {
  if (given.length === 0) return;
  const declared = declaredQueryParameters(controller, handler);
  if (!declared) return;
  const unknown = given.filter((name) => !declared.has(name));
  if (unknown.length === 0) return;
  const takes = declared.size > 0 ? `this route takes ${[...declared].join(', ')}` : 'this route takes none';
  throw new BadRequestException(unknown.map((name) => `query parameter ${name} should not exist (${takes})`));
}
