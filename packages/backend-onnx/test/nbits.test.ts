/**
 * q4_0 and q8_0 weights computed through `com.microsoft.MatMulNBits` on the stored blocks
 * (repacked, never decoded), against core's float64 reference on the exact decoded weights,
 * routing included. Tolerances: q4_0 on float32 activations is exact to float32 rounding (the
 * 1e-5 policy); int8 activations (q8_0 always, q4_0 with `int8Activations`) were measured at
 * rel-L2 up to 1.4e-2 over these three layers x 20 seeds each (2026-12-02), with one routing
 * difference at a score gap above 0.05 in those 60 runs; the bounds asserted are 2x the error
 * and a near-tie gap of 0.1.
 */
import { compareOutputs, createRng, HostTensor, randomNormal, referenceLinear, routedExpertGroup, randomWeights, type MoELayerConfig } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildExpertGraph } from '../src/expert-graph.js';
import { OnnxBackend } from '../src/index.js';
import { runChecked } from './helpers.js';

/** Largest rel-L2 measured with int8 activations over the cases below, seeds 302-321 (2026-12-02). */
const MEASURED_INT8 = 1.4e-2;
const INT8_BOUND = 2 * MEASURED_INT8;
/** Score gap under which a routing difference with int8 activations counts as a near-tie. */
const INT8_TIE = 0.1;

let exact: OnnxBackend;
let int8: OnnxBackend;
beforeAll(async () => {
  exact = await OnnxBackend.create({ intraOpThreads: 1 });
  int8 = await OnnxBackend.create({ intraOpThreads: 1, int8Activations: true });
});
afterAll(async () => {
  await exact.dispose();
  await int8.dispose();
});

const mixtral: MoELayerConfig = { hiddenSize: 128, numExperts: 8, topK: 2, expert: { kind: 'swiglu', ffnSize: 96 }, router: { name: 'topk-softmax' } };
const cases: [string, MoELayerConfig][] = [
  ['E=8 k=2 SwiGLU', mixtral],
  ['E=16 k=1 switch ReLU with biases', { hiddenSize: 64, numExperts: 16, topK: 1, expert: { kind: 'relu', ffnSize: 128, bias: true }, router: { name: 'switch', options: { capacityFactor: 1.5 } } }],
  ['E=20 k=4 GELU with a gated shared expert (3 graphs of 8)', { hiddenSize: 96, numExperts: 20, topK: 4, expert: { kind: 'gelu', ffnSize: 64 }, sharedExperts: { ffnSize: 160, gated: true }, router: { name: 'topk-softmax' } }],
];

describe('q4_0 and q8_0 through MatMulNBits', () => {
  it.each(cases)('q4_0 on float32 activations: %s, rel-L2 < 1e-5, same experts', async (_, config) => {
    const { check } = await runChecked(exact, config, { tokens: 24, seed: 301, dtype: 'q4_0' });
    expect(check.failures).toEqual([]);
    expect(check.routingAgreement).toBe(1);
  });

  it.each(cases)('int8 activations (q8_0, and q4_0 with int8Activations): %s, within the measured bound', async (_, config) => {
    for (const [b, dtype] of [[exact, 'q8_0'], [int8, 'q4_0']] as const) {
      const { check } = await runChecked(b, config, { tokens: 24, seed: 302, dtype, maxRelL2: INT8_BOUND, tieTolerance: INT8_TIE });
      expect(check.failures, dtype).toEqual([]);
      expect(check.relL2, `${dtype}: int8 activations do differ from float32 ones`).toBeGreaterThan(1e-5);
    }
  });

  it('linear layers in q4_0 and q8_0, with biases', async () => {
    const rng = createRng(303);
    for (const [dtype, bound] of [['q4_0', 1e-5], ['q8_0', INT8_BOUND]] as const) {
      const weight = HostTensor.float32([40, 96], randomNormal(rng, 40 * 96)).to(dtype);
      const bias = HostTensor.float32([40], randomNormal(rng, 40));
      const lin = await exact.prepareLinear({ weight, bias });
      const x = randomNormal(rng, 3 * 96);
      expect(compareOutputs(await exact.linear(lin, x, 3), referenceLinear(weight, x, 3, bias)).relL2, dtype).toBeLessThan(bound);
      lin.dispose();
    }
  });

  it('the graph holds MatMulNBits nodes and no float copy of the weights (negative control: float32 weights give none)', () => {
    const bytesOf = (dtype: 'q4_0' | 'float32'): { text: string; size: number } => {
      const group = routedExpertGroup(mixtral, randomWeights(mixtral, { seed: 304, dtype }));
      const model = buildExpertGraph(group, [0, 1], { 4: 0, 8: 4 });
      return { text: Buffer.from(model).toString('latin1'), size: model.length };
    };
    const q = bytesOf('q4_0');
    const f = bytesOf('float32');
    expect(q.text).toContain('MatMulNBits');
    expect(f.text).not.toContain('MatMulNBits');
    // 3 matrices of 96 x 128 per expert: 5 bits per value as MatMulNBits inputs against 32.
    expect(q.size).toBeLessThan(f.size / 5);
  });
});
