import { BadRequestException, CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
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
 * Refuses a REST call with a query parameter its route does not take, naming it and those the route takes, as the
 * validation pipe refuses a body's unknown property: a mistyped filter (`?volumeID=…`) would otherwise be ignored and a
 * list answered unfiltered, a mistyped option of a DELETE (`?purg=true`) do something other than asked. Runs after the
 * route's guard: a caller without a valid token hears 401 first.
 */
@Injectable()
export class KnownQueryParametersInterceptor implements NestInterceptor {
  private readonly declared = new Map<Target, ReadonlySet<string> | undefined>();

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') {
      const request = context.switchToHttp().getRequest<Request>();
      if (request.path.startsWith('/v1/')) this.check(context.getClass(), context.getHandler(), Object.keys(request.query ?? {}));
    }
    return next.handle();
  }

  private check(controller: Target, handler: Target, given: string[]): void {
    if (given.length === 0) return;
    if (!this.declared.has(handler)) this.declared.set(handler, declaredQueryParameters(controller, handler));
    const declared = this.declared.get(handler);
    if (!declared) return;
    const unknown = given.filter((name) => !declared.has(name));
    if (unknown.length === 0) return;
    const takes = declared.size > 0 ? `this route takes ${[...declared].join(', ')}` : 'this route takes none';
    throw new BadRequestException(unknown.map((name) => `query parameter ${name} should not exist (${takes})`));
  }
}
