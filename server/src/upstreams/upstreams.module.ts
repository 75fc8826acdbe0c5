import { Module } from '@nestjs/common';
import { UpstreamsService } from './upstreams.service';

@Module({
  providers: [UpstreamsService],
  exports: [UpstreamsService],
})
export class UpstreamsModule {}
