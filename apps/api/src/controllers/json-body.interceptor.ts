import { CallHandler, ExecutionContext, Injectable, NestInterceptor, UnsupportedMediaTypeException } from '@nestjs/common';
import type { Request } from 'express';
import { Observable } from 'rxjs';

/**
 * Refuses a REST call whose body is not sent as JSON with 415, naming the type it came as. The JSON parser leaves such a
 * body unread, so the route saw no fields at all and answered with every rule of a missing one ("sizeBytes must not be
 * less than 1048576, …") for a body that held a valid size. A call without a body is left alone.
 */
@Injectable()
export class JsonBodyInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') {
      const request = context.switchToHttp().getRequest<Request>();
      if (request.path.startsWith('/v1/') && hasBody(request) && !request.is('application/json')) {
        const type = request.headers['content-type'] ?? 'no Content-Type';
        throw new UnsupportedMediaTypeException(`the body must be JSON (Content-Type: application/json), not ${type}`);
      }
    }
    return next.handle();
  }
}

function hasBody(request: Request): boolean {
  return request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
}
