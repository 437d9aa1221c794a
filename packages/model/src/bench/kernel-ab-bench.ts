/**
 * In-process A/B of two builds of the cpu backend's kernels on one model (a script, not a
 * test). On a shared machine, decode speed drifts by 20-30% from one minute to the next, so two
 * runs of one build after the other cannot resolve a 10% change. Here both builds serve the
 * same model in the same process and take turns, step by step (A B, then B A, ...): the drift
 * falls on both alike, and the median of the per-pair step-time ratios shows the difference.
 *
 *   node dist/bench/kernel-ab-bench.js FILE.gguf A.wasm B.wasm [--steps 40] [--prompt 32]
 *
 * A.wasm and B.wasm are relaxed-SIMD kernel builds (e.g. `npx asc --config asconfig.json
 * --target relaxed -o /tmp/b.wasm` in packages/backend-cpu). The cpu backend reads its kernels
 * when it is created, so each build is copied over the package's build/kernels-relaxed.wasm
 * before its backend is created; the original file is put back at the end. Both copies of the
 * model are resident at once: the file's weights twice must fit in memory. Every decode step
 * feeds a fresh seeded random token, the same one to both sides.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { createRng, type Backend } from '@moe-runtime/core';
import { createCpuBackend } from '@moe-runtime/backend-cpu';
import { prefill } from '../chunked-prefill.js';
import { loadModel } from '../model-files.js';
import type { ModelSession } from '../model-session.js';
import type { MoEModel } from '../moe-model.js';

const program = new Command('kernel-ab-bench')
  .argument('<file>', 'GGUF file')
  .argument('<a>', 'kernel build A (.wasm, relaxed SIMD)')
  .argument('<b>', 'kernel build B (.wasm, relaxed SIMD)')
  .option('--steps <n>', 'timed decode steps per side', (v) => Number(v), 40)
  .option('--warmup <n>', 'untimed decode steps per side first', (v) => Number(v), 4)
  .option('--prompt <n>', 'prompt tokens (prefilled on both sides)', (v) => Number(v), 32)
  .option('--threads <n>', 'cpu threads of each backend', (v) => Number(v), 2)
  .parse();
const opts = program.opts<{ steps: number; warmup: number; prompt: number; threads: number }>();
const [file, buildA, buildB] = program.args as [string, string, string];

interface Side {
  build: string;
  backend: Backend;
  model: MoEModel;
  session?: ModelSession;
  times: number[];
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[sorted.length >> 1] ?? Number.NaN;
};

const kernels = fileURLToPath(new URL('../build/kernels-relaxed.wasm', import.meta.resolve('@moe-runtime/backend-cpu')));
const original = readFileSync(kernels);
const sides: Side[] = [];
try {
  for (const build of [buildA, buildB]) {
    copyFileSync(build, kernels);
    const backend = await createCpuBackend({ threads: opts.threads, activations: 'q8' });
    const { model } = await loadModel(file, backend);
    sides.push({ build, backend, model, times: [] });
  }
} finally {
  writeFileSync(kernels, original);
}
const [a, b] = sides as [Side, Side];
const rng = createRng(7);
const vocab = a.model.config.vocabSize;
const prompt = Array.from({ length: opts.prompt }, () => rng.int(vocab));
for (const s of sides) {
  s.session = s.model.newSession({ contextLength: opts.prompt + opts.warmup + opts.steps + 1 });
  await prefill(s.model, s.session, prompt);
}
for (let i = 0; i < opts.warmup + opts.steps; i++) {
  const token = rng.int(vocab);
  for (const s of i % 2 === 0 ? [a, b] : [b, a]) {
    const t0 = performance.now();
    await s.model.step([{ session: s.session!, tokens: [token] }]);
    if (i >= opts.warmup) s.times.push(performance.now() - t0);
  }
}
for (const s of sides) console.log(`${s.build}: median ${median(s.times).toFixed(1)} ms a decode step (${s.backend.engine})`);
console.log(`A/B step-time ratio, median of ${opts.steps} pairs: ${median(a.times.map((t, i) => t / b.times[i]!)).toFixed(3)} (${new Date().toISOString()})`);
for (const s of sides) s.session!.dispose();
await Promise.all(sides.map((s) => s.backend.dispose()));
