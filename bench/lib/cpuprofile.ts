/**
 * Self-time summary of a V8 .cpuprofile (as written by --cpu-prof or the inspector):
 * top functions and top "origins" (node internals, each node_modules package, gateway code).
 * Also runnable: `node --require ts-node/register/transpile-only bench/lib/cpuprofile.ts FILE [N]`.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  /** Share of busy (non-idle) time, %. */
  pct: number;
}

export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  idleMs: number;
  gcMs: number;
  topFunctions: ProfileEntry[];
  topOrigins: ProfileEntry[];
  /** Functions matching `inclusiveFilter` (default: the gateway's own code) by total time incl. callees. */
  topInclusive: ProfileEntry[];
}

function shortUrl(url: string): string {
  if (!url) return '';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + '/node_modules/'.length);
  const dist = u.indexOf('/dist/server/');
  if (dist >= 0) return u.slice(dist + 1);
  const bench = u.indexOf('/bench/');
  if (bench >= 0) return u.slice(bench + 1);
  return u;
}

function origin(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native/V8)';
  const u = url.replace(/^file:\/\//, '');
  if (u.startsWith('node:')) return `node core (${u.slice(5).split('/')[0]})`;
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = u.slice(nm + '/node_modules/'.length).split('/');
    return 'npm ' + (rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]);
  }
  if (u.includes('/dist/server/')) return 'gateway: ' + u.slice(u.indexOf('/dist/server/') + '/dist/server/'.length).split('/')[0];
  return shortUrl(u);
}

const GATEWAY_CODE = /\/dist\/server\/|\/server\/src\/|\/bench\/results\/\.build\//;

export function summarizeProfile(path: string, top = 15, inclusiveFilter: RegExp = GATEWAY_CODE): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time since the previous sample: attribute timeDeltas[i + 1] to sample i.
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + Math.max(0, dt));
  }
  const fns = new Map<string, number>();
  const origins = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  let total = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    total += us;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    if (cf.functionName === '(garbage collector)') gc += us;
    const name = `${cf.functionName || '(anonymous)'}${cf.url ? ` ${shortUrl(cf.url)}:${cf.lineNumber + 1}` : ''}`;
    fns.set(name, (fns.get(name) ?? 0) + us);
    const o = origin(cf.url, cf.functionName);
    origins.set(o, (origins.get(o) ?? 0) + us);
  }
  const busy = total - idle;

  // Inclusive time: each sample counts once for every distinct matching function on its stack.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const incl = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      if (!inclusiveFilter.test(cf.url)) continue;
      const name = `${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
      if (seen.has(name)) continue;
      seen.add(name);
      incl.set(name, (incl.get(name) ?? 0) + us);
    }
  }
  const rank = (m: Map<string, number>): ProfileEntry[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: us / 1000, pct: busy ? (100 * us) / busy : 0 }));
  return {
    totalMs: total / 1000,
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    gcMs: gc / 1000,
    topFunctions: rank(fns),
    topOrigins: rank(origins),
    topInclusive: rank(incl),
  };
}

export function formatProfile(title: string, s: ProfileSummary): string {
  const lines = [
    `${title}: ${s.busyMs.toFixed(0)} ms busy of ${s.totalMs.toFixed(0)} ms profiled (GC ${s.gcMs.toFixed(0)} ms)`,
    '  self time by origin:',
    ...s.topOrigins.map((e) => `    ${e.pct.toFixed(1).padStart(5)} %  ${e.selfMs.toFixed(0).padStart(6)} ms  ${e.name}`),
    '  top functions by self time:',
    ...s.topFunctions.map((e) => `    ${e.pct.toFixed(1).padStart(5)} %  ${e.selfMs.toFixed(0).padStart(6)} ms  ${e.name}`),
    '  own code by inclusive time (self + callees):',
    ...s.topInclusive.map((e) => `    ${e.pct.toFixed(1).padStart(5)} %  ${e.selfMs.toFixed(0).padStart(6)} ms  ${e.name}`),
  ];
  return lines.join('\n');
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: cpuprofile.ts FILE [N]\n');
    process.exit(2);
  }
  process.stdout.write(formatProfile(file, summarizeProfile(file, Number(process.argv[3] ?? 25))) + '\n');
}
