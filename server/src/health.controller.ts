import { Controller, Get, Redirect } from '@nestjs/common';
import { SkipThrottle } from '@nestjs/throttler';
import { DataSource } from 'typeorm';

@Controller()
@SkipThrottle()
export class HealthController {
  constructor(private readonly db: DataSource) {}

  @Get('healthz')
  async health() {
    await this.db.query('SELECT 1');
    return { status: 'ok' };
  }

  @Get()
  @Redirect('/admin/', 302)
  root() {}
}
