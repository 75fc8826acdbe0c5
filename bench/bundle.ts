/**
 * The bundle's figures (bench/phases/bundle.ts), printed as a table with its targets:
 * `node --require ts-node/register/transpile-only bench/bundle.ts` (about 20 s; loopback only).
 */
import 'reflect-metadata';
import { BUNDLE_UPSTREAMS, measureBundle, TOOLS_PER_UPSTREAM } from './phases/bundle';

const CALL_TARGET_MS = 1;
const LIST_TARGET_MS = 5;

async function main(): Promise<void> {
  const f = await measureBundle();
  const ms = (n: number) => n.toFixed(3).padStart(9);
  const lines = [
    `metric                                         direct     bundle      added`,
    `tools/call latency p50 (ms)                 ${ms(f.callDirect.p50)}  ${ms(f.callBundle.p50)}  ${ms(f.callAddedP50Ms)}`,
    `tools/call latency p90 (ms)                 ${ms(f.callDirect.p90)}  ${ms(f.callBundle.p90)}  ${ms(f.callBundle.p90 - f.callDirect.p90)}`,
    `tools/call latency p99 (ms)                 ${ms(f.callDirect.p99)}  ${ms(f.callBundle.p99)}  ${ms(f.callBundle.p99 - f.callDirect.p99)}`,
    `tools/list p50 (ms), ${TOOLS_PER_UPSTREAM} direct / ${BUNDLE_UPSTREAMS}x${TOOLS_PER_UPSTREAM} bundled ${ms(f.listDirect.p50)}  ${ms(f.listBundle.p50)}  ${ms(f.listAddedP50Ms)}`,
    `tools/list p99 (ms)                         ${ms(f.listDirect.p99)}  ${ms(f.listBundle.p99)}  ${ms(f.listBundle.p99 - f.listDirect.p99)}`,
    `tools/list, first of a session (cold, ms)           -  ${ms(f.listBundleColdMs)}          -`,
    `CPU per tools/call, whole process (ms)      ${ms(f.callCpuDirectMs)}  ${ms(f.callCpuBundleMs)}  ${ms(f.callCpuBundleMs - f.callCpuDirectMs)}`,
    `CPU per tools/list, whole process (ms)      ${ms(f.listCpuDirectMs)}  ${ms(f.listCpuBundleMs)}  ${ms(f.listCpuBundleMs - f.listCpuDirectMs)}`,
    '',
    'Targets',
    `  [${f.callAddedP50Ms <= CALL_TARGET_MS ? ' met ' : ' NOT '}] tools/call median added by the bundle   ${f.callAddedP50Ms.toFixed(3)} ms  (target <= ${CALL_TARGET_MS} ms)`,
    `  [${f.callCpuBundleMs - f.callCpuDirectMs <= CALL_TARGET_MS ? ' met ' : ' NOT '}] tools/call gateway CPU per call (the added latency when idle)   ${(f.callCpuBundleMs - f.callCpuDirectMs).toFixed(3)} ms  (target <= ${CALL_TARGET_MS} ms)`,
    `  [${f.listAddedP50Ms <= LIST_TARGET_MS ? ' met ' : ' NOT '}] tools/list (${BUNDLE_UPSTREAMS} x ${TOOLS_PER_UPSTREAM} tools) median added   ${f.listAddedP50Ms.toFixed(3)} ms  (target <= ${LIST_TARGET_MS} ms)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bundle bench failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
