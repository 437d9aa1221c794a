import * as ort from 'onnxruntime-node';
import * as core from '@moe-runtime/core';
import { buildExpertGraph } from './build/src/expert-graph.js';
import { sessionOptions } from './build/src/sessions.js';
import { resolveOnnxOptions } from './build/src/options.js';
import { gatherExpertRows } from './build/src/host-routing.js';
import { roundRobin, quantile } from './build/bench/stats.js';
const config = { hiddenSize: 1024, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 3584 }, router: { name: 'topk-softmax' } };
const w = core.randomWeights(config, { seed: 1 });
const group = core.routedExpertGroup(config, w);
const dconf = core.denseEquivalentConfig(config);
const dgroup = core.routedExpertGroup(dconf, core.randomWeights(dconf, { seed: 2 }));
const th = Number(process.env.T ?? 2);
const o = sessionOptions(resolveOnnxOptions({ intraOpThreads: th }));
const fused = await ort.InferenceSession.create(buildExpertGraph(group, [0,1,2,3,4,5,6,7], true), o);
const split = await ort.InferenceSession.create(buildExpertGraph(group, [0,1,2,3,4,5,6,7], false), o);
const dense = await ort.InferenceSession.create(buildExpertGraph(dgroup, [0], true), o);
const router = core.createRouter(config.router, { numExperts: 8, topK: 2, params: {} });
for (const T of [1, 256]) {
  const x = core.randomInput(T, 1024, 2).data;
  const plan = core.buildRoutingPlan(router.route({ logits: core.referenceLinear(w.router, x, T), numTokens: T, numExperts: 8 }), T, 8);
  const feeds = {};
  for (let e = 0; e < 8; e++) feeds[`x${e}`] = new ort.Tensor('float32', gatherExpertRows(plan, e, x, 1024), [plan.tokensPerExpert[e], 1024]);
  const df = { x0: new ort.Tensor('float32', x, [T, 1024]) };
  const sm = await roundRobin([() => fused.run(feeds), () => split.run(feeds), () => dense.run(df)], 3, T === 1 ? 80 : 12);
  const r = (a, b) => quantile(sm[a].map((v, i) => v / sm[b][i]), 0.5).toFixed(3);
  console.log(`threads ${th} T=${T} fused ${quantile(sm[0], 0.5).toFixed(2)} split ${quantile(sm[1], 0.5).toFixed(2)} dense ${quantile(sm[2], 0.5).toFixed(2)} | fused/dense ${r(0, 2)} split/dense ${r(1, 2)} fused/split ${r(0, 1)}`);
}
