import { ArrayMaxSize, IsArray, IsIn } from 'class-validator';
import { PINNING_MODES, PinningMode } from '../tool-policy/pinning';
import { MAX_RULES } from '../tool-policy/tool-rule';

/** PUT /admin/api/upstreams/:slug/tool-rules: the whole ordered list (each rule is checked by ruleProblems, naming `rules[i].field`). */
export class ToolRulesDto {
  @IsArray()
  @ArrayMaxSize(MAX_RULES)
  rules: unknown[];
}

/** PUT /admin/api/upstreams/:slug/tool-pinning */
export class ToolPinningDto {
  @IsIn(PINNING_MODES, { message: `must be one of: ${PINNING_MODES.join(', ')}` })
  pinning: PinningMode;
}
