/** One real OAuth flow against the gateway (discovery, DCR, authorize with login + consent, PKCE token exchange). */
import { connectWithOAuth } from '../../test/helpers/oauth-client';
import { ADMIN } from '../config';
import { log } from '../lib/run-log';

/** Returns the access token the other phases use, and how long the whole flow took. */
export async function runOAuthFlow(gatewayUrl: string): Promise<{ token: string; oauthMs: number }> {
  log('OAuth flow (discovery, registration, login, consent, token exchange)');
  const tOauth = performance.now();
  const { client, provider } = await connectWithOAuth(gatewayUrl, ADMIN, { clientName: 'gatehouse-bench' });
  const echo = await client.callTool({ name: 'echo', arguments: { text: 'through the gateway' } });
  await client.close();
  const token = provider.tokens()?.access_token;
  if (!token) throw new Error('the OAuth flow yielded no access token');
  if (!JSON.stringify(echo).includes('through the gateway')) throw new Error(`echo through the gateway failed: ${JSON.stringify(echo)}`);
  return { token, oauthMs: performance.now() - tOauth };
}
