import { Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import { IslandConfig } from '@island/config';
import { InjectConfig } from '@island/platform';
import { InvalidRequestError, NotFoundError } from '../errors/domain-errors';
import { IdentityUnavailableError } from './keystone/keystone-identity';
import { KeystoneTokens } from './keystone/keystone-tokens';

/** How a request may name a project (an id, or a name where names are ids). */
export const PROJECT_ARGUMENT = /^[A-Za-z0-9_.-]{1,64}$/;

interface KeystoneProject {
  id?: unknown;
  name?: unknown;
  domain_id?: unknown;
}

/**
 * The project a request names (`/v1/quotas/{project}`, a key to shred). The catalog keys everything by the id a
 * caller's token carries: with Keystone that is the project's id, so a name (`demo-a`) is looked up there — a quota
 * set under a name would bind no project at all. Without Keystone (static tokens) the names are the ids.
 */
@Injectable()
export class ProjectDirectory {
  private readonly logger = new Logger('ProjectDirectory');

  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly keystone: KeystoneTokens,
  ) {}

  /** The id of the project named by `project` (its id, or with Keystone its name); NotFoundError when there is none. */
  async projectId(project: string): Promise<string> {
    if (!PROJECT_ARGUMENT.test(project)) throw new InvalidRequestError(`project must be 1 to 64 letters, digits, '.', '_' or '-'`);
    if (!this.config.auth.keystone) return project;
    try {
      const byId = await this.keystone.asService(`/projects/${encodeURIComponent(project)}`);
      if (byId.status === 200) return idOf((byId.body as { project?: KeystoneProject } | undefined)?.project, project);
      if (byId.status !== 404) throw new IdentityUnavailableError(`Keystone answered ${byId.status} to a project lookup`);
      const byName = await this.keystone.asService(`/projects?name=${encodeURIComponent(project)}`);
      if (byName.status !== 200) throw new IdentityUnavailableError(`Keystone answered ${byName.status} to a project lookup by name`);
      const found = (byName.body as { projects?: KeystoneProject[] } | undefined)?.projects ?? [];
      if (found.length === 0) throw new NotFoundError('project', project);
      if (found.length > 1) {
        const ids = found.map((p) => `${String(p.id)} (domain ${String(p.domain_id)})`).join(', ');
        throw new InvalidRequestError(`project name ${project} is used in more than one domain (${ids}): name the project by its id`);
      }
      return idOf(found[0], project);
    } catch (error) {
      if (!(error instanceof IdentityUnavailableError)) throw error;
      this.logger.warn(`cannot look up project ${project}: ${error.message}`);
      throw new ServiceUnavailableException('the identity service cannot look up projects right now; retry later');
    }
  }
}

function idOf(project: KeystoneProject | undefined, asked: string): string {
  if (typeof project?.id !== 'string' || !PROJECT_ARGUMENT.test(project.id))
    throw new IdentityUnavailableError(`Keystone answered project ${asked} without a usable id`);
  return project.id;
}
