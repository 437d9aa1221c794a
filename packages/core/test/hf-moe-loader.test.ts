/**
 * Loading MoE layers with Hugging Face names: layers written by saveMoELayer in each scheme,
 * loaded back (bit-exact for the stored dtype), then run through MoELayer on the test-double
 * backend and checked against the float64 reference.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  checkAgainstReference,
  compareOutputs,
  ConfigError,
  createRng,
  detectMoEScheme,
  HostTensor,
  loadMoELayer,
  loadMoELayerFrom,
  MoELayer,
  moeLayerTensors,
  openSafetensors,
  parseSafetensors,
  randomInput,
  randomNormal,
  randomWeights,
  referenceForward,
  saveMoELayer,
  SafetensorsError,
  serializeSafetensors,
  writeSafetensors,
  writeShardedSafetensors,
  type DType,
  type MoELayerConfig,
  type MoEWeights,
} from '../src/index.js';
import { createTestBackend } from '../src/testing/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moe-core-hf-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const MIXTRAL: MoELayerConfig = { hiddenSize: 16, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 12 }, router: { name: 'topk-softmax' } };
const QWEN2: MoELayerConfig = {
  hiddenSize: 16,
  numExperts: 6,
  topK: 4,
  expert: { kind: 'swiglu', ffnSize: 8 },
  sharedExperts: { ffnSize: 20, gated: true },
  router: { name: 'topk-softmax', options: { renormalize: false } },
};

/** Every tensor of `a` equals `b`'s after converting to `dtype`, bit for bit. */
function expectSameTensors(loaded: MoEWeights, original: MoEWeights, dtype: DType): void {
  const same = (x: HostTensor | undefined, y: HostTensor | undefined): void => {
    expect(x === undefined).toBe(y === undefined);
    if (!x || !y) return;
    expect(x.dtype).toBe(dtype);
    expect(x.shape).toEqual(y.shape);
    expect(x.data).toEqual(y.to(dtype).data);
  };
  same(loaded.router, original.router);
  original.experts.forEach((e, j) => {
    same(loaded.experts[j].gate, e.gate);
    same(loaded.experts[j].up, e.up);
    same(loaded.experts[j].down, e.down);
  });
  same(loaded.sharedGate, original.sharedGate);
}

async function forwardChecked(config: MoELayerConfig, weights: MoEWeights, seed: number) {
  const x = randomInput(7, config.hiddenSize, seed);
  const layer = await MoELayer.create({ config, weights, backend: createTestBackend() });
  const result = await layer.forward(x);
  const check = checkAgainstReference(config, weights, x, result);
  expect(check.failures).toEqual([]);
  return { x, result };
}

describe('Mixtral layout', () => {
  const weights = randomWeights(MIXTRAL, { seed: 21 });
  const path = (): string => join(dir, 'mixtral.safetensors');

  it('writes Hugging Face names under the prefix', async () => {
    await saveMoELayer(path(), MIXTRAL, weights, { scheme: 'mixtral', prefix: 'model.layers.3.', dtype: 'bfloat16' });
    const file = await openSafetensors(path());
    try {
      expect(file.names().length).toBe(1 + 3 * 4);
      expect(file.info('model.layers.3.block_sparse_moe.gate.weight').shape).toEqual([4, 16]);
      expect(file.info('model.layers.3.block_sparse_moe.experts.2.w1.weight')).toMatchObject({ dtype: 'BF16', shape: [12, 16] });
      expect(file.info('model.layers.3.block_sparse_moe.experts.2.w2.weight').shape).toEqual([16, 12]);
      expect(file.info('model.layers.3.block_sparse_moe.experts.2.w3.weight').shape).toEqual([12, 16]);
      expect(file.metadata).toEqual({ format: 'pt' });
    } finally {
      await file.close();
    }
  });

  it('loads back bit-exact in BF16 with the shape inferred, and runs against the reference', async () => {
    const loaded = await loadMoELayer(path(), { prefix: 'model.layers.3.', topK: 2 });
    expect(loaded.scheme).toBe('mixtral');
    expect(loaded.shape).toEqual({ hiddenSize: 16, numExperts: 4, expert: { kind: 'swiglu', ffnSize: 12, bias: false }, sharedExperts: undefined });
    expect(loaded.config).toMatchObject({ ...MIXTRAL, expert: { kind: 'swiglu', ffnSize: 12, bias: false } });
    expect(loaded.tensorNames.length).toBe(13);
    expect(loaded.weights.experts[1].gate!.data).toEqual(weights.experts[1].gate!.to('bfloat16').data); // w1 -> gate
    expect(loaded.weights.experts[1].up.data).toEqual(weights.experts[1].up.to('bfloat16').data); // w3 -> up
    expectSameTensors(loaded.weights, weights, 'bfloat16');
    await forwardChecked(loaded.config!, loaded.weights, 22);
  });

  it('round-trips F32 bit-exact and converts on load when asked', async () => {
    const p = join(dir, 'mixtral-f32.safetensors');
    await saveMoELayer(p, MIXTRAL, weights);
    const loaded = await loadMoELayer(p, { scheme: 'mixtral' });
    expect(loaded.config).toBeUndefined();
    expectSameTensors(loaded.weights, weights, 'float32');
    const { x, result } = await forwardChecked(MIXTRAL, loaded.weights, 23);
    const original = referenceForward(MIXTRAL, weights, x).output;
    expect(compareOutputs(result.output.data, original).relL2).toBeLessThan(1e-5);
    const asF16 = await loadMoELayer(p, { dtype: 'float16' });
    expectSameTensors(asF16.weights, weights, 'float16');
  });
});

describe('Qwen2-MoE layout with a gated shared expert', () => {
  const weights = randomWeights(QWEN2, { seed: 31 });

  it('writes, detects, loads bit-exact in F16 and runs against the reference', async () => {
    const p = join(dir, 'qwen2.safetensors');
    await saveMoELayer(p, QWEN2, weights, { scheme: 'qwen2-moe', prefix: 'model.layers.0.', dtype: 'float16' });
    const file = await openSafetensors(p);
    const names = file.names();
    await file.close();
    for (const n of ['mlp.gate.weight', 'mlp.experts.5.gate_proj.weight', 'mlp.experts.5.up_proj.weight', 'mlp.experts.5.down_proj.weight', 'mlp.shared_expert.gate_proj.weight', 'mlp.shared_expert.down_proj.weight', 'mlp.shared_expert_gate.weight']) {
      expect(names).toContain(`model.layers.0.${n}`);
    }
    expect(detectMoEScheme(names, 'model.layers.0.')).toBe('qwen-moe');
    const loaded = await loadMoELayer(p, { prefix: 'model.layers.0.', topK: 4, router: QWEN2.router });
    expect(loaded.scheme).toBe('qwen-moe');
    expect(loaded.shape.sharedExperts).toEqual({ count: 1, ffnSize: 20, gated: true });
    expect(loaded.shape.expert.ffnSize).toBe(8);
    expectSameTensors(loaded.weights, weights, 'float16');
    expect(loaded.weights.shared![0].down.data).toEqual(weights.shared![0].down.to('float16').data);
    const { result } = await forwardChecked(loaded.config!, loaded.weights, 32);
    expect(result.plan.rowToken.length).toBe(7 * 4);
  });

  it('loads a Qwen3-MoE / OLMoE layer (no shared expert) by alias', async () => {
    const config: MoELayerConfig = { ...QWEN2, sharedExperts: undefined };
    const w = randomWeights(config, { seed: 33 });
    const p = join(dir, 'qwen3.safetensors');
    await saveMoELayer(p, config, w, { scheme: 'qwen3-moe' });
    const loaded = await loadMoELayer(p, { scheme: 'olmoe', topK: 4 });
    expect(loaded.shape.sharedExperts).toBeUndefined();
    expectSameTensors(loaded.weights, w, 'float32');
  });
});

describe('DeepSeek layout', () => {
  const config: MoELayerConfig = { ...MIXTRAL, numExperts: 5, sharedExperts: { count: 2, ffnSize: 6 } };
  const weights: MoEWeights = {
    ...randomWeights(config, { seed: 41 }),
    routerParams: { e_score_correction_bias: HostTensor.float32([5], randomNormal(createRng(42), 5, 0.1)) },
  };

  it('merges n shared experts into one of width n*F, keeps e_score_correction_bias, and computes the same layer', async () => {
    const p = join(dir, 'deepseek.safetensors');
    await saveMoELayer(p, config, weights, { scheme: 'deepseek', prefix: 'model.layers.1.' });
    const loaded = await loadMoELayer(p, { prefix: 'model.layers.1.', topK: 2 });
    expect(loaded.scheme).toBe('deepseek');
    expect(loaded.shape.sharedExperts).toEqual({ count: 1, ffnSize: 12, gated: false });
    expect(loaded.weights.shared![0].gate!.shape).toEqual([12, 16]);
    expect(loaded.weights.shared![0].down.shape).toEqual([16, 12]);
    expect(loaded.weights.routerParams!.e_score_correction_bias.data).toEqual(weights.routerParams!.e_score_correction_bias.data);
    const x = randomInput(5, 16, 43);
    const merged = referenceForward(loaded.config!, loaded.weights, x).output;
    const separate = referenceForward(config, weights, x).output;
    expect(compareOutputs(merged, separate).relL2).toBeLessThan(1e-12);
    await forwardChecked(loaded.config!, loaded.weights, 44);
  });

  it('feeds the loaded e_score_correction_bias to the DeepSeek-V3 router', async () => {
    const v3: MoELayerConfig = { ...MIXTRAL, numExperts: 8, sharedExperts: { ffnSize: 6 } };
    const bias = randomNormal(createRng(45), 8, 0.01);
    bias[7] = 10; // large enough that every token must choose expert 7
    const w: MoEWeights = { ...randomWeights(v3, { seed: 46 }), routerParams: { e_score_correction_bias: HostTensor.float32([8], bias) } };
    const p = join(dir, 'deepseek-v3.safetensors');
    await saveMoELayer(p, v3, w, { scheme: 'deepseek-v3', dtype: 'bfloat16' });
    const router = { name: 'sigmoid-group-topk', options: { nGroup: 4, topkGroup: 2, routedScalingFactor: 2.5 } };
    const loaded = await loadMoELayer(p, { topK: 2, router });
    expect(loaded.weights.routerParams!.e_score_correction_bias.dtype).toBe('bfloat16');
    const { result } = await forwardChecked(loaded.config!, loaded.weights, 47);
    expect(result.stats.tokensPerExpert[7]).toBe(7);
  });
});

describe('layers spread over files', () => {
  it('loads one layer of several from a single file and from a sharded checkpoint', async () => {
    const w0 = randomWeights(MIXTRAL, { seed: 51 });
    const w1 = randomWeights(MIXTRAL, { seed: 52 });
    const t0 = moeLayerTensors(MIXTRAL, w0, { prefix: 'model.layers.0.' });
    const t1 = moeLayerTensors(MIXTRAL, w1, { prefix: 'model.layers.1.' });
    const p = join(dir, 'two-layers.safetensors');
    await writeSafetensors(p, new Map([...t0, ...t1]));
    const one = await loadMoELayer(p, { prefix: 'model.layers.1.' });
    expectSameTensors(one.weights, w1, 'float32');
    expect(one.tensorNames.every((n) => n.startsWith('model.layers.1.'))).toBe(true);
    // Only layer 1's tensors are read from the file (the lazy reader never touches layer 0's bytes).
    const file = await openSafetensors(p);
    const read = vi.spyOn(file, 'read');
    await loadMoELayerFrom(file, { prefix: 'model.layers.1.' });
    await file.close();
    expect(read).toHaveBeenCalledTimes(13);
    expect(read.mock.calls.every(([n]) => n.startsWith('model.layers.1.'))).toBe(true);

    // Layer 1's experts split over two shards, as large checkpoints are.
    const sub = join(dir, 'sharded');
    await mkdir(sub);
    const entries = [...t1];
    await writeShardedSafetensors(sub, [new Map([...t0, ...entries.slice(0, 6)]), new Map(entries.slice(6))], { dtype: 'bfloat16' });
    const sharded = await loadMoELayer(sub, { prefix: 'model.layers.1.', topK: 2 });
    expectSameTensors(sharded.weights, w1, 'bfloat16');
    await forwardChecked(sharded.config!, sharded.weights, 53);
  });
});

describe('loader errors', () => {
  const weights = randomWeights(MIXTRAL, { seed: 61 });
  const base = (): Map<string, HostTensor> => moeLayerTensors(MIXTRAL, weights, { prefix: 'model.layers.0.' });
  const write = async (name: string, tensors: Map<string, HostTensor>): Promise<string> => {
    const p = join(dir, name);
    await writeSafetensors(p, tensors);
    return p;
  };

  it('names a missing expert tensor', async () => {
    const t = base();
    t.delete('model.layers.0.block_sparse_moe.experts.2.w3.weight');
    const p = await write('missing.safetensors', t);
    await expect(loadMoELayer(p, { prefix: 'model.layers.0.' })).rejects.toThrow(
      /missing\.safetensors: missing tensor 'model\.layers\.0\.block_sparse_moe\.experts\.2\.w3\.weight' \(expert 2 of 4 up projection \[F, D\]\)/,
    );
  });

  it('names a tensor of the wrong shape with the expected one', async () => {
    const t = base();
    t.set('model.layers.0.block_sparse_moe.experts.1.w2.weight', weights.experts[1].gate!);
    const p = await write('shape.safetensors', t);
    await expect(loadMoELayer(p, { prefix: 'model.layers.0.' })).rejects.toThrow(
      /tensor 'model\.layers\.0\.block_sparse_moe\.experts\.1\.w2\.weight' has shape \[12, 16\], expected \[16, 12\] \(expert 1 of 4 down projection \[D, F\]\)/,
    );
    const r = base();
    r.set('model.layers.0.block_sparse_moe.gate.weight', HostTensor.float32([64], randomNormal(createRng(1), 64)));
    await expect(loadMoELayer(await write('router1d.safetensors', r), { prefix: 'model.layers.0.' })).rejects.toThrow(/has shape \[64\], expected a non-empty 2-D matrix/);
  });

  it('rejects an expert past the router rows', async () => {
    const t = base();
    t.set('model.layers.0.block_sparse_moe.experts.4.w1.weight', weights.experts[0].gate!);
    await expect(loadMoELayer(await write('extra.safetensors', t), { prefix: 'model.layers.0.' })).rejects.toThrow(/belongs to expert 4, but the router .* has 4 rows/);
  });

  it('rejects a wrong prefix, pointing at the prefixes that hold MoE layers', async () => {
    const p = await write('prefix.safetensors', base());
    await expect(loadMoELayer(p, { prefix: 'model.layers.9.' })).rejects.toThrow(/no MoE layer under prefix 'model\.layers\.9\.'.*found under prefix\(es\) 'model\.layers\.0\.'/);
    await expect(loadMoELayer(p, { prefix: 'model.layers.0.', scheme: 'qwen-moe' })).rejects.toThrow(/missing tensor 'model\.layers\.0\.mlp\.gate\.weight'/);
  });

  it('checks shared expert gate and score-correction bias shapes', async () => {
    const qwen = randomWeights(QWEN2, { seed: 62 });
    const t = moeLayerTensors(QWEN2, qwen, { scheme: 'qwen-moe' });
    t.set('mlp.shared_expert_gate.weight', HostTensor.float32([2, 16], randomNormal(createRng(2), 32)));
    await expect(loadMoELayer(await write('sgate.safetensors', t))).rejects.toThrow(/'mlp\.shared_expert_gate\.weight' has shape \[2, 16\], expected \[1, 16\]/);
    const gateOnly = moeLayerTensors({ ...QWEN2, sharedExperts: undefined }, { ...qwen, shared: undefined, sharedGate: undefined }, { scheme: 'qwen-moe' });
    gateOnly.set('mlp.shared_expert_gate.weight', qwen.sharedGate!);
    await expect(loadMoELayer(await write('gate-only.safetensors', gateOnly))).rejects.toThrow(/is present but no shared expert tensors/);
    const ds = moeLayerTensors(MIXTRAL, weights, { scheme: 'deepseek' });
    ds.set('mlp.gate.e_score_correction_bias', HostTensor.float32([3], randomNormal(createRng(3), 3)));
    await expect(loadMoELayer(await write('bias.safetensors', ds))).rejects.toThrow(/e_score_correction_bias' has shape \[3\], expected \[4\]/);
  });

  it('rejects bad options', async () => {
    const p = await write('opts.safetensors', base());
    await expect(loadMoELayer(p, { scheme: 'gpt-oss' })).rejects.toThrow(ConfigError);
    await expect(loadMoELayer(p, { scheme: 'gpt-oss' })).rejects.toThrow(/scheme: expected one of mixtral, qwen-moe, qwen2-moe/);
    await expect(loadMoELayer(p, { dtype: 'int8' as DType })).rejects.toThrow(/dtype: expected one of/);
    await expect(loadMoELayer(p, { prefix: 'model.layers.0.', topK: 5 })).rejects.toThrow(/topK: expected at most numExperts \(4\), got 5/);
    const src = await openSafetensors(p);
    await expect(loadMoELayerFrom(src, { prefix: 'model.layers.0.', topK: 2 })).resolves.toMatchObject({ scheme: 'mixtral' });
    await src.close();
    // The same from an in-memory buffer.
    const mem = parseSafetensors(serializeSafetensors(base()), 'mem.safetensors');
    const fromMem = await loadMoELayerFrom(mem, { prefix: 'model.layers.0.' });
    expectSameTensors(fromMem.weights, weights, 'float32');
  });
});

describe('writer errors', () => {
  it('refuses layouts a scheme cannot hold', async () => {
    const shared: MoELayerConfig = { ...MIXTRAL, sharedExperts: { ffnSize: 4 } };
    expect(() => moeLayerTensors(shared, randomWeights(shared, { seed: 1 }), { scheme: 'mixtral' })).toThrow(/sharedExperts: the mixtral scheme has no shared experts/);
    const two: MoELayerConfig = { ...MIXTRAL, sharedExperts: { count: 2, ffnSize: 4 } };
    expect(() => moeLayerTensors(two, randomWeights(two, { seed: 1 }), { scheme: 'qwen-moe' })).toThrow(/sharedExperts\.count: the qwen-moe scheme holds one shared expert/);
    const gated: MoELayerConfig = { ...MIXTRAL, sharedExperts: { ffnSize: 4, gated: true } };
    expect(() => moeLayerTensors(gated, randomWeights(gated, { seed: 1 }), { scheme: 'deepseek' })).toThrow(/no shared expert gate/);
    const gelu: MoELayerConfig = { ...MIXTRAL, expert: { kind: 'gelu', ffnSize: 4 } };
    expect(() => moeLayerTensors(gelu, randomWeights(gelu, { seed: 1 }))).toThrow(/expert\.kind: .*SwiGLU/);
    const w = { ...randomWeights(MIXTRAL, { seed: 1 }), routerParams: { e_score_correction_bias: HostTensor.float32([4], randomNormal(createRng(4), 4)) } };
    expect(() => moeLayerTensors(MIXTRAL, w, { scheme: 'mixtral' })).toThrow(/weights\.routerParams\.e_score_correction_bias/);
    expect(() => moeLayerTensors({ ...MIXTRAL, numExperts: 5 }, randomWeights(MIXTRAL, { seed: 1 }))).toThrow(/weights\.router has shape \[4, 16\], expected \[5, 16\]/);
    await expect(saveMoELayer(join(dir, 'x.safetensors'), MIXTRAL, randomWeights(MIXTRAL, { seed: 1 }), { scheme: 'nope' })).rejects.toThrow(ConfigError);
  });
});

describe('SafetensorsError is typed', () => {
  it('carries the E_SAFETENSORS code', async () => {
    const err = await loadMoELayer(join(dir, 'absent.safetensors')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SafetensorsError);
    expect((err as SafetensorsError).code).toBe('E_SAFETENSORS');
  });
});
