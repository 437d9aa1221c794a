/**
 * Decode (T=1) breakdown: where the time of one token goes on the onnx backend vs the
 * com.microsoft.MoE operator (expert part only, routing precomputed / logits given).
 */
import { buildRoutingPlan, createRouter, MoELayer, randomInput, randomWeights, routedExpertGroup, type MoELayerConfig } from '@moe-runtime/core';
import { MicrosoftMoEOperator, OnnxBackend } from '../src/index.js';
import { quantile, roundRobin } from './stats.js';

const config: MoELayerConfig = { hiddenSize: 1024, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 3584 }, router: { name: 'topk-softmax' } };
const threads = Number(process.env.MOE_BENCH_THREADS ?? '1');
const t = Number(process.env.MOE_BENCH_TOKENS ?? '1');

async function main(): Promise<void> {
  const weights = randomWeights(config, { seed: 1 });
  const spin = process.env.MOE_BENCH_SPIN === '1';
  const backend = await OnnxBackend.create({ intraOpThreads: threads, allowSpinning: spin });
  const layer = await MoELayer.create({ config, weights, backend });
  const experts = await backend.prepareExperts(routedExpertGroup(config, weights));
  const router = await backend.prepareLinear({ weight: weights.router });
  const op = await MicrosoftMoEOperator.create(routedExpertGroup(config, weights), { k: 2 }, { intraOpThreads: threads, allowSpinning: spin });
  const x = randomInput(t, 1024, 3);
  const logits = await backend.linear(router, x.data, t);
  const r = createRouter(config.router, { numExperts: 8, topK: 2, params: {} });
  const plan = buildRoutingPlan(r.route({ logits, numTokens: t, numExperts: 8 }), t, 8);
  const names = ['layer.forward', 'runExperts', 'op.run', 'router linear'];
  const s = await roundRobin(
    [() => layer.forward(x), () => backend.runExperts(experts, x.data, plan), () => op.run(x.data, logits, t), () => backend.linear(router, x.data, t)],
    5,
    Number(process.env.MOE_BENCH_REPEATS ?? '80'),
  );
  names.forEach((n, i) => console.log(`${n.padEnd(14)} p10 ${quantile(s[i], 0.1).toFixed(2)}  median ${quantile(s[i], 0.5).toFixed(2)} ms`));
  const paired = s[1].map((v, i) => v / s[2][i]);
  console.log(`paired runExperts / op.run median ${quantile(paired, 0.5).toFixed(3)}`);
}
void main();
