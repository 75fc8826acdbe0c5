import { Module } from '@nestjs/common';
import { IdentityModule } from '../identity/identity.module';
import { OAuthModule } from '../oauth/oauth.module';
import { DoctorService } from './doctor.service';

/** The connection doctor: timelines and failure signatures read from the audit log (see doctor.service.ts). */
@Module({
  imports: [IdentityModule, OAuthModule],
  providers: [DoctorService],
  exports: [DoctorService],
})
export class DoctorModule {}
