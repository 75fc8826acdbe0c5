import 'reflect-metadata';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayNotEmpty, IsArray, IsIn, IsString, Matches, MaxLength, ValidateNested } from 'class-validator';
import { PINNING_MODES, PinningMode } from './pinning';
import { MAX_PATTERNS_PER_RULE, MAX_RULES, MAX_SUBJECTS_PER_RULE } from './tool-rule';

/** One rule of `upstreams[].tools.rules` in config.yaml (see ToolRule). */
export class ToolRuleConfig {
  @IsIn(['allow', 'deny'], { message: 'must be allow or deny' })
  effect: 'allow' | 'deny';

  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(MAX_PATTERNS_PER_RULE)
  @Matches(/^[A-Za-z0-9_.\-/*?]{1,128}$/, { each: true, message: 'must be tool names or globs (letters, digits, _ . - /, * and ?)' })
  tools: string[];

  @IsArray()
  @ArrayMaxSize(MAX_SUBJECTS_PER_RULE)
  @IsString({ each: true })
  @MaxLength(320, { each: true })
  users: string[] = [];

  @IsArray()
  @ArrayMaxSize(MAX_SUBJECTS_PER_RULE)
  @IsString({ each: true })
  @MaxLength(320, { each: true })
  groups: string[] = [];
}

/** `upstreams[].tools` in config.yaml: `{ rules: [...], pinning: off|warn|quarantine }`. */
export class UpstreamToolsConfig {
  @IsArray()
  @ArrayMaxSize(MAX_RULES)
  @ValidateNested({ each: true })
  @Type(() => ToolRuleConfig)
  rules: ToolRuleConfig[] = [];

  @IsIn(PINNING_MODES, { message: `must be one of: ${PINNING_MODES.join(', ')}` })
  pinning: PinningMode = 'off';
}
