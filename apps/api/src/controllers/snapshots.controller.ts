import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AuthGuard } from '../auth/auth.guard';
import { Caller, CurrentCaller } from '../auth/caller';
import { CopySnapshotDto, CreateSnapshotDto, CreateSnapshotGroupDto, SnapshotGroupView, SnapshotView } from '../dtos/snapshot.dto';
import { booleanQuery } from './boolean-query';
import { SnapshotCopyService } from '../requests/snapshot-copy.service';
import { SnapshotService } from '../requests/snapshot.service';

@ApiTags('snapshots')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@Controller('v1/snapshots')
export class SnapshotsController {
  constructor(
    private readonly snapshots: SnapshotService,
    private readonly copies: SnapshotCopyService,
  ) {}

  @Post()
  @HttpCode(202)
  @ApiOkResponse({ type: SnapshotView, description: 'status pending once the point in time is safe; available when stored' })
  create(@CurrentCaller() caller: Caller, @Body() dto: CreateSnapshotDto): Promise<SnapshotView> {
    return this.snapshots.create(caller, dto);
  }

  @Post('groups')
  @HttpCode(202)
  @ApiOkResponse({ type: SnapshotGroupView, description: 'Several volumes at one instant; each snapshot then goes on like a single one' })
  createGroup(@CurrentCaller() caller: Caller, @Body() dto: CreateSnapshotGroupDto): Promise<SnapshotGroupView> {
    return this.snapshots.createGroup(caller, dto);
  }

  @Get()
  @ApiQuery({ name: 'volumeId', required: false })
  @ApiQuery({ name: 'deleted', required: false, description: 'true: the recycle bin (deleted snapshots still restorable, with deletedAt and purgeAfter)' })
  @ApiOkResponse({ type: SnapshotView, isArray: true })
  async list(
    @CurrentCaller() caller: Caller,
    @Query('volumeId') volumeId?: string,
    @Query('deleted') deleted?: string,
  ): Promise<{ snapshots: SnapshotView[] }> {
    return { snapshots: await this.snapshots.list(caller, volumeId, booleanQuery('deleted', deleted)) };
  }

  @Get(':id')
  @ApiOkResponse({ type: SnapshotView })
  show(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<SnapshotView> {
    return this.snapshots.show(caller, id);
  }

  @Post(':id/copy')
  @HttpCode(202)
  @ApiOkResponse({
    type: SnapshotView,
    description: 'The copy in the region (a snapshot of that region): uploading until its blocks are there, then available. Asking again returns it.',
  })
  copy(@CurrentCaller() caller: Caller, @Param('id') id: string, @Body() dto: CopySnapshotDto): Promise<SnapshotView> {
    return this.copies.copy(caller, id, dto.region);
  }

  @Delete(':id')
  @HttpCode(202)
  @ApiQuery({ name: 'purge', required: false, description: 'admin, true: drop it now, skipping (or emptying) the recycle bin' })
  @ApiOkResponse({ type: SnapshotView, description: 'status recycled (kept restorable until purgeAfter) when the project has a retention, else deleted' })
  delete(@CurrentCaller() caller: Caller, @Param('id') id: string, @Query('purge') purge?: string): Promise<SnapshotView> {
    return this.snapshots.delete(caller, id, { purge: booleanQuery('purge', purge) });
  }

  @Post(':id/undelete')
  @ApiOkResponse({ type: SnapshotView, description: 'Out of the recycle bin: available again (409 for a live snapshot, 404 once purged)' })
  undelete(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<SnapshotView> {
    return this.snapshots.undelete(caller, id);
  }
}
