// Runs a small MoE layer on the onnx backend inside a worker thread and posts its rel-L2
// error against the float64 reference (used by worker-thread.test.ts; needs the built dist).
import { parentPort, workerData } from 'node:worker_threads';
import { checkAgainstReference, MoELayer, randomInput, randomWeights } from '@moe-runtime/core';
import { OnnxBackend } from '../dist/index.js';

const config = { hiddenSize: 32, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 16 }, router: { name: 'topk-softmax' } };
const weights = randomWeights(config, { seed: workerData.seed });
const backend = await OnnxBackend.create({ intraOpThreads: 1 });
const layer = await MoELayer.create({ config, weights, backend });
const x = randomInput(6, 32, workerData.seed + 1);
const check = checkAgainstReference(config, weights, x, await layer.forward(x));
await backend.dispose();
parentPort.postMessage({ relL2: check.relL2, passed: check.passed, engine: backend.engine });
