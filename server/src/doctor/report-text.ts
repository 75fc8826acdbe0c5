import type { DoctorReport } from './doctor-report';

const MARK = { error: '✗', warning: '!', info: 'i' } as const;

/** The report as plain text, for the terminal (`gatehouse doctor`). */
export function renderReport(report: DoctorReport): string {
  const { subject } = report;
  const lines: string[] = [];
  if (subject.kind === 'client') {
    lines.push(
      `Client ${subject.name ? `${JSON.stringify(subject.name)} ` : ''}${subject.clientId}${subject.clientKind ? ` (${subject.clientKind})` : ''}${subject.known ? '' : ' (no longer registered)'}`,
    );
  } else {
    lines.push(`User ${subject.email}${subject.name ? ` (${subject.name})` : ''}, ${subject.role}${subject.disabled ? ', disabled' : ''}`);
  }
  lines.push('', 'Timeline:');
  if (!report.steps.length) lines.push('  (nothing recorded)');
  for (const step of report.steps) {
    const time = new Date(step.at).toISOString().replace('T', ' ').slice(0, 19);
    lines.push(`  ${time}  ${step.outcome === 'failure' ? '✗' : '✓'} ${step.step.padEnd(16)} ${step.detail}`);
  }
  lines.push('', 'Diagnosis:');
  for (const d of report.diagnosis) {
    lines.push(`  ${MARK[d.severity]} [${d.rule}] ${d.message}`);
    lines.push(`    Fix: ${d.fix}`);
  }
  return lines.join('\n');
}
