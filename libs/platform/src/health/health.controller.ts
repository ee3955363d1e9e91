import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ReadinessRegistry, ReadinessReport } from './readiness.registry';

@Controller()
export class HealthController {
  constructor(private readonly readiness: ReadinessRegistry) {}

  /** Liveness: the process runs and its event loop answers. */
  @Get('healthz')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: every dependency the service needs answers now (503 with the report otherwise). */
  @Get('readyz')
  async ready(): Promise<ReadinessReport> {
    const report = await this.readiness.report();
    if (!report.ready) throw new ServiceUnavailableException(report);
    return report;
  }
}
