import { Injectable } from '@nestjs/common';
import { AuthConfigBase, AuthModeForm, AuthModeSummary, BaseAuthMode, CredentialResult } from './auth-mode';

export class NoneAuthConfig extends AuthConfigBase {
  mode = 'none' as const;
}

/** Shared and frozen: the proxy only reads it, so the hot path allocates nothing for this mode. */
const NO_HEADERS: CredentialResult = Object.freeze({ headers: Object.freeze({}) as Record<string, string> });

/** Mode "none": the upstream needs no credential (or trusts the network it is on). */
@Injectable()
export class NoneAuthMode extends BaseAuthMode<NoneAuthConfig, object> {
  static readonly mode = 'none';
  static readonly configClass = NoneAuthConfig;

  readonly noSettings = {};

  settingsFrom(): object {
    return {};
  }

  async headersFor(): Promise<CredentialResult> {
    return NO_HEADERS;
  }

  describe(): AuthModeSummary {
    return { mode: NoneAuthMode.mode, summary: 'no credential is sent upstream', secretsSet: [] };
  }

  form(): AuthModeForm {
    return { label: 'No credential', fields: [] };
  }

  formValues(): Record<string, unknown> {
    return {};
  }
}
