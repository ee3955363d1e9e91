import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { ApiBearerAuth, ApiOkResponse, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AuthGuard } from '../auth/auth.guard';
import { Caller, CurrentCaller } from '../auth/caller';
import { CopySnapshotDto, CreateSnapshotDto, CreateSnapshotGroupDto, SnapshotGroupView, SnapshotListView, SnapshotView } from '../dtos/snapshot.dto';
import { booleanQuery } from './boolean-query';
import { SnapshotCopyService } from '../requests/snapshot-copy.service';
import { SnapshotService } from '../requests/snapshot.service';
import { LIST_MAX_LIMIT } from '../requests/list-query';
import { ChangedBlocksView } from '../dtos/snapshot-data.dto';
import { CHANGED_BLOCKS_DEFAULT_LIMIT, CHANGED_BLOCKS_MAX_LIMIT, SnapshotDataService } from '../requests/snapshot-data.service';

@ApiTags('snapshots')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@Controller('v1/snapshots')
export class SnapshotsController {
  constructor(
    private readonly snapshots: SnapshotService,
    private readonly copies: SnapshotCopyService,
    private readonly data: SnapshotDataService,
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
  @ApiQuery({ name: 'marker', required: false, description: "the previous page's nextMarker" })
  @ApiQuery({ name: 'limit', required: false, description: `snapshots per page (default and at most ${LIST_MAX_LIMIT})` })
  @ApiOkResponse({ type: SnapshotListView, description: 'oldest first; the recycle bin: the soonest purged first' })
  list(
    @CurrentCaller() caller: Caller,
    @Query('volumeId') volumeId?: string,
    @Query('deleted') deleted?: string,
    @Query('marker') marker?: string,
    @Query('limit') limit?: string,
  ): Promise<SnapshotListView> {
    return this.snapshots.list(caller, { volumeId, deleted: booleanQuery('deleted', deleted), marker, limit });
  }

  @Get(':id')
  @ApiOkResponse({ type: SnapshotView })
  show(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<SnapshotView> {
    return this.snapshots.show(caller, id);
  }

  @Get(':id/changed-blocks')
  @ApiQuery({ name: 'base', required: false, description: 'an older snapshot of the same volume; without it, changed from an empty volume' })
  @ApiQuery({ name: 'marker', required: false, description: "the previous page's nextMarker" })
  @ApiQuery({ name: 'limit', required: false, description: `indexes per page (default ${CHANGED_BLOCKS_DEFAULT_LIMIT}, at most ${CHANGED_BLOCKS_MAX_LIMIT})` })
  @ApiOkResponse({ type: ChangedBlocksView, description: 'Block indexes whose content differs, from the catalog alone (cost follows what changed)' })
  changedBlocks(
    @CurrentCaller() caller: Caller,
    @Param('id') id: string,
    @Query('base') base?: string,
    @Query('marker') marker?: string,
    @Query('limit') limit?: string,
  ): Promise<ChangedBlocksView> {
    return this.data.changedBlocks(caller, id, { base, marker, limit });
  }

  @Get(':id/blocks/:index')
  @ApiProduces('application/octet-stream')
  @ApiOkResponse({
    description:
      "The block's bytes (decrypted, verified); X-Checksum-Sha256 is their SHA-256, X-Island-Hole: true for zeros never stored; the ETag is the SHA-256 too",
  })
  async block(@CurrentCaller() caller: Caller, @Param('id') id: string, @Param('index') index: string, @Res() res: Response): Promise<void> {
    const block = await this.data.block(caller, id, index);
    res
      .status(200)
      // the block's SHA-256 is its ETag: Express would otherwise hash the megabyte again (SHA-1) for one of its own
      .set({ 'content-type': 'application/octet-stream', 'x-checksum-sha256': block.sha256, 'x-island-hole': String(block.hole), etag: `"${block.sha256}"` })
      .send(block.data);
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
