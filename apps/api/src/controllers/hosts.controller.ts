import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { AuthGuard } from '../auth/auth.guard';
import { Caller, CurrentCaller } from '../auth/caller';
import { HostView } from '../dtos/host.dto';
import { HostService } from '../requests/host.service';

@ApiTags('hosts')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@Controller('v1/hosts')
export class HostsController {
  constructor(private readonly hosts: HostService) {}

  @Get()
  @ApiOkResponse({ type: HostView, isArray: true })
  async list(@CurrentCaller() caller: Caller): Promise<{ hosts: HostView[] }> {
    return { hosts: await this.hosts.list(caller) };
  }
}
