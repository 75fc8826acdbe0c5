import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { IdentityModule } from '../identity/identity.module';
import { UpstreamsModule } from '../upstreams/upstreams.module';
import { ToolCatalogueService } from './tool-catalogue.service';
import { ToolGateService } from './tool-gate.service';
import { ToolPolicyRecord } from './tool-policy.entity';
import { ToolPolicyService } from './tool-policy.service';
import { ToolVersion } from './tool-version.entity';

/** Per-tool policy and the pinned tool catalogue of each upstream (issue 12). */
@Module({
  imports: [TypeOrmModule.forFeature([ToolPolicyRecord, ToolVersion]), IdentityModule, UpstreamsModule],
  providers: [ToolPolicyService, ToolCatalogueService, ToolGateService],
  exports: [ToolPolicyService, ToolCatalogueService, ToolGateService],
})
export class ToolPolicyModule {}
