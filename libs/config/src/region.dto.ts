import { IsIn, IsOptional, IsString, Matches, MinLength } from 'class-validator';

export class RegionDto {
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, { message: 'name must be a region name' })
  name!: string;

  @Matches(/^https?:\/\/\S+$/, { message: 'authUrl must be an http(s) URL' })
  authUrl!: string;

  @IsOptional()
  @IsIn(['1', '3'], { message: "authVersion must be '1' (tempauth) or '3' (Keystone)" })
  authVersion?: '1' | '3';

  @IsString()
  @MinLength(1)
  user!: string;

  @IsString()
  @MinLength(1)
  key!: string;

  @IsOptional()
  @IsString()
  project?: string;

  @IsOptional()
  @IsString()
  domain?: string;

  @IsOptional()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/, { message: 'container must be a Swift container name' })
  container?: string;
}
