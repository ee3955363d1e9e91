import { Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiQuery, ApiTags } from '@nestjs/swagger';
import { DeadLetter } from '@island/catalog';
import { AuthGuard } from '../auth/auth.guard';
import { Caller, CurrentCaller } from '../auth/caller';
import { InvalidRequestError } from '../errors/domain-errors';
import { DeadLettersService } from './dead-letters.service';

export class DeadLetterView {
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'The message contract, e.g. volume.restore' }) contract!: string;
  @ApiPropertyOptional({ nullable: true, type: Number }) version!: number | null;
  @ApiProperty() routingKey!: string;
  @ApiPropertyOptional({ nullable: true, type: String, description: 'The queue it failed on' }) queue!: string | null;
  @ApiProperty({ description: 'Why it failed for good' }) reason!: string;
  @ApiProperty({ type: Object }) payload!: unknown;
  @ApiProperty() failedAt!: string;
  @ApiPropertyOptional({ nullable: true, type: String }) retriedAt!: string | null;

  static of(d: DeadLetter): DeadLetterView {
    return { ...d, failedAt: d.failedAt.toISOString(), retriedAt: d.retriedAt?.toISOString() ?? null };
  }
}

@ApiTags('operations')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@Controller('v1/dead-letters')
export class DeadLettersController {
  constructor(private readonly deadLetters: DeadLettersService) {}

  @Get()
  @ApiQuery({ name: 'pending', required: false, description: 'true: only those not re-sent' })
  @ApiOkResponse({ type: DeadLetterView, isArray: true, description: 'admin: messages that failed for good, newest first' })
  async list(@CurrentCaller() caller: Caller, @Query('pending') pending?: string): Promise<{ deadLetters: DeadLetterView[] }> {
    if (pending !== undefined && pending !== 'true' && pending !== 'false') throw new InvalidRequestError(`pending must be true or false, not ${pending}`);
    return { deadLetters: (await this.deadLetters.list(caller, { pending: pending === 'true' })).map((d) => DeadLetterView.of(d)) };
  }

  @Post(':id/retry')
  @HttpCode(202)
  @ApiOkResponse({ type: DeadLetterView, description: 'admin: sent again as a first attempt, to where it was going' })
  async retry(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<DeadLetterView> {
    return DeadLetterView.of(await this.deadLetters.retry(caller, id));
  }
}
