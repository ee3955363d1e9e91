import { Body, Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { AuthGuard } from '../auth/auth.guard';
import { Caller, CurrentCaller } from '../auth/caller';
import { ProjectKeyView, ShredProjectKeyDto } from '../dtos/keys.dto';
import { OperationView } from '../dtos/operation.dto';
import { KeysService } from '../requests/keys.service';

@ApiTags('keys')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@Controller('v1')
export class KeysController {
  constructor(private readonly keys: KeysService) {}

  @Get('keys')
  @ApiOkResponse({ type: ProjectKeyView, isArray: true, description: "admin: every project's key status (no key material)" })
  async list(@CurrentCaller() caller: Caller): Promise<{ keys: ProjectKeyView[] }> {
    return { keys: await this.keys.list(caller) };
  }

  @Post('keys/rotate')
  @HttpCode(202)
  @ApiOkResponse({ type: OperationView, description: 'admin: result {kekId, rewrapped, retiredKeks, …} when succeeded' })
  rotate(@CurrentCaller() caller: Caller): Promise<OperationView> {
    return this.keys.rotate(caller);
  }

  @Post('projects/:project/key/shred')
  @HttpCode(202)
  @ApiOkResponse({ type: OperationView, description: "admin: destroys the project's key; body {confirm: <project id>}" })
  shred(@CurrentCaller() caller: Caller, @Param('project') project: string, @Body() dto: ShredProjectKeyDto): Promise<OperationView> {
    return this.keys.shred(caller, project, dto);
  }
}
