import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { BearerTokenGuard } from '../auth/bearer-token.guard';
import { HostView } from '../dtos/host.dto';
import { HostService } from '../services/host.service';

@ApiTags('hosts')
@ApiBearerAuth()
@UseGuards(BearerTokenGuard)
@Controller('v1/hosts')
export class HostsController {
  constructor(private readonly hosts: HostService) {}

  @Get()
  @ApiOkResponse({ type: HostView, isArray: true })
  async list(): Promise<{ hosts: HostView[] }> {
    return { hosts: await this.hosts.list() };
  }
}
