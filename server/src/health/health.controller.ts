import { Controller, Get, Redirect, Res } from '@nestjs/common';
import { SkipThrottle } from '@nestjs/throttler';
import type { Response } from 'express';
import { setNoStore } from '../common/no-store';
import { ConfigService } from '../config/config.service';
import { consoleHome } from '../identity/return-to';
import { ReadinessService } from './readiness.service';

/** Probes for an orchestrator (Docker, Kubernetes, a load balancer): unauthenticated and not rate limited. */
@Controller()
@SkipThrottle()
export class HealthController {
  constructor(
    private readonly readiness: ReadinessService,
    private readonly config: ConfigService,
  ) {}

  /** Liveness: the process answers HTTP. What it depends on is /readyz's to check, so a database problem does not get it restarted in a loop. */
  @Get('healthz')
  health(@Res({ passthrough: true }) res: Response) {
    setNoStore(res);
    return { status: 'ok' };
  }

  /** Readiness: 200 when every check passes, else 503 naming the failing ones. */
  @Get('readyz')
  async ready(@Res() res: Response): Promise<void> {
    const { ready, checks } = await this.readiness.check();
    setNoStore(res);
    if (ready) return void res.status(200).json({ status: 'ready', checks });
    const failing = Object.entries(checks)
      .filter(([, c]) => c.status === 'failing')
      .map(([name]) => name);
    res.status(503).json({ status: 'not_ready', failing, checks });
  }

  /** The root of the gateway (of its base path, when PUBLIC_URL has one) leads to the console. */
  @Get()
  @Redirect(undefined, 302)
  root() {
    return { url: consoleHome(this.config.basePath) };
  }
}
