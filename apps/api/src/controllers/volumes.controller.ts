import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AuthGuard } from '../auth/auth.guard';
import { Caller, CurrentCaller } from '../auth/caller';
import { AttachVolumeDto, CreateVolumeDto, EvacuateVolumeDto, ExtendVolumeDto, RevertVolumeDto, VolumeListView, VolumeView } from '../dtos/volume.dto';
import { booleanQuery } from './boolean-query';
import { LIST_MAX_LIMIT } from '../requests/list-query';
import { VolumeEvacuationService } from '../requests/volume-evacuation.service';
import { VolumeService } from '../requests/volume.service';

@ApiTags('volumes')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@Controller('v1/volumes')
export class VolumesController {
  constructor(
    private readonly volumes: VolumeService,
    private readonly evacuation: VolumeEvacuationService,
  ) {}

  @Post()
  @ApiOkResponse({ type: VolumeView })
  create(@CurrentCaller() caller: Caller, @Body() dto: CreateVolumeDto): Promise<VolumeView> {
    return this.volumes.create(caller, dto);
  }

  @Get()
  @ApiQuery({ name: 'marker', required: false, description: "the previous page's nextMarker" })
  @ApiQuery({ name: 'limit', required: false, description: `volumes per page (default and at most ${LIST_MAX_LIMIT})` })
  @ApiOkResponse({ type: VolumeListView, description: 'oldest first' })
  list(@CurrentCaller() caller: Caller, @Query('marker') marker?: string, @Query('limit') limit?: string): Promise<VolumeListView> {
    return this.volumes.list(caller, { marker, limit });
  }

  @Get(':id')
  @ApiOkResponse({ type: VolumeView })
  show(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<VolumeView> {
    return this.volumes.show(caller, id);
  }

  @Post(':id/attach')
  @HttpCode(202)
  @ApiOkResponse({ type: VolumeView, description: 'status attaching until the image exists on the host, then in-use with connection' })
  attach(@CurrentCaller() caller: Caller, @Param('id') id: string, @Body() dto: AttachVolumeDto): Promise<VolumeView> {
    return this.volumes.attach(caller, id, dto);
  }

  @Post(':id/evacuate')
  @HttpCode(202)
  @ApiOkResponse({
    type: VolumeView,
    description:
      'admin: recreates on another host, from its last snapshot, a volume whose host has been silent for 5 minutes; statusReason says which snapshot it came back as',
  })
  evacuate(@CurrentCaller() caller: Caller, @Param('id') id: string, @Body() dto: EvacuateVolumeDto): Promise<VolumeView> {
    return this.evacuation.evacuate(caller, id, dto.host);
  }

  @Post(':id/detach')
  @HttpCode(200)
  @ApiOkResponse({ type: VolumeView })
  detach(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<VolumeView> {
    return this.volumes.detach(caller, id);
  }

  @Post(':id/extend')
  @HttpCode(202)
  @ApiOkResponse({ type: VolumeView, description: 'status extending until the image on the host has grown' })
  extend(@CurrentCaller() caller: Caller, @Param('id') id: string, @Body() dto: ExtendVolumeDto): Promise<VolumeView> {
    return this.volumes.extend(caller, id, dto.sizeBytes);
  }

  @Post(':id/revert')
  @HttpCode(202)
  @ApiOkResponse({ type: VolumeView, description: "status reverting until the image holds the snapshot's content" })
  revert(@CurrentCaller() caller: Caller, @Param('id') id: string, @Body() dto: RevertVolumeDto): Promise<VolumeView> {
    return this.volumes.revert(caller, id, dto.snapshotId);
  }

  @Delete(':id')
  @HttpCode(202)
  @ApiQuery({ name: 'cascade', required: false, description: "true: delete the volume's snapshots with it" })
  @ApiOkResponse({ type: VolumeView })
  delete(@CurrentCaller() caller: Caller, @Param('id') id: string, @Query('cascade') cascade?: string): Promise<VolumeView> {
    return this.volumes.delete(caller, id, { cascade: booleanQuery('cascade', cascade) });
  }
}
