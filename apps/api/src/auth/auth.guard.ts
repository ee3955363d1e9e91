import { CanActivate, ExecutionContext, ForbiddenException, Injectable, Logger, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import type { Request } from 'express';
import { IslandConfig } from '@island/config';
import { InjectConfig } from '@island/platform';
import { ADMIN_PROJECT, Caller } from './caller';
import { IdentityUnavailableError, TokenRefusedError } from './keystone/keystone-identity';
import { KeystoneTokens } from './keystone/keystone-tokens';
import { PROJECT_ARGUMENT } from './project-directory';
import { StaticTokens } from './static-tokens';

const PROJECT_HEADER = 'x-island-project';
/** Longest X-Auth-Token accepted (Fernet tokens are ~200 characters; PKI tokens were up to a few KiB). */
const MAX_KEYSTONE_TOKEN = 8192;
const READ_METHODS = new Set(['GET', 'HEAD']);

type CallerRequest = Request & { caller?: Caller };

/**
 * Who is calling. With Keystone (ISLAND_KEYSTONE_URL): the X-Auth-Token, validated there; its project and
 * roles — `admin` every project and the admin operations, `member` its project, `reader` its project read-only.
 * Without: a static bearer token (development mode, ISLAND_TOKENS and ISLAND_ADMIN_TOKEN).
 */
@Injectable()
export class Authenticator {
  private readonly logger = new Logger('Authenticator');
  private readonly statics: StaticTokens;
  private readonly adminProject: string | undefined;

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly keystone: KeystoneTokens,
  ) {
    this.statics = new StaticTokens(config.auth.adminToken, config.auth.tokens);
    this.adminProject = config.auth.keystone?.adminProject;
  }

  /** The caller of a request, or the HTTP exception (401, 403, 503) that refuses it. */
  async callerOf(request: Request): Promise<Caller> {
    const caller = this.config.auth.keystone ? await this.keystoneCaller(request) : this.staticCaller(request);
    if (caller.readOnly && !READ_METHODS.has(request.method)) {
      throw new ForbiddenException(`${request.method} needs role member or admin in project ${caller.projectId}; the token has only reader`);
    }
    return caller;
  }

  private async keystoneCaller(request: Request): Promise<Caller> {
    const token = request.headers['x-auth-token'];
    if (typeof token !== 'string' || token.length === 0) throw new UnauthorizedException('missing X-Auth-Token (a Keystone token scoped to a project)');
    if (token.length > MAX_KEYSTONE_TOKEN || !/^[\x21-\x7e]+$/.test(token)) throw new UnauthorizedException('malformed X-Auth-Token');
    let identity;
    try {
      identity = await this.keystone.validate(token);
    } catch (error) {
      if (error instanceof TokenRefusedError) throw new UnauthorizedException(error.message);
      if (error instanceof IdentityUnavailableError) {
        // the details (Keystone's address, island's service user) are the operator's, not the caller's
        this.logger.warn(`cannot validate a token: ${error.message}`);
        throw new ServiceUnavailableException('the identity service cannot validate tokens right now; retry later');
      }
      throw error;
    }
    const roles = new Set(identity.roles);
    // island's admin is the cloud admin: `admin` in the admin project; in any other project it is that project's
    // admin (services' users hold `admin` in `service`), which island treats as a member
    if (roles.has('admin') && identity.projectName === this.adminProject) return this.adminCaller(request, identity.projectId);
    if (roles.has('admin')) return { projectId: identity.projectId, admin: false, scope: identity.projectId, readOnly: false };
    if (roles.has('member')) return { projectId: identity.projectId, admin: false, scope: identity.projectId, readOnly: false };
    if (roles.has('reader')) return { projectId: identity.projectId, admin: false, scope: identity.projectId, readOnly: true };
    throw new ForbiddenException(
      `needs role member, reader or admin in project ${identity.projectName}; the token has ${identity.roles.join(', ') || 'no role'}`,
    );
  }

  private staticCaller(request: Request): Caller {
    const header = request.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!token) throw new UnauthorizedException('missing bearer token (Authorization: Bearer <token>)');
    const principal = this.statics.resolve(token);
    if (!principal) throw new UnauthorizedException('unknown token');
    if (principal.admin) return this.adminCaller(request, ADMIN_PROJECT);
    return { projectId: principal.projectId, admin: false, scope: principal.projectId, readOnly: false };
  }

  /** The admin sees every project; X-Island-Project names the one it acts in. */
  private adminCaller(request: Request, ownProject: string): Caller {
    const named = request.headers[PROJECT_HEADER];
    const project = typeof named === 'string' ? named : undefined;
    if (project !== undefined && !PROJECT_ARGUMENT.test(project)) throw new UnauthorizedException(`invalid ${PROJECT_HEADER} header`);
    return { projectId: project ?? ownProject, admin: true, scope: project, readOnly: false };
  }
}

/** Puts the request's caller on it (CurrentCaller) or refuses the request. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(private readonly authenticator: Authenticator) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<CallerRequest>();
    request.caller = await this.authenticator.callerOf(request);
    return true;
  }
}
