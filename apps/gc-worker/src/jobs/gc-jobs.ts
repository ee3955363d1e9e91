import { Injectable } from '@nestjs/common';
import { CatalogRebuild, CatalogRebuildJob, Fsck, FsckJob, GcRun, GcRunJob, KeyShred, KeyShredJob, KeysRotate, KeysRotateJob } from '@island/contracts';
import { OnMessage } from '@island/messaging';
import { FsckChecker } from '../fsck/fsck';
import { GarbageCollector } from '../gc/garbage-collector';
import { OperationRunner } from '../gc/operation-runner';
import { KeyManagement } from '../keys/key-management';
import { CatalogRebuilder } from '../rebuild/catalog-rebuild';

/** The operator's operations on a region and on keys: each runs with its progress and its report sent to the API. */
@Injectable()
export class GcJobs {
  constructor(
    private readonly collector: GarbageCollector,
    private readonly checker: FsckChecker,
    private readonly rebuilder: CatalogRebuilder,
    private readonly keys: KeyManagement,
    private readonly runner: OperationRunner,
  ) {}

  @OnMessage(GcRun)
  run(job: GcRunJob): Promise<void> {
    return this.runner.run(GcRun.name, job.operationId, (progress) =>
      this.collector.collect(job.region, job.graceSeconds, job.dryRun, (done) => progress(done, done)),
    );
  }

  @OnMessage(Fsck)
  fsck(job: FsckJob): Promise<void> {
    return this.runner.run(Fsck.name, job.operationId, (progress) =>
      this.checker.check(job.region, { deep: job.deep, repair: job.repair, mibPerSecond: job.mibPerSecond }, progress),
    );
  }

  @OnMessage(CatalogRebuild)
  catalogRebuild(job: CatalogRebuildJob): Promise<void> {
    return this.runner.run(
      CatalogRebuild.name,
      job.operationId,
      (progress) => this.rebuilder.rebuild(job.region, { acceptPlain: job.acceptPlain }, progress) as Promise<object>,
    );
  }

  @OnMessage(KeysRotate)
  keysRotate(job: KeysRotateJob): Promise<void> {
    return this.runner.run(KeysRotate.name, job.operationId, (progress) => this.keys.rotate(progress) as Promise<object>);
  }

  @OnMessage(KeyShred)
  keyShred(job: KeyShredJob): Promise<void> {
    return this.runner.run(KeyShred.name, job.operationId, () => this.keys.shred(job.projectId) as Promise<object>);
  }
}
