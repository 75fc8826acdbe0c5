import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, Length, MaxLength, ValidateNested } from 'class-validator';
import { TOOL_ARGUMENTS_MODES, ToolArgumentsMode } from '../audit/tool-arguments';
import { PINNING_MODES, PinningMode } from '../tool-policy/pinning';

/**
 * The shapes of the upstream routes' bodies. They check types only: the rules of an upstream
 * (slug format, url, timeout range, scopes, each auth mode's fields) are config.yaml's own,
 * applied by UpstreamAdminService with the config classes, so the console and the file cannot drift.
 */
export class AllowListDto {
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  users?: string[];

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  emails?: string[];

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  emailDomains?: string[];

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  groups?: string[];
}

/** What the audit log keeps of the upstream's traffic (config.yaml's `audit.tool_arguments`). */
export class UpstreamAuditDto {
  @IsOptional()
  @IsIn(TOOL_ARGUMENTS_MODES, { message: `must be one of: ${TOOL_ARGUMENTS_MODES.join(', ')}` })
  toolArguments?: ToolArgumentsMode;
}

/** PATCH /admin/api/upstreams/:slug: any of the fields; `auth` replaces the whole block (a blank or omitted secret keeps the stored one). */
export class UpdateUpstreamDto {
  /** Only the upstream's own slug (it cannot be changed). */
  @IsOptional()
  @IsString()
  @MaxLength(63)
  slug?: string;

  @IsOptional()
  @IsString()
  @Length(1, 200)
  name?: string;

  @IsOptional()
  @IsString()
  @MaxLength(2048)
  url?: string;

  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  @IsOptional()
  @IsInt()
  timeoutSeconds?: number;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  scopes?: string[];

  /** `{ mode, ...that mode's fields }` as GET /admin/api/upstreams/auth-modes describes them. */
  @IsOptional()
  @IsObject()
  auth?: Record<string, unknown>;

  @IsOptional()
  @ValidateNested()
  @Type(() => AllowListDto)
  allow?: AllowListDto;

  @IsOptional()
  @ValidateNested()
  @Type(() => UpstreamAuditDto)
  audit?: UpstreamAuditDto;
  /** The tool catalogue's pinning mode (tool-policy/); also PUT /upstreams/:slug/tool-pinning. */
  @IsOptional()
  @IsIn(PINNING_MODES, { message: `must be one of: ${PINNING_MODES.join(', ')}` })
  toolPinning?: PinningMode;

  /** http, stdio or spawn; the process fields below are for stdio and spawn (checked by the config's rules). */
  @IsOptional()
  @IsString()
  transport?: string;

  @IsOptional()
  @IsString()
  @MaxLength(4096)
  command?: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(200)
  @IsString({ each: true })
  args?: string[];

  /** Name → value; values are write-only (a blank value keeps the stored one). */
  @IsOptional()
  @IsObject()
  env?: Record<string, string>;

  @IsOptional()
  @IsString()
  @MaxLength(4096)
  cwd?: string;

  @IsOptional()
  @IsString()
  instances?: string;

  @IsOptional()
  @IsInt()
  idleTimeoutSeconds?: number;

  @IsOptional()
  @IsInt()
  maxProcesses?: number;

  /** spawn: a port number, or "{port}". */
  @IsOptional()
  port?: number | string;

  @IsOptional()
  @IsString()
  @MaxLength(2048)
  path?: string;
}

/** POST /admin/api/upstreams: slug and url are required (the service reports them missing as config.yaml would). */
export class CreateUpstreamDto extends UpdateUpstreamDto {}
