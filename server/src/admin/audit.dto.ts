import { Transform, Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import type { AuditFilter } from '../audit/audit-query';
import { DASHBOARD_RANGES, DashboardRange, TOOL_WINDOWS, ToolWindow } from '../audit/dashboard.service';
import { ExportFormat } from '../audit/audit-export';
import { invalidFields } from '../common/api-errors';

/** An empty query value (`?tool=`) is no filter, as the console's forms send it. */
const blankIsAbsent = ({ value }: { value: unknown }) => (value === '' ? undefined : value);
const EPOCH_MS = { message: 'must be a time in epoch milliseconds' };
const OUTCOMES = ['success', 'failure'] as const;
const FORMATS: ExportFormat[] = ['csv', 'jsonl'];

/** The filters of GET /admin/api/audit and its export: all optional, all given must match. */
export class AuditFilterQuery {
  /** Inclusive, epoch ms. */
  @IsOptional()
  @Transform(blankIsAbsent)
  @Type(() => Number)
  @IsInt(EPOCH_MS)
  @Min(0, EPOCH_MS)
  @Max(8.64e15, EPOCH_MS)
  from?: number;

  /** Inclusive, epoch ms. */
  @IsOptional()
  @Transform(blankIsAbsent)
  @Type(() => Number)
  @IsInt(EPOCH_MS)
  @Min(0, EPOCH_MS)
  @Max(8.64e15, EPOCH_MS)
  to?: number;

  @IsOptional()
  @Transform(blankIsAbsent)
  @IsString()
  @MaxLength(200)
  userId?: string;

  @IsOptional()
  @Transform(blankIsAbsent)
  @IsString()
  @MaxLength(2048)
  clientId?: string;

  @IsOptional()
  @Transform(blankIsAbsent)
  @IsString()
  @MaxLength(200)
  upstream?: string;

  @IsOptional()
  @Transform(blankIsAbsent)
  @IsString()
  @MaxLength(200)
  type?: string;

  @IsOptional()
  @Transform(blankIsAbsent)
  @IsIn(OUTCOMES, { message: `must be one of: ${OUTCOMES.join(', ')}` })
  outcome?: (typeof OUTCOMES)[number];

  @IsOptional()
  @Transform(blankIsAbsent)
  @IsString()
  @MaxLength(200)
  mcpMethod?: string;

  @IsOptional()
  @Transform(blankIsAbsent)
  @IsString()
  @MaxLength(200)
  tool?: string;
}

/** `?limit&cursor` plus the filters (PageQuery's two fields, as a class cannot extend two). */
export class ListAuditQuery extends AuditFilterQuery {
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  limit?: number;

  @IsOptional()
  @IsString()
  @MaxLength(512)
  cursor?: string;
}

export class ExportAuditQuery extends AuditFilterQuery {
  @IsIn(FORMATS, { message: `must be one of: ${FORMATS.join(', ')}` })
  format: ExportFormat;
}

export class DashboardQuery {
  /** Default 24h. */
  @IsOptional()
  @IsIn(Object.keys(DASHBOARD_RANGES), { message: `must be one of: ${Object.keys(DASHBOARD_RANGES).join(', ')}` })
  range?: DashboardRange;
}

/** GET /admin/api/dashboard/tools: `?window=1h|24h|7d (default 24h)&upstream=<slug>&limit=1..500 (default 50)`. */
export class ToolFiguresQuery {
  @IsOptional()
  @Transform(blankIsAbsent)
  @IsIn(Object.keys(TOOL_WINDOWS), { message: `must be one of: ${Object.keys(TOOL_WINDOWS).join(', ')}` })
  window?: ToolWindow;

  @IsOptional()
  @Transform(blankIsAbsent)
  @IsString()
  @MaxLength(200)
  upstream?: string;

  @IsOptional()
  @Transform(blankIsAbsent)
  @Type(() => Number)
  @IsInt({ message: 'must be an integer from 1 to 500' })
  @Min(1, { message: 'must be an integer from 1 to 500' })
  @Max(500, { message: 'must be an integer from 1 to 500' })
  limit?: number;
}

/** The service's filter from a validated query; 400 naming `to` when the range is reversed. */
export function auditFilterOf(q: AuditFilterQuery): AuditFilter {
  if (q.from !== undefined && q.to !== undefined && q.from > q.to) throw invalidFields({ to: 'must not be before from' });
  const { from, to, userId, clientId, upstream, type, outcome, mcpMethod, tool } = q;
  const filter: AuditFilter = { from, to, userId, clientId, upstream, type, outcome, mcpMethod, tool };
  for (const key of Object.keys(filter) as (keyof AuditFilter)[]) if (filter[key] === undefined) delete filter[key];
  return filter;
}
