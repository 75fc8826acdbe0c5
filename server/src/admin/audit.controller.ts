import { Get, Param, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { EXPORT_CONTENT_TYPES } from '../audit/audit-export';
import { AuditEntryView, entryView, UserEmails } from '../audit/audit-query';
import { AuditQueryService } from '../audit/audit-query.service';
import { invalidFields, notFound } from '../common/api-errors';
import { Roles } from '../identity/roles.guard';
import { UsersService } from '../identity/users.service';
import { AdminApi } from './admin-api';
import { auditFilterOf, ExportAuditQuery, ListAuditQuery } from './audit.dto';
import { encodeCursor, Page, pageRequest } from './pagination';

/** /admin/api/audit: the audit log, read by admins and auditors (nothing here changes it). */
@AdminApi('audit')
export class AuditController {
  constructor(
    private readonly audit: AuditQueryService,
    private readonly users: UsersService,
  ) {}

  /** `?from&to&userId&clientId&upstream&type&outcome&mcpMethod&tool&limit&cursor` → newest first. */
  @Get()
  @Roles('admin', 'auditor')
  async list(@Query() query: ListAuditQuery): Promise<Page<AuditEntryView>> {
    const filter = auditFilterOf(query);
    const page = pageRequest<[number, number]>(query, ['number', 'number']);
    const after = page.after ? { at: page.after[0], id: page.after[1] } : null;
    const { entries, next } = await this.audit.page(filter, after, page.limit);
    const emails = await this.emailsOf(entries.map((e) => e.userId).filter((id): id is string => id !== null));
    return { items: entries.map((e) => entryView(e, emails)), nextCursor: next ? encodeCursor([next.at, next.id]) : null };
  }

  /** → string[]: the event types in the log. */
  @Get('event-types')
  @Roles('admin', 'auditor')
  eventTypes(): Promise<string[]> {
    return this.audit.eventTypes();
  }

  /**
   * `?format=csv|jsonl&<the list's filters>` → the whole filtered set as a download, streamed
   * (memory stays flat however many rows; see AuditQueryService.exportTo).
   */
  @Get('export')
  @Roles('admin', 'auditor')
  async export(@Query() query: ExportAuditQuery, @Res() res: Response): Promise<void> {
    const filter = auditFilterOf(query);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    res.status(200);
    res.setHeader('Content-Type', EXPORT_CONTENT_TYPES[query.format]);
    res.setHeader('Content-Disposition', `attachment; filename="gatehouse-audit-${stamp}.${query.format}"`);
    await this.audit.exportTo(res, filter, query.format, this.emailLookup());
  }

  /** → one row; 404 when there is none with that id. */
  @Get(':id')
  @Roles('admin', 'auditor')
  async get(@Param('id') id: string): Promise<AuditEntryView> {
    if (!/^[1-9]\d{0,15}$/.test(id)) throw invalidFields({ id: 'must be a positive integer' });
    const entry = await this.audit.get(Number(id));
    if (!entry) throw notFound(`no audit row ${id}`);
    return entryView(entry, await this.emailsOf(entry.userId ? [entry.userId] : []));
  }

  private emailsOf(ids: string[]): Promise<Map<string, string>> {
    return this.emailLookup()(ids);
  }

  /**
   * Emails by user id, from identity's profile cache (the proxy's hot path keeps it warm). An export
   * asks once per page of rows for that page's distinct users; the lookup remembers its answers,
   * misses too (a deleted user would otherwise cost a query on every page), up to a bound.
   */
  private emailLookup(): UserEmails {
    const known = new Map<string, string | null>();
    return async (ids) => {
      const emails = new Map<string, string>();
      for (const id of new Set(ids)) {
        let email = known.get(id);
        if (email === undefined) {
          email = (await this.users.profile(id))?.email ?? null;
          if (known.size >= 10_000) known.clear();
          known.set(id, email);
        }
        if (email !== null) emails.set(id, email);
      }
      return emails;
    };
  }
}
