import { Body, Controller, Get, Param, Put, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { AuthGuard } from '../auth/auth.guard';
import { Caller, CurrentCaller } from '../auth/caller';
import { QuotaView, SetQuotaDto } from '../dtos/quota.dto';
import { QuotaService } from '../requests/quota.service';

@ApiTags('quotas')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@Controller('v1/quotas')
export class QuotasController {
  constructor(private readonly quotas: QuotaService) {}

  @Get()
  @ApiOkResponse({ type: QuotaView, description: "the caller's project: its limits and what it uses" })
  mine(@CurrentCaller() caller: Caller): Promise<QuotaView> {
    return this.quotas.show(caller);
  }

  @Get(':project')
  @ApiOkResponse({ type: QuotaView })
  show(@CurrentCaller() caller: Caller, @Param('project') project: string): Promise<QuotaView> {
    return this.quotas.show(caller, project);
  }

  @Put(':project')
  @ApiOkResponse({ type: QuotaView, description: "admin: sets the project's own limits (null: back to the default)" })
  set(@CurrentCaller() caller: Caller, @Param('project') project: string, @Body() dto: SetQuotaDto): Promise<QuotaView> {
    return this.quotas.set(caller, project, dto);
  }
}
