/**
 * The synthetic real-shape generator: llama.cpp's Q4_K_M type choice, a small synthetic file
 * that loads and runs, and the real Mixtral-8x7B header written shape-only (sparse) and refused
 * by the memory check before anything is allocated.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@moe-runtime/backend-cpu';
import { getBackend, MemoryLimitError, type Backend } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GgufCheckpoint,
  llamaCppFallback,
  loadGgufCheckpoint,
  loadModel,
  openGgufModel,
  QWEN3_30B_A3B,
  SYNTHETIC_MODELS,
  GPT_OSS_20B,
  DEEPSEEK_V2_LITE,
  syntheticTensorType,
  useMoreBits,
  writeSyntheticGguf,
  type ModelConfig,
} from '../src/index.js';

let root: string;
let backend: Backend;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'moe-synthetic-'));
  backend = await getBackend('cpu');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/**
 * Loads `path` on the cpu backend and checks the logits of `prompt` are finite and not flat (RMS
 * above 0.01); with `text`, that the file's tokenizer round-trips it too.
 */
async function expectLiveLogits(path: string, prompt: number[], text?: string): Promise<void> {
  const { model, tokenizer } = await loadModel(path, backend);
  if (text !== undefined) expect(tokenizer.decode(tokenizer.encode(text, false))).toBe(text);
  const out = await model.forward(model.newSession(), prompt, { allLogits: true });
  model.dispose();
  expect(out.logits.every(Number.isFinite)).toBe(true);
  let sum2 = 0;
  for (const v of out.logits) sum2 += v * v;
  expect(Math.sqrt(sum2 / out.logits.length)).toBeGreaterThan(0.01);
}


/** DeepSeek-V2-Lite's layout at a small size: 3 layers (the first dense), 4 heads, 8 experts (top 2), a 512-token vocabulary. */
function smallDeepseek(hiddenSize: number, denseFfn: number, expertFfn: number, sharedFfn: number): ModelConfig {
  const g = DEEPSEEK_V2_LITE;
  return {
    ...g,
    hiddenSize,
    numLayers: 3,
    numHeads: 4,
    numKvHeads: 4,
    headDim: 64,
    vocabSize: 512,
    latentAttention: { ...g.latentAttention!, kvLoraRank: 64, qkNopeHeadDim: 32, qkRopeHeadDim: 32, vHeadDim: 32, softmaxScale: 1 / 8 },
    leadingDense: { count: 1, ffnSize: denseFfn },
    moe: { ...g.moe, hiddenSize, numExperts: 8, topK: 2, expert: { ...g.moe.expert, ffnSize: expertFfn }, sharedExperts: { ...g.moe.sharedExperts!, ffnSize: sharedFfn } },
  };
}

describe("llama.cpp's Q4_K_M mixture", () => {
  it('use_more_bits picks the first and last eighth and every third layer in between (48 layers: 24)', () => {
    const picked = Array.from({ length: 48 }, (_, i) => i).filter((i) => useMoreBits(i, 48));
    expect(picked).toEqual([0, 1, 2, 3, 4, 5, 8, 11, 14, 17, 20, 23, 26, 29, 32, 35, 38, 41, 42, 43, 44, 45, 46, 47]);
  });

  it('Qwen3-30B-A3B: q6_k for output and the picked attn_v / ffn_down, q4_k elsewhere; Mixtral (8 experts): attn_v, attn_k q8_0, attn_output q5_k', () => {
    const c = QWEN3_30B_A3B;
    expect(syntheticTensorType('output', 0, c, 'Q4_K_M')).toBe('q6_k');
    expect(syntheticTensorType('v', 8, c, 'Q4_K_M')).toBe('q6_k');
    expect(syntheticTensorType('v', 9, c, 'Q4_K_M')).toBe('q4_k');
    expect(syntheticTensorType('down', 47, c, 'Q4_K_M')).toBe('q6_k');
    expect(syntheticTensorType('down', 6, c, 'Q4_K_M')).toBe('q4_k');
    expect(syntheticTensorType('gate', 0, c, 'Q4_K_M')).toBe('q4_k');
    expect(syntheticTensorType('embed', 0, c, 'Q4_K_M')).toBe('q4_k');
    const mixtral = SYNTHETIC_MODELS.find((m) => m.id === 'mixtral-8x7b-q4_k_m-shape')!.config;
    expect(['v', 'k', 'o'].map((r) => syntheticTensorType(r as 'v', 9, mixtral, 'Q4_K_M'))).toEqual(['q8_0', 'q8_0', 'q5_k']);
  });
});

describe('synthetic checkpoints', () => {
  it('a small Qwen3-shaped Q4_K_M file loads, mixes q4_k and q6_k as planned, and gives finite logits', async () => {
    const config: ModelConfig = { ...QWEN3_30B_A3B, hiddenSize: 256, numLayers: 16, numHeads: 4, numKvHeads: 2, headDim: 64, vocabSize: 512, moe: { ...QWEN3_30B_A3B.moe, hiddenSize: 256, numExperts: 16, topK: 2, expert: { kind: 'swiglu', ffnSize: 256 } } };
    const path = join(root, 'small-q4_k_m.gguf');
    const r = await writeSyntheticGguf(path, { id: 'small', description: 'small', config, fileType: 'Q4_K_M' }, 3);
    // q6_k: output, and attn_v and ffn_down in the 8 of 16 layers use_more_bits picks (0, 1, 4, 7, 10, 13, 14, 15).
    expect(r.formats).toEqual({ q4_k: 1 + 16 * 5 + 8 + 8, q6_k: 1 + 8 + 8, float32: 16 * 5 + 1 });
    expect((await stat(path)).size).toBeGreaterThan(r.bytes);
    const { weights } = await loadGgufCheckpoint(path);
    expect(weights.layers[0].attention.v?.dtype).toBe('q6_k');
    expect(weights.layers[2].attention.v?.dtype).toBe('q4_k');
    await expectLiveLogits(path, [1, 50, 300, 7]);
  });

  it('a small gpt-oss-shaped MXFP4_MOE file: experts mxfp4, other matrices q8_0, biases and sinks float32; it loads and gives finite logits', async () => {
    const g = GPT_OSS_20B;
    const config: ModelConfig = { ...g, hiddenSize: 128, numLayers: 4, numHeads: 4, numKvHeads: 2, headDim: 32, vocabSize: 512, layerWindows: g.layerWindows!.slice(0, 4), moe: { ...g.moe, hiddenSize: 128, numExperts: 8, topK: 2, expert: { ...g.moe.expert, ffnSize: 128 } } };
    const path = join(root, 'small-gpt-oss.gguf');
    const r = await writeSyntheticGguf(path, { id: 'small-gpt-oss', description: 'small gpt-oss', config, fileType: 'MXFP4_MOE', pre: 'gpt-4o' }, 4);
    // Per layer: 3 expert stacks in mxfp4; q, k, v, o in q8_0 (+ embed, output); q/k/v/o biases,
    // sinks, router + its bias, 3 expert bias stacks and 2 norms in float32 (+ the final norm).
    expect(r.formats).toEqual({ mxfp4: 4 * 3, q8_0: 4 * 4 + 2, float32: 4 * (4 + 1 + 2 + 3 + 2) + 1 });
    const { weights } = await loadGgufCheckpoint(path);
    expect(weights.layers[1].moe.experts[3].down.dtype).toBe('mxfp4');
    expect(weights.layers[1].attention.sinks?.shape).toEqual([4]);
    const file = await GgufCheckpoint.open(path);
    try {
      expect(file.metadata.string('tokenizer.ggml.pre')).toBe('gpt-4o');
    } finally {
      await file.close();
    }
    await expectLiveLogits(path, [1, 50, 300, 7, 9, 100], "CamelCase IT'S 12345 héllo");
  });

  it('a small DeepSeek-V2-Lite-shaped Q8_0 file: the latent-attention layout, a dense first layer, routers and norms float32; it loads and gives finite logits', async () => {
    const config = smallDeepseek(128, 256, 64, 128);
    const path = join(root, 'small-deepseek.gguf');
    const r = await writeSyntheticGguf(path, { id: 'small-deepseek', description: 'small deepseek', config, fileType: 'q8_0', pre: 'deepseek-llm' }, 5);
    // Layer 0 (dense): q, kv_a, o, 3 dense; layers 1-2: q, kv_a, o, 3 shared, 3 expert stacks;
    // plus embed and output. float32: 3 norms and k_b, v_b a layer, 2 routers, the final norm.
    expect(r.formats).toEqual({ q8_0: 6 + 2 * 9 + 2, float32: 3 * 5 + 2 + 1 });
    const { weights } = await loadGgufCheckpoint(path);
    expect(weights.layers[0].moe.experts).toHaveLength(1);
    expect(weights.layers[2].moe.experts).toHaveLength(8);
    expect(weights.layers[2].moe.experts[5].down.dtype).toBe('q8_0');
    await expectLiveLogits(path, [1, 50, 300, 7, 9, 100], 'abc123 안녕 中文\nend');
  });

  it("the catalogue writes the real files' pre-tokenizers", () => {
    const pre = Object.fromEntries(SYNTHETIC_MODELS.map((m) => [m.id, m.pre ?? 'gpt-2']));
    expect([pre['olmoe-1b-7b-q8_0'], pre['qwen3-30b-a3b-q4_k_m'], pre['gpt-oss-20b-mxfp4'], pre['deepseek-v2-lite-q4_k_m']]).toEqual(['olmo', 'qwen2', 'gpt-4o', 'deepseek-llm']);
  });

  it('refuses an MXFP4_MOE mixture for a layout-defined architecture, naming the field', async () => {
    await expect(writeSyntheticGguf(join(root, 'bad.gguf'), { id: 'bad', description: 'bad', config: DEEPSEEK_V2_LITE, fileType: 'MXFP4_MOE' })).rejects.toThrow(/fileType.*deepseek_v2 synthetic files take one storage format or Q4_K_M, got MXFP4_MOE/);
  });

  it("llama.cpp's fallback for rows that are not whole 256-value blocks: q4_k -> q5_0, q6_k -> q8_0", () => {
    expect(llamaCppFallback('q4_k', 1408, 't')).toBe('q5_0');
    expect(llamaCppFallback('q6_k', 10944, 't')).toBe('q8_0');
    expect(llamaCppFallback('q4_k', 2816, 't')).toBe('q4_k');
    expect(llamaCppFallback('float32', 128, 't')).toBe('float32');
    expect(() => llamaCppFallback('q5_k', 1408, 'blk.0.attn_output.weight')).toThrow(/fileType.*blk\.0\.attn_output\.weight: llama\.cpp would store these rows of 1408 values as q5_1/);
  });

  it("DeepSeek-V2-Lite Q4_K_M (shape only): llama.cpp's choice per tensor, q5_0 where rows of 1408 or 10944 are not whole 256-value blocks", async () => {
    const spec = SYNTHETIC_MODELS.find((m) => m.id === 'deepseek-v2-lite-q4_k_m')!;
    const path = join(root, 'deepseek-v2-lite-q4_k_m.gguf');
    const r = await writeSyntheticGguf(path, { ...spec, shapeOnly: true });
    // 27 layers, use_more_bits picks 0-2, 5, 8, ..., 20 and 23-26 (13, 12 of them MoE layers).
    // q4_k: token_embd; layer 0's q, kv_a, o, gate, up; 7 a MoE layer (q, kv_a, o, gate/up shexp and exps);
    // 14 ffn_down_shexp. q6_k: output, 12 ffn_down_shexp (2816 = 11 x 256). q8_0: layer 0's ffn_down
    // (q6_k, 10944 values) and 12 ffn_down_exps (q6_k, 1408). q5_0: the other 14 ffn_down_exps.
    // float32: 3 norms, attn_k_b, attn_v_b a layer, a router a MoE layer, the final norm.
    expect(r.formats).toEqual({ q4_k: 1 + 5 + 26 * 7 + 14, q6_k: 1 + 12, q8_0: 1 + 12, q5_0: 14, float32: 27 * 5 + 26 + 1 });
    const file = await GgufCheckpoint.open(path);
    try {
      const dtype = (name: string): string | undefined => file.tensors.get(name)?.dtype;
      expect(dtype('blk.3.ffn_down_exps.weight')).toBe('q5_0');
      expect(file.tensors.get('blk.3.ffn_down_exps.weight')?.ggmlType).toBe(6);
      expect(dtype('blk.5.ffn_down_exps.weight')).toBe('q8_0');
      expect(dtype('blk.0.ffn_down.weight')).toBe('q8_0');
      expect(dtype('blk.3.ffn_down_shexp.weight')).toBe('q4_k');
      expect(dtype('blk.5.ffn_down_shexp.weight')).toBe('q6_k');
      expect(dtype('blk.3.ffn_gate_exps.weight')).toBe('q4_k');
      expect(dtype('blk.3.attn_k_b.weight')).toBe('float32');
      expect(dtype('blk.3.attn_v_b.weight')).toBe('float32');
      expect(dtype('blk.3.ffn_gate_inp.weight')).toBe('float32');
      expect(dtype('output.weight')).toBe('q6_k');
      expect(dtype('token_embd.weight')).toBe('q4_k');
    } finally {
      await file.close();
    }
  });

  it('a small DeepSeek-V2-shaped Q4_K_M file (q5_0 and q8_0 where rows are not whole 256-value blocks) loads and gives finite logits', async () => {
    const config = smallDeepseek(256, 320, 96, 192);
    const path = join(root, 'small-deepseek-q4_k_m.gguf');
    const r = await writeSyntheticGguf(path, { id: 'small-deepseek-q4_k_m', description: 'small deepseek Q4_K_M', config, fileType: 'Q4_K_M' }, 6);
    // use_more_bits(i, 3) picks layer 2 only. Rows of 256 (embed, q, kv_a, gate, up) q4_k; attn_output's
    // 128, the dense down's 320, layer 1's shexp (192) and exps (96) downs q5_0; layer 2's downs q8_0.
    expect(r.formats).toEqual({ q4_k: 1 + 3 * 2 + 2 + 2 * 4, q6_k: 1, q5_0: 3 + 1 + 2, q8_0: 2, float32: 3 * 5 + 2 + 1 });
    const { weights } = await loadGgufCheckpoint(path);
    expect(weights.layers[1].moe.experts[5].down.dtype).toBe('q5_0');
    expect(weights.layers[2].moe.experts[5].down.dtype).toBe('q8_0');
    await expectLiveLogits(path, [1, 50, 300, 7, 9, 100]);
  });

  it('Mixtral-8x7B Q4_K_M written shape-only (sparse): opens, plans 26 GB, and is refused before anything is allocated', async () => {
    const spec = SYNTHETIC_MODELS.find((m) => m.id === 'mixtral-8x7b-q4_k_m-shape')!;
    const path = join(root, 'mixtral.gguf');
    const r = await writeSyntheticGguf(path, spec);
    expect(r.parameters).toBeGreaterThan(46.6e9);
    expect(r.parameters).toBeLessThan(46.8e9);
    const { source } = await openGgufModel(path);
    expect(source.config.moe.numExperts).toBe(8);
    await source.close();
    let prepared = 0;
    const counting: Backend = Object.assign(Object.create(backend) as Backend, { prepareLinear: async () => (prepared++, backend.prepareLinear as never) });
    const err = (await loadModel(path, counting, { machine: { totalBytes: 24 * 2 ** 30, availableBytes: 20 * 2 ** 30 } }).catch((e: unknown) => e)) as MemoryLimitError;
    expect(err).toBeInstanceOf(MemoryLimitError);
    expect(err.neededBytes).toBeGreaterThan(24e9);
    expect(err.message).toMatch(/mixtral\.gguf: the model needs 2\d\.\d\d GiB .* more than the 20\.00 GiB this machine has available/);
    expect(prepared).toBe(0);
  });
});
