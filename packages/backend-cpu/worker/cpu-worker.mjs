// A compute thread of the cpu backend: instantiates the kernel module on the shared memory,
// then runs its share of every batch the calling thread posts through the control block.
// Plain JavaScript so it loads the same way from src/ (tests) and dist/ (the built package).
//
// Control block (Int32Array over a SharedArrayBuffer):
//   [0] generation (bumped per batch)  [1] threads done  [2] command (1 = run, -1 = stop)
//   [3] descriptor address  [4] descriptor count  [5] K block  [6] error flag
import { parentPort, workerData } from 'node:worker_threads';

const { module, memory, control, tid, nthreads, spin } = workerData;
const ctrl = new Int32Array(control);
const instance = new WebAssembly.Instance(module, {
  env: {
    memory,
    abort() {
      throw new Error('kernel abort');
    },
  },
});
const runBatch = instance.exports.runBatch;

let generation = Atomics.load(ctrl, 0);
parentPort.postMessage('ready');

for (;;) {
  // Spin briefly (a hand-off then costs under a microsecond), then sleep on the futex.
  let spins = 0;
  while (Atomics.load(ctrl, 0) === generation) {
    if (++spins > spin) Atomics.wait(ctrl, 0, generation);
  }
  generation = Atomics.load(ctrl, 0);
  if (Atomics.load(ctrl, 2) < 0) break;
  try {
    runBatch(Atomics.load(ctrl, 3), Atomics.load(ctrl, 4), tid, nthreads, Atomics.load(ctrl, 5));
  } catch {
    Atomics.store(ctrl, 6, tid);
  }
  Atomics.add(ctrl, 1, 1);
  Atomics.notify(ctrl, 1);
}
