/**
 * Tensor hygiene and bad inputs on the wasm engine: a forward pass leaves tfjs's tensor count
 * unchanged, also when it fails half-way; only routed experts are touched; every bad input
 * gets a typed error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BackendError,
  buildRoutingPlan,
  ConfigError,
  HostTensor,
  InvalidInputError,
  randomInput,
  randomWeights,
  referenceExperts,
  referenceLinear,
  routedExpertGroup,
  ShapeError,
  compareOutputs,
  type ExpertGroup,
  type MoELayerConfig,
} from '@moe-runtime/core';
import { TfjsBackend } from '../src/index.js';
import type { TfjsExperts } from '../src/prepared.js';
import { tf } from '../src/tf.js';

const config: MoELayerConfig = { hiddenSize: 16, numExperts: 6, topK: 2, expert: { kind: 'swiglu', ffnSize: 24 }, router: { name: 'topk-softmax' } };

function group(seed: number): ExpertGroup {
  return routedExpertGroup(config, randomWeights(config, { seed }));
}

/** A plan sending token t to the experts listed for it (weights 0.6 / 0.4). */
function planFor(assignments: number[][]) {
  const token: number[] = [];
  const expert: number[] = [];
  const weight: number[] = [];
  assignments.forEach((es, t) => es.forEach((e, i) => (token.push(t), expert.push(e), weight.push(i === 0 ? 0.6 : 0.4))));
  return buildRoutingPlan({ token: Int32Array.from(token), expert: Int32Array.from(expert), weight: Float32Array.from(weight) }, assignments.length, config.numExperts);
}

describe('tfjs backend (wasm): tensors, errors, routed rows only', () => {
  let backend: TfjsBackend;
  beforeAll(async () => {
    backend = await TfjsBackend.create({ engine: 'wasm' });
  });
  afterAll(async () => {
    await backend?.dispose();
  });

  it('linear and runExperts leave tf.memory().numTensors unchanged', async () => {
    const g = group(11);
    const experts = await backend.prepareExperts(g);
    const lin = await backend.prepareLinear({ weight: randomWeights(config, { seed: 12 }).router });
    const x = randomInput(5, 16, 13).data;
    const before = tf.memory().numTensors;
    const logits = await backend.linear(lin, x, 5);
    const y = await backend.runExperts(experts, x, planFor([[0, 3], [3], [5, 1], [], [2, 0]]));
    expect(tf.memory().numTensors).toBe(before);
    expect(compareOutputs(logits, referenceLinear(randomWeights(config, { seed: 12 }).router, x, 5)).relL2).toBeLessThan(1e-5);
    expect(compareOutputs(y, referenceExperts(g, x, planFor([[0, 3], [3], [5, 1], [], [2, 0]]))).relL2).toBeLessThan(1e-5);
    lin.dispose();
    experts.dispose();
  });

  it('an error mid-forward (expert 4 fails after experts 0-3 ran) leaks no tensor and is a BackendError', async () => {
    const experts = (await backend.prepareExperts(group(21))) as TfjsExperts;
    experts.experts[4].down.dispose(); // sabotage: expert 4's last matMul will throw
    const x = randomInput(4, 16, 22).data;
    const before = tf.memory().numTensors;
    await expect(backend.runExperts(experts, x, planFor([[0, 4], [1, 2], [3, 4], [0]]))).rejects.toBeInstanceOf(BackendError);
    expect(tf.memory().numTensors).toBe(before);
    experts.dispose();
  });

  it('computes only routed experts: unrouted experts are never touched (their tensors are disposed here)', async () => {
    const g = group(31);
    const experts = (await backend.prepareExperts(g)) as TfjsExperts;
    for (const e of [1, 4]) for (const t of [experts.experts[e].gate!, experts.experts[e].up, experts.experts[e].down]) t.dispose();
    const x = randomInput(5, 16, 32).data;
    const plan = planFor([[0, 3], [3, 5], [5], [], [2, 0]]);
    const y = await backend.runExperts(experts, x, plan);
    const { relL2 } = compareOutputs(y, referenceExperts(g, x, plan));
    expect(relL2).toBeLessThan(1e-5);
    expect(Array.from(y.subarray(3 * 16, 4 * 16))).toEqual(new Array(16).fill(0)); // token 3 has no rows
    experts.dispose();
  });

  it('a plan with no rows gives zeros without running anything', async () => {
    const experts = await backend.prepareExperts(group(41));
    const y = await backend.runExperts(experts, randomInput(3, 16, 42).data, planFor([[], [], []]));
    expect(Array.from(y)).toEqual(new Array(48).fill(0));
    experts.dispose();
  });

  it('rejects bad inputs with typed errors naming what is wrong', async () => {
    const experts = await backend.prepareExperts(group(51));
    const x = randomInput(2, 16, 52).data;
    const plan = planFor([[0], [1]]);
    await expect(backend.runExperts(experts, x.subarray(0, 20), plan)).rejects.toThrow(ShapeError);
    await expect(backend.runExperts(experts, x, buildRoutingPlan({ token: Int32Array.of(0), expert: Int32Array.of(0), weight: Float32Array.of(1) }, 2, 3))).rejects.toThrow(
      /plan.numExperts is 3, expected the prepared group's 6/,
    );
    const bad = { ...plan, rowToken: Int32Array.of(0, 7) };
    await expect(backend.runExperts(experts, x, bad)).rejects.toThrow(/plan.rowToken\[1\] is 7/);
    // Every other plan field too: a wrong offset or weight count must not reach tfjs (a
    // negative tensor shape) or the host combine (reads past the rows, a silently wrong sum).
    const rows = planFor([[0, 1], [2, 3]]);
    const inconsistent: [string, object, RegExp][] = [
      ['decreasing expertOffsets', { expertOffsets: Int32Array.of(0, 3, 2, 3, 4, 4, 4) }, /plan\.expertOffsets/],
      ['tokenOffsets out of order', { tokenOffsets: Int32Array.of(0, 3, 4) }, /plan\.tokenRows\[2\]/],
      ['tokenOffsets not ending at the row count', { tokenOffsets: Int32Array.of(0, 2, 3) }, /plan\.tokenOffsets/],
      ['tokenRows listing a row twice', { tokenRows: Int32Array.of(0, 0, 2, 3) }, /plan\.tokenRows\[1\]/],
      ['short rowWeight', { rowWeight: rows.rowWeight.subarray(1) }, /plan\.rowWeight/],
    ];
    for (const [what, patch, message] of inconsistent) {
      const err = await backend.runExperts(experts, x, { ...rows, ...patch }).catch((e: unknown) => e);
      expect(err, what).toBeInstanceOf(ShapeError);
      expect((err as Error).message, what).toMatch(message);
    }
    await expect(backend.runExperts(experts, x, null as never)).rejects.toThrow(ShapeError);
    await expect(backend.runExperts(experts, x, { ...rows, rowWeight: rows.rowWeight.map((v, i) => (i === 1 ? NaN : v)) })).rejects.toThrow(InvalidInputError);
    await expect(backend.runExperts(experts, Array.from(x) as never, plan)).rejects.toThrow(/x must be a Float32Array, got Array/);
    const lin = await backend.prepareLinear({ weight: HostTensor.float32([3, 16], randomInput(3, 16, 53).data) });
    await expect(backend.linear(lin, x, 1.5)).rejects.toThrow(ShapeError);
    await expect(backend.linear(lin, x, 3)).rejects.toThrow(/expected rows x in = 3 x 16 = 48/);
    await expect(backend.linear(experts as never, x, 2)).rejects.toThrow(BackendError);
    lin.dispose();
    await expect(backend.linear(lin, x, 2)).rejects.toThrow(/disposed/);
    const g = group(54);
    await expect(backend.prepareExperts({ ...g, kind: 'tanh' as never })).rejects.toThrow(ConfigError);
    await expect(backend.prepareExperts({ ...g, ffnSize: 23 })).rejects.toThrow(/experts\[0\]\.gate has shape \[24, 16\], expected \[23, 16\]/);
    await expect(backend.prepareExperts({ ...g, kind: 'gelu' })).rejects.toThrow(/gate is present/);
    await expect(backend.prepareLinear({ weight: HostTensor.float32([3, 16]), bias: HostTensor.float32([4]) })).rejects.toThrow(/linear.bias has shape \[4\], expected \[3\]/);
    await expect(backend.prepareLinear({ weight: HostTensor.float32([0, 16]) })).rejects.toThrow(/linear.weight has shape \[0, 16\]; expected positive dimensions/);
    experts.dispose();
  });

  it('refuses handles of another backend instance and calls after dispose', async () => {
    const other = await TfjsBackend.create({ engine: 'wasm' });
    const foreign = await other.prepareExperts(group(61));
    await expect(backend.runExperts(foreign, randomInput(1, 16, 62).data, planFor([[0]]))).rejects.toThrow(/not prepared by this 'tfjs' backend instance/);
    const before = tf.memory().numTensors;
    await other.dispose(); // frees what it prepared
    expect(tf.memory().numTensors).toBeLessThan(before);
    await expect(other.prepareExperts(group(63))).rejects.toThrow(/has been disposed/);
  });
});
