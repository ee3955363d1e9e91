import { Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AuthGuard } from '../auth/auth.guard';
import { Caller, CurrentCaller } from '../auth/caller';
import { OperationView, RunningOperationView, StartCatalogRebuildDto, StartFsckDto, StartGcRunDto } from '../dtos/operation.dto';
import { booleanQuery } from './boolean-query';
import { OperationsService } from '../requests/operations.service';

@ApiTags('operations')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@Controller('v1')
export class OperationsController {
  constructor(private readonly operations: OperationsService) {}

  @Get('operations')
  @ApiQuery({ name: 'stuck', required: false, description: 'true: only operations without progress for over two minutes' })
  @ApiOkResponse({ type: RunningOperationView, isArray: true, description: "running operations: the project's own, every one for the admin" })
  async list(@CurrentCaller() caller: Caller, @Query('stuck') stuck?: string): Promise<{ operations: RunningOperationView[] }> {
    return { operations: await this.operations.listRunning(caller, { stuck: booleanQuery('stuck', stuck) }) };
  }

  @Get('operations/:id')
  @ApiOkResponse({ type: OperationView })
  show(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<OperationView> {
    return this.operations.show(caller, id);
  }

  @Post('gc/runs')
  @HttpCode(202)
  @ApiOkResponse({ type: OperationView, description: 'admin: result {blocksDeleted, bytesFreed, blocksPending, …} when succeeded' })
  gc(@CurrentCaller() caller: Caller, @Body() dto: StartGcRunDto): Promise<OperationView> {
    return this.operations.startGcRun(caller, dto);
  }

  @Post('fsck')
  @HttpCode(202)
  @ApiOkResponse({ type: OperationView, description: 'admin: result {ok, problems, …} when succeeded' })
  fsck(@CurrentCaller() caller: Caller, @Body() dto: StartFsckDto): Promise<OperationView> {
    return this.operations.startFsck(caller, dto);
  }

  @Post('catalog/rebuild')
  @HttpCode(202)
  @ApiOkResponse({ type: OperationView, description: 'admin: rebuilds an empty catalog of a region from its Swift manifests' })
  rebuild(@CurrentCaller() caller: Caller, @Body() dto: StartCatalogRebuildDto): Promise<OperationView> {
    return this.operations.startCatalogRebuild(caller, dto);
  }
}
