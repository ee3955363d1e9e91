import { Injectable } from '@nestjs/common';
import { IslandConfig } from '@island/config';
import { InjectConfig } from '@island/platform';
import { Caller } from '../auth/caller';
import { ProjectDirectory } from '../auth/project-directory';
import { QuotaView, SetQuotaDto } from '../dtos/quota.dto';
import { DomainError, ForbiddenError } from '../errors/domain-errors';
import { UnitOfWork } from '../outbox/unit-of-work';
import { projectQuota } from './quota-check';

/** Limits per project: each project sees its own; the admin sees and sets any. A project is named by its id or name. */
@Injectable()
export class QuotaService {
  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly uow: UnitOfWork,
    private readonly projects: ProjectDirectory,
  ) {}

  async show(caller: Caller, project = caller.projectId): Promise<QuotaView> {
    const projectId = caller.admin ? await this.projects.projectId(project) : await this.ownProject(caller, project);
    return this.uow.read((catalog) => projectQuota(catalog, this.config, projectId));
  }

  async set(caller: Caller, project: string, dto: SetQuotaDto): Promise<QuotaView> {
    if (!caller.admin) throw new ForbiddenError('setting quotas needs the admin role');
    const projectId = await this.projects.projectId(project);
    await this.uow.run(async ({ catalog }) => {
      await catalog.projects.setLimits(projectId, dto);
      if (dto.snapshotRetentionSeconds !== undefined) await catalog.projects.setSnapshotRetention(projectId, dto.snapshotRetentionSeconds);
    });
    return this.uow.read((catalog) => projectQuota(catalog, this.config, projectId));
  }

  /** A member names its own project (by id or name); any other, existing or not, is refused alike. */
  private async ownProject(caller: Caller, project: string): Promise<string> {
    const refused = new ForbiddenError(`the quotas of project ${project} are for its members and the admin`);
    if (project === caller.projectId) return project;
    const projectId = await this.projects.projectId(project).catch((error: unknown) => {
      throw error instanceof DomainError ? refused : error;
    });
    if (projectId !== caller.projectId) throw refused;
    return projectId;
  }
}
