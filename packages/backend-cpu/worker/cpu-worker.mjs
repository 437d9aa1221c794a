// A compute thread of the cpu backend: instantiates the kernel module on the shared memory,
// then helps with every batch the calling thread posts through the control block, taking
// chunks from the batch's shared counter until none is left (see assembly/index.ts).
// Plain JavaScript so it loads the same way from src/ (tests) and dist/ (the built package).
//
// Control block (Int32Array over a SharedArrayBuffer), written under a sequence lock:
//   [0] generation (odd while the caller writes a batch, bumped to even when it is posted)
//   [2] command (1 = run, -1 = stop)  [3] descriptors  [4] count  [5] K block  [6] error
//   [7] first chunk  [8] end chunk  [9] threads  [10] counter address
import { parentPort, workerData } from 'node:worker_threads';

const { module, memory, control, tid, spin } = workerData;
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

let seen = Atomics.load(ctrl, 0);
parentPort.postMessage('ready');

for (;;) {
  // Spin briefly (a hand-off then costs under a microsecond), then sleep on the futex.
  let spins = 0;
  let generation = Atomics.load(ctrl, 0);
  while (generation === seen || generation & 1) {
    if (++spins > spin) Atomics.wait(ctrl, 0, generation);
    generation = Atomics.load(ctrl, 0);
  }
  const command = Atomics.load(ctrl, 2);
  const desc = Atomics.load(ctrl, 3);
  const count = Atomics.load(ctrl, 4);
  const kc = Atomics.load(ctrl, 5);
  const base = Atomics.load(ctrl, 7);
  const end = Atomics.load(ctrl, 8);
  const nthreads = Atomics.load(ctrl, 9);
  const counter = Atomics.load(ctrl, 10);
  // A newer batch was posted while reading: read again.
  if (Atomics.load(ctrl, 0) !== generation) continue;
  seen = generation;
  if (command < 0) break;
  try {
    runBatch(desc, count, counter, base, end, nthreads, kc);
  } catch {
    Atomics.store(ctrl, 6, tid);
  }
}
