// A compute thread of the cpu backend: holds one kernel instance per shard (WebAssembly memory)
// of the backend, and helps with every batch the calling thread posts through the control
// block, taking chunks from the batch's shared counter until none is left (see
// assembly/index.ts). Plain JavaScript so it loads the same way from src/ (tests) and dist/.
//
// Control block (Int32Array over a SharedArrayBuffer), written under a sequence lock:
//   [0] generation (odd while the caller writes a batch, bumped to even when it is posted)
//   [1] acknowledgements of ADD_SHARD  [2] command (1 = run, 2 = add shard, -1 = stop)
//   [3] descriptors  [4] count  [5] K block  [6] error  [7] first chunk  [8] end chunk
//   [9] threads  [10] counter address  [11] shard  [12] work base  [13] work stride
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';

const { module, control, tid, spin, port } = workerData;
const ctrl = new Int32Array(control);
/** runBatch of each shard's instance, by shard index. */
const shards = [];

function addShard() {
  const received = receiveMessageOnPort(port);
  if (!received) throw new Error('ADD_SHARD without a memory on the port');
  const instance = new WebAssembly.Instance(module, {
    env: {
      memory: received.message,
      abort() {
        throw new Error('kernel abort');
      },
    },
  });
  shards.push(instance.exports.runBatch);
}

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
  const shard = Atomics.load(ctrl, 11);
  const work = (Atomics.load(ctrl, 12) >>> 0) + tid * (Atomics.load(ctrl, 13) >>> 0);
  // A newer batch was posted while reading: read again.
  if (Atomics.load(ctrl, 0) !== generation) continue;
  seen = generation;
  if (command < 0) break;
  try {
    if (command === 2) {
      addShard();
      Atomics.add(ctrl, 1, 1);
      Atomics.notify(ctrl, 1);
    } else shards[shard](desc, count, counter, base, end, nthreads, kc, work);
  } catch {
    Atomics.store(ctrl, 6, tid);
  }
}
