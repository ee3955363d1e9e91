import { Injectable } from '@nestjs/common';
import { Fsck, FsckJob } from '@island/contracts';
import { OnMessage } from '@island/messaging';
import { OperationRunner } from '../gc/operation-runner';
import { FsckChecker } from './fsck';

@Injectable()
export class FsckHandler {
  constructor(
    private readonly checker: FsckChecker,
    private readonly runner: OperationRunner,
  ) {}

  @OnMessage(Fsck)
  run(job: FsckJob): Promise<void> {
    return this.runner.run(Fsck.name, job.operationId, (progress) => this.checker.check(job.region, { deep: job.deep, repair: job.repair }, progress));
  }
}
