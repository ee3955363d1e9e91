import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { IslandConfig } from '@island/config';
import { InjectConfig } from '@island/platform';
import { Caller } from '../auth/caller';
import { QuotaView, SetQuotaDto } from '../dtos/quota.dto';
import { ForbiddenError, InvalidRequestError } from '../errors/domain-errors';
import { projectQuota } from './quotas';

const PROJECT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Limits per project: each project sees its own; the admin sees and sets any. */
@Injectable()
export class QuotaService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: IslandConfig,
  ) {}

  show(caller: Caller, projectId = caller.projectId): Promise<QuotaView> {
    this.checkProject(projectId);
    if (!caller.admin && projectId !== caller.projectId) throw new ForbiddenError(`the quotas of project ${projectId} are for its members and the admin`);
    return projectQuota(this.dataSource.manager, this.config, projectId);
  }

  async set(caller: Caller, projectId: string, dto: SetQuotaDto): Promise<QuotaView> {
    this.checkProject(projectId);
    if (!caller.admin) throw new ForbiddenError('setting quotas needs the admin role');
    await this.dataSource.transaction(async (m) => {
      await m.query(`INSERT INTO project (id) VALUES ($1) ON CONFLICT DO NOTHING`, [projectId]);
      const columns = { volumes: 'quota_volumes', snapshots: 'quota_snapshots', gigabytes: 'quota_gigabytes' } as const;
      for (const key of ['volumes', 'snapshots', 'gigabytes'] as const) {
        if (dto[key] !== undefined) await m.query(`UPDATE project SET ${columns[key]} = $2 WHERE id = $1`, [projectId, dto[key]]);
      }
    });
    return projectQuota(this.dataSource.manager, this.config, projectId);
  }

  private checkProject(projectId: string): void {
    if (!PROJECT_NAME.test(projectId)) throw new InvalidRequestError(`project must be 1 to 64 letters, digits, '.', '_' or '-'`);
  }
}
