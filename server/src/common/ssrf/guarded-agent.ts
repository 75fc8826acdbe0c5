import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import { OutboundAddressRefused } from './errors';
import { nonPublicReason } from './public-address';

/**
 * dns.lookup that refuses a host when ANY of its addresses is not public. It runs at connect time,
 * inside the socket's own connect, so the address checked is the address connected to: a DNS answer
 * that changes between a check and the connection (DNS rebinding) cannot slip past.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0);
    const list = addresses;
    for (const a of list) {
      const why = nonPublicReason(a.address);
      if (why) return callback(new OutboundAddressRefused(`${hostname} resolves to ${a.address}, not a public address (${why})`), '', 0);
    }
    if (!list.length) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
    if (options.all) return (callback as (e: null, a: dns.LookupAddress[]) => void)(null, list);
    callback(null, list[0].address, list[0].family);
  });
};

/** Why connecting to this host (as given to net.connect, brackets stripped) is refused, when it is an IP literal. */
export function literalHostRefusal(host: string | null | undefined): string | null {
  const literal = (host ?? '').replace(/^\[|\]$/g, '');
  if (!isIP(literal)) return null; // a name: guardedLookup checks what it resolves to
  const why = nonPublicReason(literal);
  return why ? `${literal} is not a public address (${why})` : null;
}

/** What this wrapper reads of the agent's connect options; the rest are passed through as they are. */
type ConnectOptions = { host?: string | null; hostname?: string | null; lookup?: LookupFunction };
type CreateConnection = (options: ConnectOptions, cb: (err: Error | null, socket?: Socket) => void) => Socket | undefined;

/**
 * Wraps an agent's createConnection: IP literals never reach `lookup`, so they are checked here,
 * before any packet is sent; names get guardedLookup. Once connected, the peer address is checked
 * again as a last line (no path to a socket skips the check, whatever resolved the name).
 */
function guardConnections(agent: http.Agent): void {
  const create = (agent as unknown as { createConnection: CreateConnection }).createConnection.bind(agent);
  (agent as unknown as { createConnection: CreateConnection }).createConnection = (options: ConnectOptions, cb) => {
    const why = literalHostRefusal(options.host ?? options.hostname);
    if (why) {
      process.nextTick(cb, new OutboundAddressRefused(why));
      return undefined;
    }
    const socket = create({ ...options, lookup: guardedLookup }, cb);
    socket?.once('connect', () => {
      const peer = nonPublicReason(socket.remoteAddress ?? '');
      if (peer) socket.destroy(new OutboundAddressRefused(`connected to ${socket.remoteAddress} (${peer})`));
    });
    return socket;
  };
}

/**
 * An http(s) Agent whose every connection must go to a public address. For outbound requests to
 * URLs an outsider (or a remote document) chose. The MCP proxy can pass it as `agent` for upstreams
 * added at run time; upstreams from the configuration file are trusted (often on loopback or the LAN)
 * and do not use it.
 */
export function createGuardedAgent(protocol: 'http:' | 'https:', options: http.AgentOptions = {}): http.Agent {
  const agent = protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
  guardConnections(agent);
  return agent;
}
