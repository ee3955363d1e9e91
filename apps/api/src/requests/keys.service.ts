import { Injectable } from '@nestjs/common';
import { KeyShred, KeysRotate } from '@island/contracts';
import { Caller } from '../auth/caller';
import { ProjectDirectory } from '../auth/project-directory';
import { OperationView } from '../dtos/operation.dto';
import { ProjectKeyView, ShredProjectKeyDto } from '../dtos/keys.dto';
import { ConflictError, ForbiddenError, InvalidRequestError, NotFoundError } from '../errors/domain-errors';
import { UnitOfWork } from '../outbox/unit-of-work';

/** Projects' keys (admin): their status, a KEK rotation, crypto-shredding a project. The GC worker does the work. */
@Injectable()
export class KeysService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly projects: ProjectDirectory,
  ) {}

  async list(caller: Caller): Promise<ProjectKeyView[]> {
    this.assertAdmin(caller);
    const keys = await this.uow.read((catalog) => catalog.projectKeys.list());
    return keys.map((k) => ({
      projectId: k.projectId,
      kekId: k.kekId,
      createdAt: k.createdAt.toISOString(),
      rotatedAt: k.rotatedAt?.toISOString() ?? null,
      shreddedAt: k.shreddedAt?.toISOString() ?? null,
    }));
  }

  async rotate(caller: Caller): Promise<OperationView> {
    this.assertAdmin(caller);
    return this.uow.run(async (tx) => {
      const running = (await tx.catalog.jobs.listRunning()).find((j) => j.kind === 'keys-rotate');
      if (running) throw new ConflictError(`a KEK rotation is running already (operation ${running.id})`);
      const job = await tx.catalog.jobs.start('keys-rotate', { type: 'region', projectId: null }, {});
      await tx.send(KeysRotate, { operationId: job.id });
      return OperationView.of(job);
    });
  }

  /** Shreds the key of `project` (its id, or with Keystone its name); `confirm` repeats `project` as given. */
  async shred(caller: Caller, project: string, dto: ShredProjectKeyDto): Promise<OperationView> {
    this.assertAdmin(caller);
    if (dto.confirm !== project) throw new InvalidRequestError(`confirm must repeat the project (${project}): shredding makes all its snapshots unreadable`);
    const projectId = await this.projects.projectId(project);
    return this.uow.run(async (tx) => {
      const key = await tx.catalog.projectKeys.find(projectId);
      if (!key) throw new NotFoundError('project key', projectId);
      if (key.shreddedAt) throw new ConflictError(`the key of project ${projectId} was shredded already, at ${key.shreddedAt.toISOString()}`);
      const job = await tx.catalog.jobs.start('key-shred', { type: 'region', projectId: null }, { projectId });
      await tx.send(KeyShred, { operationId: job.id, projectId });
      return OperationView.of(job);
    });
  }

  private assertAdmin(caller: Caller): void {
    if (!caller.admin) throw new ForbiddenError("projects' keys are for the admin");
  }
}
