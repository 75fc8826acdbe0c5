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
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.enable', () =>
        session.post('Profiler.setSamplingInterval', { interval: 200 }, () => session.post('Profiler.start')),
      );
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, res) => {
      if (!err) fs.writeFileSync(file, JSON.stringify(res.profile));
      fs.writeFileSync(file + '.done', err ? String(err) : 'ok');
    });
  });
}
