/**
 * Drives the real MCP SDK OAuth flow (discovery, dynamic client registration,
 * PKCE authorization code, token exchange) against the gateway, using
 * `TestBrowser` as the user agent for the login and consent pages.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { OAuthClientProvider, OAuthDiscoveryState, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { BrowserResponse, TestBrowser, isRedirect } from './browser';

export interface TestOAuthProviderOptions {
  /** Redirect URI; default `http://127.0.0.1:<random port>/callback` (nothing needs to listen there). */
  redirectUrl?: string | URL;
  /** `client_name` for dynamic registration (default `Gatehouse E2E Client`). */
  clientName?: string;
  /** Overrides merged over the default client metadata. */
  clientMetadata?: Partial<OAuthClientMetadata>;
  /** Pre-registered client information (skips dynamic client registration). */
  clientInformation?: OAuthClientInformationMixed;
  /** Initial tokens. */
  tokens?: OAuthTokens;
  /**
   * When true, `discoveryState()` returns what the SDK saved with
   * `saveDiscoveryState()`, so later `auth()` calls skip discovery. Default
   * false: the SDK re-discovers on each `auth()` call. (What it saved is
   * always available as `provider.discovery`.)
   */
  cacheDiscovery?: boolean;
}

/** In-memory `OAuthClientProvider` that records the authorization URL instead of opening a browser. */
export class TestOAuthProvider implements OAuthClientProvider {
  private _redirectUrl: string;
  private _clientMetadata: OAuthClientMetadata;
  private _clientInformation?: OAuthClientInformationMixed;
  private _tokens?: OAuthTokens;
  private _codeVerifier?: string;
  private readonly cacheDiscovery: boolean;

  /** Last URL the SDK asked us to open. */
  lastAuthorizationUrl?: URL;
  /** Every authorization URL the SDK asked us to open, oldest first. */
  readonly authorizationUrls: URL[] = [];
  /** Last `state` handed to the SDK. */
  lastState?: string;
  /** Every `state` handed to the SDK, oldest first. */
  readonly states: string[] = [];
  /** Every token set the SDK saved, oldest first. */
  readonly savedTokens: OAuthTokens[] = [];
  /** Every `invalidateCredentials` scope the SDK asked for, oldest first. */
  readonly invalidations: string[] = [];
  /** Discovery state last saved by the SDK (protected-resource + AS metadata). */
  discovery?: OAuthDiscoveryState;

  constructor(opts: TestOAuthProviderOptions = {}) {
    this._redirectUrl = String(opts.redirectUrl ?? `http://127.0.0.1:${randomInt(20000, 60000)}/callback`);
    this._clientMetadata = {
      client_name: opts.clientName ?? 'Gatehouse E2E Client',
      redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...(opts.clientMetadata ?? {}),
    };
    this._clientInformation = opts.clientInformation;
    this._tokens = opts.tokens;
    this.cacheDiscovery = opts.cacheDiscovery ?? false;
  }

  get redirectUrl(): string {
    return this._redirectUrl;
  }

  get clientMetadata(): OAuthClientMetadata {
    return this._clientMetadata;
  }

  state(): string {
    const s = randomBytes(16).toString('base64url');
    this.lastState = s;
    this.states.push(s);
    return s;
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this._clientInformation;
  }

  saveClientInformation(clientInformation: OAuthClientInformationMixed): void {
    this._clientInformation = clientInformation;
  }

  tokens(): OAuthTokens | undefined {
    return this._tokens;
  }

  saveTokens(tokens: OAuthTokens): void {
    this._tokens = tokens;
    this.savedTokens.push(tokens);
  }

  redirectToAuthorization(authorizationUrl: URL): void {
    this.lastAuthorizationUrl = authorizationUrl;
    this.authorizationUrls.push(authorizationUrl);
  }

  saveCodeVerifier(codeVerifier: string): void {
    this._codeVerifier = codeVerifier;
  }

  codeVerifier(): string {
    if (!this._codeVerifier) throw new Error('TestOAuthProvider: no code verifier saved');
    return this._codeVerifier;
  }

  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    this.invalidations.push(scope);
    if (scope === 'all' || scope === 'client') this._clientInformation = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this._codeVerifier = undefined;
    if (scope === 'all' || scope === 'discovery') this.discovery = undefined;
  }

  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.discovery = state;
  }

  discoveryState(): OAuthDiscoveryState | undefined {
    return this.cacheDiscovery ? this.discovery : undefined;
  }
}

export interface AuthorizeInBrowserOptions {
  /** Click "approve" (default) or "deny" on the consent page. */
  approve?: boolean;
  /** Extra fields sent with the consent form (e.g. `remember: 'on'`). */
  extraConsentFields?: Record<string, string>;
  /** Where the flow is expected to end; default: the `redirect_uri` parameter of the authorization URL. */
  redirectUri?: string;
  /** Safety limit on the number of requests (default 20). */
  maxSteps?: number;
  /** Other origins the browser may be sent to on the way (e.g. an upstream's sign-in page). */
  allowOrigins?: string[];
}

export interface AuthorizeResult {
  /** The authorization code ('' when the callback carried an error instead, e.g. after deny). */
  code: string;
  state: string | null;
  iss: string | null;
  /** The full callback URL the gateway redirected to. */
  callbackUrl: URL;
  /** `error` parameter of the callback (e.g. `access_denied`), or null. */
  error: string | null;
  errorDescription: string | null;
  /** Whether the login form was submitted during this flow. */
  loggedIn: boolean;
  /** Whether the consent form was shown (false when consent was remembered). */
  consentShown: boolean;
}

function describeResponse(res: BrowserResponse): string {
  return `status ${res.status} for ${res.url}${res.location ? ` (Location: ${res.location})` : ''}; body: ${res.body.slice(0, 500)}`;
}

/**
 * Plays the user in the gateway's authorization UI: GET the authorization URL,
 * log in if redirected to the login page, approve/deny on the consent page,
 * and stop at the redirect to the client's redirect URI (which is not requested).
 */
export async function authorizeInBrowser(
  browser: TestBrowser,
  authorizationUrl: URL | string,
  creds: { email: string; password: string },
  opts: AuthorizeInBrowserOptions = {},
): Promise<AuthorizeResult> {
  const authUrl = new URL(authorizationUrl);
  const redirectUriRaw = opts.redirectUri ?? authUrl.searchParams.get('redirect_uri');
  if (!redirectUriRaw) throw new Error(`authorizeInBrowser: no redirect_uri in ${authUrl.href}`);
  const redirectUri = new URL(redirectUriRaw);
  const gatewayOrigin = authUrl.origin;
  const approve = opts.approve ?? true;
  const maxSteps = opts.maxSteps ?? 20;
  const isCallback = (u: URL) => u.origin === redirectUri.origin && u.pathname === redirectUri.pathname;

  let loggedIn = false;
  let consentShown = false;
  const trail: string[] = [];
  const fail = (why: string, res: BrowserResponse) => new Error(`authorizeInBrowser: ${why}: ${describeResponse(res)}\nTrail: ${trail.join(' -> ')}`);

  let res = await browser.get(authUrl);
  for (let step = 0; step < maxSteps; step++) {
    trail.push(`${res.status} ${res.url}`);
    if (isRedirect(res)) {
      const loc = new URL(res.location!);
      if (isCallback(loc)) {
        const error = loc.searchParams.get('error');
        const code = loc.searchParams.get('code');
        const result: AuthorizeResult = {
          code: code ?? '',
          state: loc.searchParams.get('state'),
          iss: loc.searchParams.get('iss'),
          callbackUrl: loc,
          error,
          errorDescription: loc.searchParams.get('error_description'),
          loggedIn,
          consentShown,
        };
        if (!code && approve) throw fail(`callback without code (error=${error ?? 'none'})`, res);
        return result;
      }
      if (loc.origin !== gatewayOrigin && !(opts.allowOrigins ?? []).includes(loc.origin)) {
        throw fail(`redirected outside the gateway origin ${gatewayOrigin}`, res);
      }
      res = await browser.get(loc);
      continue;
    }
    if (res.status === 200) {
      const forms = browser.forms(res);
      const loginIndex = forms.findIndex((f) => f.controls.some((c) => c.name === 'password') && f.controls.some((c) => c.name === 'email'));
      if (loginIndex >= 0) {
        if (loggedIn) throw fail('login page shown again after submitting credentials (wrong credentials?)', res);
        loggedIn = true;
        res = await browser.submit(res, { email: creds.email, password: creds.password }, { formIndex: loginIndex });
        continue;
      }
      const consentIndex = forms.findIndex((f) => f.buttons.some((b) => b.name === 'decision'));
      if (consentIndex >= 0) {
        if (consentShown) throw fail('consent page shown again after submitting a decision', res);
        consentShown = true;
        res = await browser.submit(res, opts.extraConsentFields ?? {}, {
          formIndex: consentIndex,
          button: `decision=${approve ? 'approve' : 'deny'}`,
        });
        continue;
      }
      throw fail('page is neither a login nor a consent page', res);
    }
    throw fail('unexpected response', res);
  }
  throw fail(`gave up after ${maxSteps} steps`, res);
}

export interface ConnectWithOAuthOptions {
  provider?: TestOAuthProvider;
  browser?: TestBrowser;
  /** Used as the DCR `client_name` (when no provider is given) and as the MCP clientInfo name. */
  clientName?: string;
  /** Passed to `authorizeInBrowser`. */
  extraConsentFields?: Record<string, string>;
  allowOrigins?: string[];
}

export interface ConnectWithOAuthResult {
  client: Client;
  transport: StreamableHTTPClientTransport;
  provider: TestOAuthProvider;
  browser: TestBrowser;
  /** The browser leg, or undefined when the provider's existing tokens were accepted straight away. */
  authorization?: AuthorizeResult;
}

/**
 * The standard SDK dance: connect (-> 401 -> discovery, registration,
 * `redirectToAuthorization`, `UnauthorizedError`), log in and consent in the
 * test browser, `transport.finishAuth(code)`, and connect again with a new
 * transport sharing the provider. The returned client is connected; close it.
 *
 * Also checks what the SDK itself does not: that the callback's `state`
 * matches the one sent, and that `iss` (when present) equals the issuer of the
 * discovered authorization server metadata (RFC 9207).
 */
export async function connectWithOAuth(mcpUrl: string, creds: { email: string; password: string }, opts: ConnectWithOAuthOptions = {}): Promise<ConnectWithOAuthResult> {
  const provider = opts.provider ?? new TestOAuthProvider({ clientName: opts.clientName });
  const browser = opts.browser ?? new TestBrowser();
  const clientInfo = { name: opts.clientName ?? 'gatehouse-e2e', version: '0.0.0' };

  const firstTransport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  const firstClient = new Client(clientInfo);
  const urlsBefore = provider.authorizationUrls.length;
  try {
    await firstClient.connect(firstTransport);
    // Existing tokens were accepted (possibly after a silent refresh).
    return { client: firstClient, transport: firstTransport, provider, browser };
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) {
      await firstClient.close().catch(() => undefined);
      throw new Error(`connectWithOAuth: first connect failed with something other than UnauthorizedError: ${String(err)}`, {
        cause: err,
      });
    }
  }
  await firstClient.close().catch(() => undefined);

  const authorizationUrl = provider.lastAuthorizationUrl;
  if (!authorizationUrl || provider.authorizationUrls.length === urlsBefore) {
    throw new Error('connectWithOAuth: the SDK threw UnauthorizedError without calling redirectToAuthorization');
  }
  const sentState = authorizationUrl.searchParams.get('state');
  const authorization = await authorizeInBrowser(browser, authorizationUrl, creds, {
    extraConsentFields: opts.extraConsentFields,
    allowOrigins: opts.allowOrigins,
  });
  if (authorization.state !== sentState) {
    throw new Error(`connectWithOAuth: callback state ${authorization.state} does not match sent state ${sentState}`);
  }
  const issuer = provider.discovery?.authorizationServerMetadata?.issuer;
  if (authorization.iss !== null && issuer !== undefined && authorization.iss !== issuer) {
    throw new Error(`connectWithOAuth: callback iss ${authorization.iss} does not match metadata issuer ${issuer}`);
  }

  // finishAuth on the transport that saw the 401 (it remembers resource_metadata/scope from WWW-Authenticate).
  await firstTransport.finishAuth(authorization.code);

  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  const client = new Client(clientInfo);
  await client.connect(transport);
  return { client, transport, provider, browser, authorization };
}
