import 'reflect-metadata';
import { runService } from '@island/platform';
import { WorkerModule } from './worker.module';

runService({ name: 'snapshot-worker', module: WorkerModule, port: (config) => config.ports.worker });
