import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { AuthGuard } from '../auth/auth.guard';
import { Caller, CurrentCaller } from '../auth/caller';
import { RegionView } from '../dtos/region.dto';
import { RegionService } from '../requests/region.service';

@ApiTags('regions')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@Controller('v1/regions')
export class RegionsController {
  constructor(private readonly regions: RegionService) {}

  @Get()
  @ApiOkResponse({ type: RegionView, isArray: true })
  async list(@CurrentCaller() caller: Caller): Promise<{ regions: RegionView[] }> {
    return { regions: await this.regions.list(caller) };
  }
}
