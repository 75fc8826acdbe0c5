import { DoctorModule } from '../doctor/doctor.module';
import { renderReport } from '../doctor/report-text';
import { DoctorService } from '../doctor/doctor.service';
import { CliError, commandConfig, say } from './common';
import { withServices } from './context';

/**
 * `gatehouse doctor`: the connection doctor of the console, from a shell. Reads the database
 * (SQLite in WAL mode: beside a running gateway too; rows the gateway has queued in the last
 * 50 ms may not be on disk yet). Exit 1 when nothing is known of the subject.
 */
export async function runDoctor(subject: string, opts: { json?: boolean; dataDir?: string }): Promise<void> {
  const config = commandConfig(opts);
  await withServices(config, [DoctorModule], async (app) => {
    const report = await app.get(DoctorService).find(subject);
    if (!report) throw new CliError(`no client or user ${JSON.stringify(subject)}: not registered, not a user, and not in the audit log`);
    say(opts.json ? JSON.stringify(report, null, 2) : renderReport(report));
  });
}
