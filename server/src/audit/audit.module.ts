import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditEvent } from './audit-event.entity';
import { AuditQueryService } from './audit-query.service';
import { AuditCount, AuditRollup, AuditToolRollup } from './audit-rollup.entity';
import { AuditService } from './audit.service';
import { DashboardService } from './dashboard.service';
import { SettledHours } from './settled-hours';

@Global()
@Module({
  imports: [TypeOrmModule.forFeature([AuditEvent, AuditRollup, AuditToolRollup, AuditCount])],
  providers: [AuditService, AuditQueryService, DashboardService, SettledHours],
  exports: [AuditService, AuditQueryService, DashboardService, SettledHours],
})
export class AuditModule {}
