import type { AuditEntry } from '../audit/audit-query';

/** One step of a connection as the gateway saw it (the API's `steps[]`). */
export interface DoctorStep {
  /** Epoch ms. */
  at: number;
  /** discovery | registration | metadata_document | authorize | sign_in | consent | code | token | refresh | first_mcp_call | mcp | revocation | upstream_sign_in | note */
  step: string;
  outcome: 'success' | 'failure';
  /** What happened, in words (names users by email, clients by name). */
  detail: string;
}

export type Severity = 'error' | 'warning' | 'info';

/** A known failure signature found in the history (the API's `diagnosis[]`). */
export interface Diagnosis {
  /** The rule's name (signatures.ts). */
  rule: string;
  severity: Severity;
  /** What went wrong, in plain words. */
  message: string;
  /** What to do about it. */
  fix: string;
}

export type DoctorSubject =
  | { kind: 'client'; clientId: string; name: string | null; clientKind: string | null; known: boolean }
  | { kind: 'user'; id: string; email: string; name: string | null; role: string; disabled: boolean };

export interface DoctorReport {
  subject: DoctorSubject;
  steps: DoctorStep[];
  diagnosis: Diagnosis[];
  /** True when the history is longer than what was read (older MCP requests are left out). */
  truncated: boolean;
}

/** An audit row as the doctor reads it. */
export type DoctorEvent = Pick<AuditEntry, 'id' | 'at' | 'type' | 'outcome' | 'userId' | 'clientId' | 'upstreamSlug' | 'mcpMethod' | 'tool' | 'status' | 'detail'>;

/** What the rules and the timeline need besides the rows. */
export interface DoctorContext {
  now: number;
  subjectKind: 'client' | 'user';
  /** The gateway's public URL (for fixes that name an address). */
  publicUrl: string;
  emailOf(userId: string | null): string | null;
  clientNameOf(clientId: string | null): string | null;
}

/** A detail value as text (detail is JSON read back from the log: anything but a scalar shows as the fallback). */
export function text(value: unknown, fallback = ''): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : fallback;
}
