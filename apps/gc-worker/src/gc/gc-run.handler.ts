import { Injectable } from '@nestjs/common';
import { GcRun, GcRunJob } from '@island/contracts';
import { OnMessage } from '@island/messaging';
import { GarbageCollector } from './garbage-collector';
import { OperationRunner } from './operation-runner';

@Injectable()
export class GcRunHandler {
  constructor(
    private readonly collector: GarbageCollector,
    private readonly runner: OperationRunner,
  ) {}

  @OnMessage(GcRun)
  run(job: GcRunJob): Promise<void> {
    return this.runner.run(GcRun.name, job.operationId, (progress) =>
      this.collector.collect(job.region, job.graceSeconds, job.dryRun, (done) => progress(done, done)),
    );
  }
}
