import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import type { Request } from 'express';
import { IslandConfig } from '@island/config';
import { InjectConfig } from '@island/platform';
import { ADMIN_PROJECT, Caller } from './caller';
import { StaticTokens } from './static-tokens';

const PROJECT_HEADER = 'x-island-project';
const PROJECT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Resolves the bearer token to its project (tokens come from ISLAND_TOKENS; one admin token). */
@Injectable()
export class BearerTokenGuard implements CanActivate {
  private readonly tokens: StaticTokens;

  constructor(@InjectConfig() config: IslandConfig) {
    this.tokens = new StaticTokens(config.auth.adminToken, config.auth.tokens);
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<Request & { caller?: Caller }>();
    const header = request.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!token) throw new UnauthorizedException('missing bearer token (Authorization: Bearer <token>)');
    const principal = this.tokens.resolve(token);
    if (!principal) throw new UnauthorizedException('unknown token');
    if (principal.admin) {
      const named = request.headers[PROJECT_HEADER];
      const project = typeof named === 'string' ? named : undefined;
      if (project !== undefined && !PROJECT_NAME.test(project)) throw new UnauthorizedException(`invalid ${PROJECT_HEADER} header`);
      request.caller = { projectId: project ?? ADMIN_PROJECT, admin: true, scope: project };
      return true;
    }
    request.caller = { projectId: principal.projectId, admin: false, scope: principal.projectId };
    return true;
  }
}
