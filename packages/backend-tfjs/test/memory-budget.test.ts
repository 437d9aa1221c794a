/** The wasm heap budget: a layer that cannot fit is refused before anything is allocated. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendError, HostTensor, randomWeights, routedExpertGroup, type ExpertGroup, type MoELayerConfig } from '@moe-runtime/core';
import { estimateExpertBytes, TfjsBackend } from '../src/index.js';
import { tf } from '../src/tf.js';

describe('tfjs backend (wasm): heap budget', () => {
  let backend: TfjsBackend;
  beforeAll(async () => {
    backend = await TfjsBackend.create({ engine: 'wasm' });
  });
  afterAll(async () => {
    await backend?.dispose();
  });

  it('estimates weights twice (XNNPACK packing) plus biases once', () => {
    const g = { kind: 'swiglu', hiddenSize: 4, ffnSize: 8, experts: { length: 2 } } as const;
    expect(estimateExpertBytes(g)).toBe(2 * (3 * 4 * 8 * 4 * 2 + (2 * 8 + 4) * 4));
    expect(estimateExpertBytes({ ...g, kind: 'gelu' })).toBe(2 * (2 * 4 * 8 * 4 * 2 + (8 + 4) * 4));
  });

  it('refuses a 24 GiB layer (1024 experts, D=F=1024) before allocating anything', async () => {
    // One real float16 expert (6 MB) shared by 1024 slots: a real, valid group that would need
    // 1024 x 3 x 1024 x 1024 x 4 B x 2 = 24 GiB in the 4 GiB heap.
    const d = 1024;
    const half = () => HostTensor.float32([d, d], new Float32Array(d * d).fill(0.01)).to('float16');
    const expert = { gate: half(), up: half(), down: half() };
    const huge: ExpertGroup = { kind: 'swiglu', hiddenSize: d, ffnSize: d, experts: new Array(1024).fill(expert) };
    const before = tf.memory();
    const err = await backend.prepareExperts(huge).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/needs about 24\.\d\d GiB of the tfjs wasm heap.*4\.00 GiB limit.*nothing was allocated/);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
  });

  it('counts prepared layers against wasmHeapLimitBytes and returns them on dispose', async () => {
    const config: MoELayerConfig = { hiddenSize: 32, numExperts: 4, topK: 1, expert: { kind: 'relu', ffnSize: 64 }, router: { name: 'topk-softmax' } };
    const group = routedExpertGroup(config, randomWeights(config, { seed: 5 }));
    const need = estimateExpertBytes(group);
    const limited = await TfjsBackend.create({ engine: 'wasm', wasmHeapLimitBytes: Math.floor(need * 1.5) });
    const first = await limited.prepareExperts(group);
    await expect(limited.prepareExperts(group)).rejects.toThrow(/nothing was allocated/);
    first.dispose();
    const again = await limited.prepareExperts(group);
    again.dispose();
    await limited.dispose();
  });
});
