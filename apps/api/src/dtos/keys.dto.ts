import { ApiProperty } from '@nestjs/swagger';
import { IsString, MaxLength } from 'class-validator';

/** A project's key as operators see it: never key material, only which KEK wraps it and its history. */
export class ProjectKeyView {
  @ApiProperty() projectId!: string;
  @ApiProperty({ description: 'The KEK that wraps the key (an id derived from it, not the key)' }) kekId!: string;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ nullable: true, type: String }) rotatedAt!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'Set once the key was destroyed: the project’s snapshots are unreadable' })
  shreddedAt!: string | null;
}

export class ShredProjectKeyDto {
  @ApiProperty({ description: 'The project id again: shredding makes every snapshot of the project unreadable, for good' })
  @IsString()
  @MaxLength(64)
  confirm!: string;
}
