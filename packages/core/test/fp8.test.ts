/**
 * FP8 checkpoints: E4M3 / E5M2 decoding and DeepSeek-V3-style block-scaled weights
 * (`weight_scale_inv`), dequantised by the HF loader and run against the reference.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyBlockScales,
  blockScaleShape,
  checkAgainstReference,
  decodeFloat8E4M3,
  decodeFloat8E5M2,
  float8E4M3ToFloat32,
  float8E5M2ToFloat32,
  HostTensor,
  loadMoELayer,
  MoELayer,
  moeLayerTensors,
  parseSafetensors,
  randomInput,
  randomWeights,
  type MoELayerConfig,
} from '../src/index.js';
import { createTestBackend } from '../src/testing/index.js';
import { rawSafetensors, type RawEntry } from './helpers/raw-safetensors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'moe-core-fp8-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('8-bit floats', () => {
  it('decodes E4M3FN (bias 7, max 448, no infinities, NaN at 0x7f/0xff)', () => {
    expect(float8E4M3ToFloat32(0x38)).toBe(1);
    expect(float8E4M3ToFloat32(0xb8)).toBe(-1);
    expect(float8E4M3ToFloat32(0x3c)).toBe(1.5);
    expect(float8E4M3ToFloat32(0x7e)).toBe(448);
    expect(float8E4M3ToFloat32(0x78)).toBe(256);
    expect(float8E4M3ToFloat32(0x08)).toBe(2 ** -6); // smallest normal
    expect(float8E4M3ToFloat32(0x01)).toBe(2 ** -9); // smallest subnormal
    expect(float8E4M3ToFloat32(0x07)).toBe(7 * 2 ** -9);
    expect(Object.is(float8E4M3ToFloat32(0x80), -0)).toBe(true);
    expect(float8E4M3ToFloat32(0x7f)).toBeNaN();
    expect(float8E4M3ToFloat32(0xff)).toBeNaN();
    const all = decodeFloat8E4M3(Uint8Array.from({ length: 256 }, (_, i) => i));
    expect(all.filter(Number.isNaN).length).toBe(2);
    expect(all.every((v) => Number.isNaN(v) || Math.abs(v) <= 448)).toBe(true);
  });

  it('decodes E5M2 as the upper byte of a float16', () => {
    expect(float8E5M2ToFloat32(0x3c)).toBe(1);
    expect(float8E5M2ToFloat32(0xc0)).toBe(-2);
    expect(float8E5M2ToFloat32(0x7b)).toBe(57344);
    expect(float8E5M2ToFloat32(0x7c)).toBe(Infinity);
    expect(float8E5M2ToFloat32(0x7e)).toBeNaN();
    expect(float8E5M2ToFloat32(0x01)).toBe(2 ** -16);
    expect(Array.from(decodeFloat8E5M2(Uint8Array.from([0x3c, 0x40])))).toEqual([1, 2]);
  });

  it('reads F8 tensors from safetensors as float32', () => {
    const file = parseSafetensors(
      rawSafetensors([
        { name: 'a', dtype: 'F8_E4M3', shape: [2, 2], bytes: Uint8Array.from([0x38, 0x3c, 0xb8, 0x7e]) },
        { name: 'b', dtype: 'F8_E5M2', shape: [1], bytes: Uint8Array.from([0x3c]) },
      ]),
    );
    expect(file.get('a').dtype).toBe('float32');
    expect(Array.from(file.get('a').data)).toEqual([1, 1.5, -1, 448]);
    expect(Array.from(file.get('b').data)).toEqual([1]);
  });

  it('applies block scales per [bR, bC] block, including ragged edge blocks', () => {
    expect(blockScaleShape(5, 3, [2, 2])).toEqual([3, 2]);
    const w = new Float32Array(15).fill(1);
    const scale = Float32Array.from([1, 2, 3, 4, 5, 6]);
    applyBlockScales(w, 5, 3, scale, [2, 2]);
    expect(Array.from(w)).toEqual([1, 1, 2, 1, 1, 2, 3, 3, 4, 3, 3, 4, 5, 5, 6]);
  });
});

/** Nearest E4M3 code of v (brute force over the 254 finite codes; the encoder lives only in tests). */
const CODES = decodeFloat8E4M3(Uint8Array.from({ length: 256 }, (_, i) => i));
function encodeE4M3(v: number): number {
  let best = 0;
  for (let b = 0; b < 256; b++) if (!Number.isNaN(CODES[b]) && Math.abs(CODES[b] - v) < Math.abs(CODES[best] - v)) best = b;
  return best;
}

/** Block-quantises a float32 weight to E4M3 + float32 scales, and returns what dequantisation must give. */
function quantize(w: HostTensor, block: [number, number]): { q: Uint8Array; scale: Float32Array; expected: Float32Array } {
  const [rows, cols] = w.shape;
  const [sr, sc] = blockScaleShape(rows, cols, block);
  const data = w.toFloat32();
  const scale = new Float32Array(sr * sc);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
    const s = Math.floor(i / block[0]) * sc + Math.floor(j / block[1]);
    scale[s] = Math.max(scale[s], Math.abs(data[i * cols + j]) / 448);
  }
  const q = new Uint8Array(rows * cols);
  const expected = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
    const s = scale[Math.floor(i / block[0]) * sc + Math.floor(j / block[1])];
    q[i * cols + j] = encodeE4M3(data[i * cols + j] / s);
    expected[i * cols + j] = CODES[q[i * cols + j]] * s;
  }
  return { q, scale, expected };
}

describe('FP8 block-scaled MoE layer (DeepSeek-V3 layout)', () => {
  const config: MoELayerConfig = { hiddenSize: 16, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 12 }, sharedExperts: { ffnSize: 12 }, router: { name: 'topk-softmax' } };
  const weights = randomWeights(config, { seed: 71 });
  const block: [number, number] = [4, 8]; // 12 and 16 are not all multiples of 8: ragged edge blocks
  const expected = new Map<string, Float32Array>();

  async function writeFp8(name: string, mutate?: (entries: RawEntry[]) => void): Promise<string> {
    const entries: RawEntry[] = [];
    for (const [n, t] of moeLayerTensors(config, weights, { scheme: 'deepseek', prefix: 'model.layers.3.' })) {
      if (n.endsWith('mlp.gate.weight')) {
        const bf = t.to('bfloat16');
        entries.push({ name: n, dtype: 'BF16', shape: t.shape, bytes: new Uint8Array(bf.data.buffer) });
        continue;
      }
      const { q, scale, expected: e } = quantize(t, block);
      expected.set(n, e);
      entries.push({ name: n, dtype: 'F8_E4M3', shape: t.shape, bytes: q });
      entries.push({ name: `${n}_scale_inv`, dtype: 'F32', shape: blockScaleShape(t.shape[0], t.shape[1], block), bytes: new Uint8Array(scale.buffer) });
    }
    mutate?.(entries);
    const p = join(dir, name);
    await writeFile(p, rawSafetensors(entries));
    return p;
  }

  it('dequantises every expert weight exactly and runs against the reference', async () => {
    const p = await writeFp8('fp8.safetensors');
    const loaded = await loadMoELayer(p, { prefix: 'model.layers.3.', topK: 2, fp8BlockSize: block });
    expect(loaded.scheme).toBe('deepseek');
    expect(loaded.weights.router.dtype).toBe('bfloat16');
    const up = loaded.weights.experts[2].up;
    expect(up.dtype).toBe('float32');
    expect(up.data).toEqual(expected.get('model.layers.3.mlp.experts.2.up_proj.weight'));
    expect(loaded.weights.shared![0].down.data).toEqual(expected.get('model.layers.3.mlp.shared_experts.down_proj.weight'));
    expect(loaded.tensorNames).toContain('model.layers.3.mlp.experts.2.up_proj.weight_scale_inv');
    // Quantisation error is visible but small: the scales really were applied.
    const rel = Math.hypot(...Array.from(up.data, (v, i) => v - (weights.experts[2].up.data[i] as number))) / Math.hypot(...Array.from(weights.experts[2].up.data));
    expect(rel).toBeGreaterThan(1e-4);
    expect(rel).toBeLessThan(0.1);

    const x = randomInput(6, 16, 72);
    const layer = await MoELayer.create({ config: loaded.config!, weights: loaded.weights, backend: createTestBackend() });
    expect(checkAgainstReference(loaded.config!, loaded.weights, x, await layer.forward(x)).failures).toEqual([]);
    const bf = await loadMoELayer(p, { prefix: 'model.layers.3.', fp8BlockSize: block, dtype: 'bfloat16' });
    expect(bf.weights.experts[0].gate!.dtype).toBe('bfloat16');
  });

  it('rejects block scales of the wrong shape before reading data, suggesting fp8BlockSize', async () => {
    const p = await writeFp8('fp8-blocks.safetensors');
    await expect(loadMoELayer(p, { prefix: 'model.layers.3.' })).rejects.toThrow(
      /tensor 'model\.layers\.3\.mlp\.experts\.0\.gate_proj\.weight_scale_inv' has shape \[3, 2\], expected \[1, 1\] \(block scales of \[12, 16\] in \[128, 128\] blocks; set fp8BlockSize/,
    );
    await expect(loadMoELayer(p, { fp8BlockSize: [0, 8] as unknown as [number, number] })).rejects.toThrow(/fp8BlockSize: expected \[rows, cols\] of positive integers/);
  });
});
