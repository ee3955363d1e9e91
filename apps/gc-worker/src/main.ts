import 'reflect-metadata';
import { runService } from '@island/platform';
import { GcModule } from './gc.module';

runService({ name: 'gc-worker', module: GcModule, port: (config) => config.ports.gc });
