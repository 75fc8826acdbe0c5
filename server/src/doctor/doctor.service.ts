import { Injectable } from '@nestjs/common';
import { AuditEntry } from '../audit/audit-query';
import { AuditQueryService } from '../audit/audit-query.service';
import { ConfigService } from '../config/config.service';
import { User } from '../identity/user.entity';
import { UsersService } from '../identity/users.service';
import { ClientDirectory } from '../oauth/client-directory.service';
import type { DoctorContext, DoctorEvent, DoctorReport, DoctorStep, DoctorSubject } from './doctor-report';
import { diagnose } from './signatures';
import { buildTimeline } from './timeline';

/**
 * The connection doctor (issue 11): for a client or a user, the timeline of its OAuth steps as the
 * gateway saw them, read from the audit log (AuditQueryService.history, bounded), and the known
 * failure signatures found in it (signatures.ts), each explained with its fix. Reads only: used by
 * the admin API and by `gatehouse doctor` (which opens the database itself).
 */
@Injectable()
export class DoctorService {
  constructor(
    private readonly audit: AuditQueryService,
    private readonly users: UsersService,
    private readonly clients: ClientDirectory,
    private readonly config: ConfigService,
  ) {}

  /** The report of a client: one the gateway knows, or one its audit log names; null when neither. */
  async forClient(clientId: string): Promise<DoctorReport | null> {
    if (typeof clientId !== 'string' || !clientId || clientId.length > 2000) return null;
    const [entry, { entries, omitted }] = await Promise.all([this.clients.find(clientId), this.audit.history({ clientId })]);
    if (!entry && !entries.length) return null;
    const registered = entries.find((e) => e.type === 'client.register');
    const subject: DoctorSubject = {
      kind: 'client',
      clientId,
      name: entry?.name ?? (typeof registered?.detail?.client_name === 'string' ? registered.detail.client_name : null),
      clientKind: entry?.kind ?? null,
      known: entry !== null,
    };
    return this.report(subject, entries, omitted);
  }

  /** The report of a user, by id or email; null when there is no such user. */
  async forUser(idOrEmail: string): Promise<DoctorReport | null> {
    if (typeof idOrEmail !== 'string' || !idOrEmail || idOrEmail.length > 320) return null;
    const user = idOrEmail.includes('@') ? await this.users.findByEmail(idOrEmail) : await this.users.findById(idOrEmail);
    if (!user) return null;
    const { entries, omitted } = await this.audit.history({ userId: user.id });
    return this.report(userSubject(user), entries, omitted);
  }

  /** For the command line: an email is a user; anything else a client id, else a user id. */
  async find(query: string): Promise<DoctorReport | null> {
    const q = query.trim();
    if (q.includes('@') && !/^https?:\/\//i.test(q)) return this.forUser(q);
    return (await this.forClient(q)) ?? (await this.forUser(q));
  }

  private async report(subject: DoctorSubject, entries: AuditEntry[], omitted: boolean): Promise<DoctorReport> {
    const events: DoctorEvent[] = entries;
    const userIds = [...new Set(events.map((e) => e.userId).filter((id): id is string => id !== null))];
    const clientIds = [...new Set(events.map((e) => e.clientId).filter((id): id is string => id !== null))];
    const [emails, names] = await Promise.all([this.users.emailsOf(userIds), subject.kind === 'user' ? this.clients.namesOf(clientIds) : new Map<string, string | null>()]);
    const ctx: DoctorContext = {
      now: Date.now(),
      subjectKind: subject.kind,
      publicUrl: this.config.publicUrl,
      emailOf: (id) => (id ? (emails.get(id) ?? null) : null),
      clientNameOf: (id) => (id ? (names.get(id) ?? null) : null),
    };
    const steps: DoctorStep[] = buildTimeline(events, ctx);
    if (omitted)
      steps.unshift({
        at: steps[0]?.at ?? ctx.now,
        step: 'note',
        outcome: 'success',
        detail: 'a long history: its first and latest events are shown, older MCP requests are left out',
      });
    return { subject, steps, diagnosis: diagnose(events, ctx), truncated: omitted };
  }
}

function userSubject(user: User): DoctorSubject {
  return { kind: 'user', id: user.id, email: user.email, name: user.displayName, role: user.role, disabled: user.disabled };
}
