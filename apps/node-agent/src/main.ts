import 'reflect-metadata';
import { runService } from '@island/platform';
import { AgentModule } from './agent.module';

runService({ name: 'node-agent', module: AgentModule, port: (config) => config.ports.agent });
