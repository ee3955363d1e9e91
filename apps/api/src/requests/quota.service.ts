import { Injectable } from '@nestjs/common';
import { IslandConfig } from '@island/config';
import { InjectConfig } from '@island/platform';
import { Caller } from '../auth/caller';
import { QuotaView, SetQuotaDto } from '../dtos/quota.dto';
import { ForbiddenError, InvalidRequestError } from '../errors/domain-errors';
import { UnitOfWork } from '../outbox/unit-of-work';
import { projectQuota } from './quota-check';

const PROJECT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Limits per project: each project sees its own; the admin sees and sets any. */
@Injectable()
export class QuotaService {
  constructor(
    @InjectConfig() private readonly config: IslandConfig,
    private readonly uow: UnitOfWork,
  ) {}

  show(caller: Caller, projectId = caller.projectId): Promise<QuotaView> {
    this.checkProject(projectId);
    if (!caller.admin && projectId !== caller.projectId) throw new ForbiddenError(`the quotas of project ${projectId} are for its members and the admin`);
    return this.uow.read((catalog) => projectQuota(catalog, this.config, projectId));
  }

  async set(caller: Caller, projectId: string, dto: SetQuotaDto): Promise<QuotaView> {
    this.checkProject(projectId);
    if (!caller.admin) throw new ForbiddenError('setting quotas needs the admin role');
    await this.uow.run(async ({ catalog }) => {
      await catalog.projects.setLimits(projectId, dto);
      if (dto.snapshotRetentionSeconds !== undefined) await catalog.projects.setSnapshotRetention(projectId, dto.snapshotRetentionSeconds);
    });
    return this.uow.read((catalog) => projectQuota(catalog, this.config, projectId));
  }

  private checkProject(projectId: string): void {
    if (!PROJECT_NAME.test(projectId)) throw new InvalidRequestError(`project must be 1 to 64 letters, digits, '.', '_' or '-'`);
  }
}
