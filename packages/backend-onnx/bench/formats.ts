/**
 * The Mixtral-shaped layer of moe-vs-dense.ts (E=8, k=2, D=1024, F=3584 SwiGLU) with its weights
 * stored in each format, against the dense-equivalent FFN (F = 7168) in the same format on the
 * same backend: T = 1 and 16, one format at a time (so only one format's sessions are resident),
 * warm-up, round-robin rounds over a fresh seeded input each, medians and the paired MoE / dense
 * ratio. `q4_0+int8` is q4_0 with `int8Activations`.
 *
 *   npx -y pnpm@12.21.0 --filter @moe-runtime/backend-onnx build
 *   cd packages/backend-onnx && npx tsc -p tsconfig.bench.json && node build/bench/formats.js
 *
 * Environment: MOE_BENCH_THREADS (default 1), MOE_BENCH_FORMATS (comma-separated subset).
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { denseEquivalentConfig, MoELayer, randomInput, randomWeights, type DType, type MoELayerConfig } from '@moe-runtime/core';
import { OnnxBackend, ORT_VERSION } from '../src/index.js';
import { quantile, roundRobin } from './stats.js';

const config: MoELayerConfig = { hiddenSize: 1024, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 3584 }, router: { name: 'topk-softmax' } };
const FORMATS: readonly string[] = (process.env.MOE_BENCH_FORMATS ?? 'float32,float16,bfloat16,q8_0,q4_0,q4_0+int8,q4_k').split(',');
const THREADS = Number(process.env.MOE_BENCH_THREADS ?? 1);
const TOKENS = [1, 16];
const ROUNDS: Record<number, number> = { 1: 40, 16: 20 };

async function benchFormat(format: string, rows: string[]): Promise<void> {
  const dtype = format.replace('+int8', '') as DType;
  const backend = await OnnxBackend.create({ intraOpThreads: THREADS, int8Activations: format.endsWith('+int8') });
  const dense = denseEquivalentConfig(config);
  const moe = await MoELayer.create({ config, weights: randomWeights(config, { seed: 1, dtype }), backend });
  const ffn = await MoELayer.create({ config: dense, weights: randomWeights(dense, { seed: 2, dtype }), backend });
  const mib = backend.memory.residentBytes / 2 ** 20;
  for (const t of TOKENS) {
    const n = ROUNDS[t];
    const inputs = Array.from({ length: n + 3 }, (_, i) => randomInput(t, config.hiddenSize, 500 * t + i));
    const samples = await roundRobin([(r) => moe.forward(inputs[r]), (r) => ffn.forward(inputs[r])], 3, n);
    const ratio = quantile(samples[0].map((v, r) => v / samples[1][r]), 0.5);
    const [m, d] = samples.map((s) => quantile(s, 0.5));
    console.log(`${format.padEnd(10)} T=${t}: moe ${m.toFixed(2)} ms, dense ${d.toFixed(2)} ms, moe / dense ${ratio.toFixed(2)}; resident ${mib.toFixed(0)} MiB`);
    rows.push(`| ${format} | ${t} | ${m.toFixed(2)} | ${d.toFixed(2)} | ${ratio.toFixed(2)} | ${((t * 1e3) / m).toFixed(0)} | ${mib.toFixed(0)} |`);
  }
  moe.dispose();
  ffn.dispose();
  await backend.dispose();
}

async function main(): Promise<void> {
  console.log(`# backend-onnx formats, ${new Date().toISOString()}`);
  console.log(`onnxruntime-node ${ORT_VERSION}; node ${process.version}; ${cpus()[0]?.model} x ${availableParallelism()} (shared with other work); intraOpThreads ${THREADS}; load average ${loadavg()[0].toFixed(1)}`);
  const rows = ['| format | T | moe ms | dense ms | moe / dense | moe tok/s | resident MiB (moe + dense) |', '|---|---|---|---|---|---|---|'];
  for (const format of FORMATS) await benchFormat(format, rows);
  console.log(`\n${rows.join('\n')}\n(load average at end ${loadavg()[0].toFixed(1)})`);
}

await main();
