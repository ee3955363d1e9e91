import { Injectable } from '@nestjs/common';
import { CatalogRebuild, CatalogRebuildJob } from '@island/contracts';
import { OnMessage } from '@island/messaging';
import { OperationRunner } from '../gc/operation-runner';
import { CatalogRebuilder } from './catalog-rebuild';

@Injectable()
export class CatalogRebuildHandler {
  constructor(
    private readonly rebuilder: CatalogRebuilder,
    private readonly runner: OperationRunner,
  ) {}

  @OnMessage(CatalogRebuild)
  run(job: CatalogRebuildJob): Promise<void> {
    return this.runner.run(CatalogRebuild.name, job.operationId, (progress) => this.rebuilder.rebuild(job.region, progress) as Promise<object>);
  }
}
