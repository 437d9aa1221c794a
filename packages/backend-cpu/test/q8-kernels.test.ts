/**
 * The 8-bit-activation kernels (activations: 'q8') against an exact model of what they
 * compute: the activations quantized in float64 exactly as the kernels quantize them (per
 * block of 32 for q8_0, q4_0 and mxfp4, per 256 for the k-quants as llama.cpp's q8_K does:
 * d = amax / 127, codes round(x 127 / amax) in float32, ties to even), then core's
 * float64 reference on those values and the exact decoded weights. What is left is float32
 * rounding of scales and sums, so the bound is tight, unlike the bound against the unquantized
 * reference (formats.test.ts). Shapes exercise the four-rows-a-call kernels' tails (1, 2 and
 * 3 rows left in a panel, a single row, partial panels), block counts that are not a multiple
 * of four, and both the relaxed dot (relaxed build) and the i16 products (SIMD build).
 */
import { compareOutputs, createRng, HostTensor, randomNormal, referenceLinear, type DType } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, type CpuBackend } from '../src/index.js';
import { WasmEngine } from '../src/wasm/wasm-engine.js';

/** float32 round to nearest, ties to even (f32x4.nearest). */
function nearestEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The activation block the kernels quantize by for weights of this format. */
function activationBlock(dtype: DType): number {
  return dtype === 'q4_k' || dtype === 'q5_k' || dtype === 'q6_k' ? 256 : 32;
}

/** x (rows of k) with each block of `block` values replaced by d q, as the kernels quantize it. */
function quantizedActivations(x: Float32Array, k: number, block: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let b = 0; b < x.length; b += block) {
    let amax = 0;
    for (let i = 0; i < block; i++) amax = Math.max(amax, Math.abs(x[b + i]));
    const d = Math.fround(amax / 127);
    const id = amax > 0 ? Math.fround(127 / amax) : 0;
    for (let i = 0; i < block; i++) out[b + i] = d * Math.max(-128, Math.min(127, nearestEven(Math.fround(x[b + i] * id))));
  }
  if (x.length % k !== 0) throw new Error('rows of k expected');
  return out;
}

// Measured 2026-12-03 (both builds, every shape and row count below, k-quants on per-256
// activation scales): rel-L2 against the exact model at most 1.8e-7 (q8_0), 2.8e-7 (q4_0),
// 2.1e-7 (q4_k), 4.7e-7 (q5_k), 2.4e-7 (q6_k), 2.2e-7 (mxfp4), 1.8e-7 (q5_0 at k = 224, 1.2e-7
// at k = 352; a wider sweep, k up to 1408 with 20 rows, reached 1.6e-6 on a single output);
// asserted 2e-6 (about 4x the largest). Against the unquantized reference the same outputs sit
// 1.3e-3 or more away (q5_0: 1.5e-3; the negative control asserts 1e-4).
const EXACT_BOUND = 2e-6;

const CASES: ReadonlyArray<{ dtype: DType; k: number }> = [
  { dtype: 'q8_0', k: 32 * 7 },
  { dtype: 'q4_0', k: 32 * 7 },
  { dtype: 'q4_k', k: 256 * 3 },
  { dtype: 'q5_k', k: 256 * 3 },
  { dtype: 'q6_k', k: 256 * 3 },
  { dtype: 'mxfp4', k: 32 * 7 },
  { dtype: 'q5_0', k: 32 * 7 },
  // 11 blocks (two passes of four and a tail of three), a row length no k-quant can store.
  { dtype: 'q5_0', k: 32 * 11 },
];
// Output counts: one row, three (one call with lanes to drop), 5 (4 + 1), 70 (4 full panels and 6 rows: 4 + 2).
const OUTPUTS = [1, 3, 5, 70];

for (const [simd, threads] of [
  ['relaxed', 2],
  ['simd', 1],
] as const) {
  describe(`8-bit-activation kernels against the exact model (simd: '${simd}', threads: ${threads})`, () => {
    let backend: CpuBackend;
    beforeAll(async () => {
      backend = await createCpuBackend({ simd, threads, activations: 'q8' });
    });
    afterAll(() => backend.dispose());

    it(`${simd === 'relaxed' ? 'use' : 'do not use'} the relaxed i8 x i7 dot`, async () => {
      const engine = await WasmEngine.create(simd, 1, { activations: 'q8' });
      try {
        expect(engine?.relaxedDot).toBe(simd === 'relaxed');
      } finally {
        await engine?.dispose();
      }
    });

    // Every exponent byte the rows below can hold without overflowing float32 (e8m0 scales
    // 2^(e - 127), fp4 values up to 6): one row per exponent, each output's error measured
    // against the sum of its |w x| terms (a relative error would blow up where terms cancel).
    // Small exponents give float32 subnormal scales and sums, computed with fewer bits, so they
    // are bounded looser; a wrong scale formula (2x off) errs by about 0.1. Measured 2026-12-03,
    // both builds: at most 1.0e-6 for e = 0 and 1, 2.0e-7 for e = 2-4, 4.7e-8 from e = 5 up;
    // asserted 1e-5 below e = 5 and 4e-7 from there.
    it('mxfp4 scales at every exponent from 0 to 240, row by row, match the exact model', async () => {
      const rng = createRng(990);
      const k = 32 * 5;
      const n = 241;
      const bytes = new Uint8Array(n * 5 * 17);
      for (let e = 0; e < n; e++) {
        for (let b = 0; b < 5; b++) {
          const at = (e * 5 + b) * 17;
          bytes[at] = e;
          for (let i = 1; i < 17; i++) bytes[at + i] = rng.int(256);
        }
      }
      const weight = new HostTensor('mxfp4', [n, k], bytes);
      const magnitudes = HostTensor.float32([n, k], weight.to('float32').data.map(Math.abs));
      const layer = await backend.prepareLinear({ weight });
      try {
        for (const rows of [1, 2]) {
          const x = randomNormal(rng, rows * k);
          const y = await backend.linear(layer, x, rows);
          const xq = quantizedActivations(x, k, 32);
          const exact = referenceLinear(weight, xq, rows);
          const scale = referenceLinear(magnitudes, xq.map(Math.abs), rows);
          for (let i = 0; i < rows * n; i++) {
            const e = i % n;
            const err = Math.abs(y[i] - exact[i]) / scale[i];
            expect({ e, err: err < (e < 5 ? 1e-5 : 4e-7) }).toEqual({ e, err: true });
          }
        }
      } finally {
        layer.dispose();
      }
    });

    CASES.forEach(({ dtype, k }, c) => {
      it(`${dtype} (k = ${k}): ${OUTPUTS.join(', ')} outputs x 1, 2, 7 rows within ${EXACT_BOUND} of the exact model`, async () => {
        const rng = createRng(900 + c);
        for (const n of OUTPUTS) {
          const weight = HostTensor.float32([n, k], randomNormal(rng, n * k, 1 / Math.sqrt(k))).to(dtype);
          const bias = HostTensor.float32([n], randomNormal(rng, n, 0.5));
          const layer = await backend.prepareLinear({ weight, bias });
          try {
            for (const rows of [1, 2, 7]) {
              const x = randomNormal(rng, rows * k);
              const y = await backend.linear(layer, x, rows);
              const exact = compareOutputs(y, referenceLinear(weight, quantizedActivations(x, k, activationBlock(dtype)), rows, bias));
              expect(exact.relL2).toBeLessThan(EXACT_BOUND);
              // Negative control: the kernels did quantize (the unquantized reference is far).
              expect(compareOutputs(y, referenceLinear(weight, x, rows, bias)).relL2).toBeGreaterThan(1e-4);
            }
          } finally {
            layer.dispose();
          }
        }
      });
    });
  });
}
