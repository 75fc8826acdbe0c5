/**
 * Jest's globalSetup and globalTeardown. With `--runInBand` the tests run in this process, so
 * whatever a test left running (a server, a socket, an interval) still keeps the event loop alive
 * here. Jest would then never exit and CI would hang until its time limit, so `forceExit` is on
 * (jest.config.js); the teardown names what was left so the leak is still seen and fixed rather
 * than hidden. What was alive before the tests (Jest's own stdio pipes) does not count.
 */
const alive = () => process.getActiveResourcesInfo();

function minus(now, before) {
  const left = [...now];
  for (const type of before) {
    const i = left.indexOf(type);
    if (i >= 0) left.splice(i, 1);
  }
  return left;
}

async function recordBaseline() {
  globalThis.__resourcesBeforeTests = alive();
}

async function reportOpenHandles() {
  const before = globalThis.__resourcesBeforeTests ?? [];
  const deadline = Date.now() + 2000;
  let left = minus(alive(), before);
  while (left.length > 0 && Date.now() < deadline) {
    // A ref'd timer on purpose: with an unref'd one and nothing else left, Node would exit here,
    // in the middle of Jest's teardown, with code 0 even when tests failed.
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = minus(alive(), before);
  }
  if (left.length > 0)
    console.warn(`\nwarning: tests left ${left.length} resource(s) keeping Node alive: ${left.join(', ')} (run the suites with --detectOpenHandles to find it)\n`);
}

module.exports = { recordBaseline, reportOpenHandles };
