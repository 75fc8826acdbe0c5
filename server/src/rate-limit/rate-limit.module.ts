import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { RateLimitCounter } from './rate-limit-counter.entity';
import { SharedCounters } from './shared-counters.service';

/** Rate-limit counts shared between replicas on PostgreSQL (SharedCounters); imported by the modules whose limiters it shares. */
@Module({
  imports: [TypeOrmModule.forFeature([RateLimitCounter])],
  providers: [SharedCounters],
  exports: [SharedCounters],
})
export class RateLimitModule {}
