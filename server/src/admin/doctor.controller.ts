import { Get, Param } from '@nestjs/common';
import { notFound } from '../common/api-errors';
import { DoctorReport } from '../doctor/doctor-report';
import { DoctorService } from '../doctor/doctor.service';
import { Roles } from '../identity/roles.guard';
import { AdminApi } from './admin-api';

/**
 * /admin/api/doctor: the connection doctor (read-only: admins and auditors). A client id that is a
 * URL (metadata document client) goes in the path percent-encoded (encodeURIComponent).
 */
@AdminApi('doctor')
export class DoctorController {
  constructor(private readonly doctor: DoctorService) {}

  /** → `{ subject, steps: [{ at, step, outcome, detail }], diagnosis: [{ rule, severity, message, fix }], truncated }`; 404 for a client the gateway never saw. */
  @Get('clients/:clientId')
  @Roles('admin', 'auditor')
  async client(@Param('clientId') clientId: string): Promise<DoctorReport> {
    const report = await this.doctor.forClient(clientId);
    if (!report) throw notFound('the gateway knows no client with this id, and its audit log does not name it');
    return report;
  }

  /** The same for a user, by id. */
  @Get('users/:id')
  @Roles('admin', 'auditor')
  async user(@Param('id') id: string): Promise<DoctorReport> {
    const report = await this.doctor.forUser(id);
    if (!report) throw notFound('no such user');
    return report;
  }
}
