import { Controller, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { setNoStore } from '../common/no-store';
import { ConfigService } from '../config/config.service';
import { MetricsTokenCheck } from './metrics-access';
import { MetricsRecorder } from './metrics-recorder';

/** RFC 6750 §3: the challenge of a protected resource; its realm names what the token is for. */
const REALM = 'Bearer realm="gatehouse-metrics"';

/**
 * GET /metrics on the gateway's port, for a Prometheus scraper holding metrics.token. Left under
 * the app-wide rate limit (per client IP), which also bounds guessing at the token.
 */
@Controller()
export class MetricsController {
  private readonly access: MetricsTokenCheck;

  constructor(
    private readonly metrics: MetricsRecorder,
    config: ConfigService,
  ) {
    this.access = new MetricsTokenCheck(config.metrics.token);
  }

  @Get('metrics')
  async scrape(@Req() req: Request, @Res() res: Response): Promise<void> {
    setNoStore(res);
    switch (this.access.check(req.headers.authorization)) {
      case 'disabled':
        return void res.status(404).json({ error: 'not_found', message: 'metrics are not served here: set metrics.token (or metrics.listen for a loopback port)' });
      case 'missing':
        res.setHeader('WWW-Authenticate', REALM);
        return void res.status(401).json({ error: 'unauthorized', message: 'send the metrics token as Authorization: Bearer <token>' });
      case 'invalid':
        res.setHeader('WWW-Authenticate', `${REALM}, error="invalid_token"`);
        return void res.status(401).json({ error: 'invalid_token', message: 'the metrics token is not valid' });
      case 'allowed':
        res
          .status(200)
          .type(this.metrics.contentType)
          .send(await this.metrics.metrics());
    }
  }
}
