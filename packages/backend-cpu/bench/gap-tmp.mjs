// linear-gemv with a JS busy gap between calls: GAP_US microseconds
import { createRng, HostTensor, randomNormal } from '@moe-runtime/core';
import { createCpuBackend } from '../dist/index.js';
const N = 2048, K = 2048, COPIES = 100, R = 100;
const rng = createRng(1);
const weight = HostTensor.float32([N, K], randomNormal(rng, N * K, 0.02)).to(process.argv[2] ?? 'q4_k');
const backend = await createCpuBackend({ threads: 2, activations: 'q8' });
const layers = []; for (let i = 0; i < COPIES; i++) layers.push(await backend.prepareLinear({ weight }));
const x = randomNormal(rng, K);
for (const gap of [0, 10, 30, 100, 300]) {
  let best = 1e9;
  for (let round = 0; round < 8; round++) {
    let t = 0;
    for (let i = 0; i < R; i++) {
      const g0 = performance.now(); while (performance.now() - g0 < gap / 1000);
      const t0 = performance.now(); await backend.linear(layers[i % COPIES], x, 1); t += performance.now() - t0;
    }
    best = Math.min(best, t / R);
  }
  console.log(`gap ${gap} us: ${(best * 1000).toFixed(0)} us a call`);
}
await backend.dispose();
