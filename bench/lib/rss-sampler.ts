/**
 * Samples VmRSS of some processes every ~2 ms from a worker thread, so the sampling
 * cadence does not depend on the benchmark's (busy) main event loop.
 * Complements VmHWM (exact, but only where clear_refs may reset it).
 */
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const ctrl = new Int32Array(workerData.ctrl);   // [0]: 0 idle, 1 sampling, 2 exit; [1]: samples taken
const peaks = new Int32Array(workerData.peaks); // KiB per pid
const pids = workerData.pids;
const rssOf = (pid) => {
  try {
    const m = /VmRSS:\\s+(\\d+)/.exec(fs.readFileSync('/proc/' + pid + '/status', 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
};
for (;;) {
  const state = Atomics.load(ctrl, 0);
  if (state === 2) break;
  if (state === 1) {
    for (let i = 0; i < pids.length; i++) {
      const v = rssOf(pids[i]);
      if (v > Atomics.load(peaks, i)) Atomics.store(peaks, i, v);
    }
    Atomics.add(ctrl, 1, 1);
    Atomics.wait(ctrl, 0, 1, 2);
  } else {
    Atomics.wait(ctrl, 0, state, 50);
  }
}
`;

export class RssSampler {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(8));
  private readonly peaks: Int32Array;
  private readonly worker: Worker;

  constructor(private readonly pids: number[]) {
    this.peaks = new Int32Array(new SharedArrayBuffer(4 * pids.length));
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ctrl: this.ctrl.buffer, peaks: this.peaks.buffer, pids },
    });
    this.worker.unref();
  }

  start(): void {
    for (let i = 0; i < this.pids.length; i++) Atomics.store(this.peaks, i, 0);
    Atomics.store(this.ctrl, 1, 0);
    Atomics.store(this.ctrl, 0, 1);
    Atomics.notify(this.ctrl, 0);
  }

  /** Stops sampling; returns the peak VmRSS (KiB) per pid and the number of samples. */
  stop(): { peaksKiB: Record<number, number>; samples: number } {
    Atomics.store(this.ctrl, 0, 0);
    Atomics.notify(this.ctrl, 0);
    const peaksKiB: Record<number, number> = {};
    this.pids.forEach((pid, i) => (peaksKiB[pid] = Atomics.load(this.peaks, i)));
    return { peaksKiB, samples: Atomics.load(this.ctrl, 1) };
  }

  async close(): Promise<void> {
    Atomics.store(this.ctrl, 0, 2);
    Atomics.notify(this.ctrl, 0);
    await this.worker.terminate();
  }
}
