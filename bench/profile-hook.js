/**
 * Preloaded (`node --require bench/profile-hook.js ...`) into a server process only when the
 * benchmark runs with BENCH_PROFILE=1. SIGUSR2 toggles a V8 CPU profile: the first starts it,
 * the second stops it and writes `$BENCH_PROFILE_FILE` (then `<file>.done`), so only the
 * load phases are profiled, not startup. Plain JS so the profiled process loads no ts-node.
 */
'use strict';
const inspector = require('node:inspector');
const fs = require('node:fs');

const file = process.env.BENCH_PROFILE_FILE;
if (file) {
  const session = new inspector.Session();
  session.connect();
  let running = false;
  let memory = null;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      // Where the idle RSS goes, taken right before profiling starts (the process is idle then).
      memory = memorySnapshot();
      session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: 200 }, () => session.post('Profiler.start')));
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, res) => {
      if (!err) fs.writeFileSync(file, JSON.stringify(res.profile));
      fs.writeFileSync(file + '.mem.json', JSON.stringify(memory));
      fs.writeFileSync(file + '.done', err ? String(err) : 'ok');
    });
  });
}

function memorySnapshot() {
  const v8 = require('node:v8');
  const mu = process.memoryUsage();
  const modulesByPackage = {};
  for (const f of Object.keys(require.cache)) {
    const i = f.lastIndexOf('/node_modules/');
    let pkg = '(app)';
    if (i >= 0) {
      const rest = f.slice(i + 14).split('/');
      pkg = rest[0].startsWith('@') ? rest[0] + '/' + rest[1] : rest[0];
    }
    modulesByPackage[pkg] = (modulesByPackage[pkg] || 0) + 1;
  }
  const spaces = {};
  for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = s.space_used_size;
  return { memoryUsage: mu, heapSpacesUsed: spaces, modules: Object.keys(require.cache).length, modulesByPackage };
}
