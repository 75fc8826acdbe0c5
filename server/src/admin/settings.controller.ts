import { Get } from '@nestjs/common';
import { gatewayVersion } from '../common/version';
import { maskSecrets } from '../config/config-mask';
import { ConfigService } from '../config/config.service';
import { Roles } from '../identity/roles.guard';
import { VaultService } from '../vault/vault.service';
import { AdminApi } from './admin-api';

/** The console's Settings page: what this gateway runs with, secrets masked (admins and auditors). */
@AdminApi('settings')
export class SettingsController {
  constructor(
    private readonly config: ConfigService,
    private readonly vault: VaultService,
  ) {}

  /** → `{ version, publicUrl, dataDir, configSource, vaultKeyId, config }` */
  @Get()
  @Roles('admin', 'auditor')
  settings() {
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    const { publicUrl, source, fromEnvironment, ...settings } = JSON.parse(JSON.stringify(this.config.config)) as Record<string, unknown> & {
      publicUrl: string;
      source: string;
      fromEnvironment?: string[];
    };
    return {
      version: gatewayVersion(),
      publicUrl,
      dataDir: this.config.dataDir,
      configSource: source,
      vaultKeyId: this.vault.keyId,
      config: maskSecrets(settings, new Set(fromEnvironment ?? [])),
    };
  }
}
