/**
 * Every stored format on the WebAssembly kernels (both builds) against core's float64
 * reference on the exact decoded weights: seeded random weights encoded with core's encoders
 * (randomWeights / HostTensor.to), decode (T = 1), small batches (the row kernels) and
 * prefill-sized batches (decoded panels + GEMM), float32 activations throughout.
 */
import {
  checkAgainstReference,
  compareOutputs,
  createRng,
  HostTensor,
  MoELayer,
  randomInput,
  randomNormal,
  randomWeights,
  referenceLinear,
  type DType,
  type MoELayerConfig,
  type MoEWeights,
} from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend, type CpuBackend } from '../src/index.js';

const FORMATS: readonly DType[] = ['q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k', 'mxfp4', 'float16', 'bfloat16', 'q5_0'];

// D and F are multiples of 256 (k-quant blocks); F = 528 would not be, so F = 512 with E = 4.
const config = (kind: 'swiglu' | 'gelu', bias = false): MoELayerConfig => ({
  hiddenSize: 256,
  numExperts: 4,
  topK: 2,
  expert: { kind, ffnSize: 512, bias },
  router: { name: 'topk-softmax' },
});

async function expectMatches(backend: CpuBackend, cfg: MoELayerConfig, weights: MoEWeights, tokens: number, seed: number): Promise<void> {
  const x = randomInput(tokens, cfg.hiddenSize, seed);
  const moe = await MoELayer.create({ config: cfg, weights, backend });
  try {
    const result = await moe.forward(x);
    const check = checkAgainstReference(cfg, weights, x, result, { maxRelL2: 1e-5 });
    expect(check.failures).toEqual([]);
    expect(check.relL2).toBeLessThan(1e-5);
  } finally {
    moe.dispose();
  }
}

for (const [simd, threads] of [
  ['relaxed', 2],
  ['simd', 1],
] as const) {
  describe(`stored formats (simd: '${simd}', threads: ${threads})`, () => {
    let backend: CpuBackend;
    beforeAll(async () => {
      backend = await createCpuBackend({ simd, threads });
    });
    afterAll(() => backend.dispose());

    FORMATS.forEach((dtype, i) => {
      // 1 token: decode; 3: row kernels on a few rows; 40: about 20 rows an expert, decoded panels.
      it(`${dtype} experts match the float64 reference at T = 1, 3 and 40`, async () => {
        const cfg = config('swiglu');
        const weights = randomWeights(cfg, { seed: 300 + i, dtype });
        for (const t of [1, 3, 40]) await expectMatches(backend, cfg, weights, t, 400 + 10 * i + t);
      });

      it(`${dtype} linear [rows x 512] x [512 x 70] + bias matches referenceLinear (rows 1, 5, 24)`, async () => {
        const rng = createRng(500 + i);
        const weight = HostTensor.float32([70, 512], randomNormal(rng, 70 * 512, 1 / Math.sqrt(512))).to(dtype);
        const bias = HostTensor.float32([70], randomNormal(rng, 70, 0.5));
        const layer = await backend.prepareLinear({ weight, bias });
        try {
          for (const rows of [1, 5, 24]) {
            const x = randomNormal(rng, rows * 512);
            const { relL2 } = compareOutputs(await backend.linear(layer, x, rows), referenceLinear(weight, x, rows, bias));
            expect(relL2).toBeLessThan(1e-5);
          }
        } finally {
          layer.dispose();
        }
      });
    });

    it('float16 rows of zeros and subnormals, and rows near the float16 maximum, match referenceLinear', async () => {
      const rng = createRng(640);
      // All values below 6.1e-5 (float16 subnormals), a quarter of them zeros: the kernels' special path.
      const tiny = randomNormal(rng, 40 * 512, 1.5e-5).map((v, i) => (i % 4 === 0 ? 0 : v));
      // Normal values with a few near the float16 maximum.
      const large = randomNormal(rng, 40 * 512, 1).map((v, i) => (i % 97 === 0 ? Math.sign(v) * 60000 : v));
      for (const values of [tiny, large]) {
        const weight = HostTensor.float32([40, 512], values).to('float16');
        const layer = await backend.prepareLinear({ weight });
        try {
          for (const rows of [1, 3, 12]) {
            const x = randomNormal(rng, rows * 512);
            const { relL2 } = compareOutputs(await backend.linear(layer, x, rows), referenceLinear(weight, x, rows));
            expect(relL2).toBeLessThan(1e-5);
          }
        } finally {
          layer.dispose();
        }
      }
    });

    it('half-precision rows whose length is not a multiple of 4 match referenceLinear on the panel path (24 rows) and the row path', async () => {
      const rng = createRng(645);
      for (const dtype of ['float16', 'bfloat16'] as const) {
        // 203 values a row: the panel decode's 4 x 4 transposes leave a tail of 3; 37 outputs leave a group of 1 row.
        const weight = HostTensor.float32([37, 203], randomNormal(rng, 37 * 203, 1 / Math.sqrt(203))).to(dtype);
        const layer = await backend.prepareLinear({ weight });
        try {
          for (const rows of [1, 24]) {
            const x = randomNormal(rng, rows * 203);
            expect(compareOutputs(await backend.linear(layer, x, rows), referenceLinear(weight, x, rows)).relL2).toBeLessThan(1e-5);
          }
        } finally {
          layer.dispose();
        }
      }
    });

    it('q5_0 at row lengths that are not whole 256-value blocks (D = 160, F = 352: 5 and 11 blocks) matches the reference at T = 1, 3 and 40', async () => {
      // What llama.cpp's Q4_K_M stores as q5_0 (DeepSeek-V2-Lite's ffn_down_exps rows of 1408).
      const cfg: MoELayerConfig = { hiddenSize: 160, numExperts: 4, topK: 2, expert: { kind: 'swiglu', ffnSize: 352 }, router: { name: 'topk-softmax' } };
      const weights = randomWeights(cfg, { seed: 650, dtype: 'q5_0' });
      for (const t of [1, 3, 40]) await expectMatches(backend, cfg, weights, t, 660 + t);
      const rng = createRng(670);
      const weight = HostTensor.float32([37, 1408], randomNormal(rng, 37 * 1408, 1 / Math.sqrt(1408))).to('q5_0');
      const layer = await backend.prepareLinear({ weight });
      try {
        for (const rows of [1, 6, 20]) {
          const x = randomNormal(rng, rows * 1408);
          const { relL2 } = compareOutputs(await backend.linear(layer, x, rows), referenceLinear(weight, x, rows));
          expect(relL2).toBeLessThan(1e-5);
        }
      } finally {
        layer.dispose();
      }
    });

    it('GELU experts with biases in q4_k match the reference', async () => {
      const cfg = config('gelu', true);
      await expectMatches(backend, cfg, randomWeights(cfg, { seed: 611, dtype: 'q4_k' }), 13, 612);
    });

    it("a Q4_K_M-style mix (gate/up q4_k, down q6_k, one expert's gate f32) matches the reference", async () => {
      const cfg = config('swiglu');
      const base = randomWeights(cfg, { seed: 621 });
      const weights: MoEWeights = {
        ...base,
        experts: base.experts.map((e, j) => ({ ...e, gate: j === 1 ? e.gate : e.gate!.to('q4_k'), up: e.up.to('q4_k'), down: e.down.to('q6_k') })),
      };
      for (const t of [1, 17]) await expectMatches(backend, cfg, weights, t, 630 + t);
    });
  });
}

// 8-bit activations (activations: 'q8'): measured 2026-12-02 over 20 seeds x T = 1, 3 of this
// layer, rel-L2 vs the float64 reference 1.2e-2 on average, 1.7e-2 at most (q8_0 and q4_0 alike,
// both builds); for a [96 x 512] linear layer on Gaussian inputs over 10 seeds x 1, 4 rows,
// 5.5e-3 on average, 7.0e-3 at most. q5_0 (measured 2026-12-03, both builds, the same sweep on
// other seeds): experts 1.3e-2 on average, 2.4e-2 at most; linear 5.5e-3 on average, 6.2e-3 at
// most (q4_0 on those seeds: 2.1e-2 and 6.3e-3). The bounds leave a margin of about 2x over the
// largest (1.25x for the experts' worst seed).
const Q8_EXPERT_BOUND = 3e-2;
const Q8_LINEAR_BOUND = 1.5e-2;

for (const simd of ['relaxed', 'simd'] as const) {
  describe(`8-bit activations (simd: '${simd}')`, () => {
    let backend: CpuBackend;
    let exact: CpuBackend;
    beforeAll(async () => {
      backend = await createCpuBackend({ simd, threads: 2, activations: 'q8' });
      exact = await createCpuBackend({ simd, threads: 1 });
    });
    afterAll(async () => {
      await backend.dispose();
      await exact.dispose();
    });

    it('reports them in the engine name', () => {
      expect(backend.engine).toMatch(/ q8-activations$/);
    });

    for (const dtype of ['q8_0', 'q4_0', 'q5_0', 'q4_k', 'q5_k', 'q6_k'] as const) {
      it(`${dtype} experts stay within ${Q8_EXPERT_BOUND} rel-L2 of the reference (same experts), and differ from the float32 path`, async () => {
        const cfg = config('swiglu');
        for (let s = 0; s < 3; s++) {
          const weights = randomWeights(cfg, { seed: 700 + s, dtype });
          const moe = await MoELayer.create({ config: cfg, weights, backend });
          const tight = await MoELayer.create({ config: cfg, weights, backend: exact });
          try {
            for (const t of [1, 3]) {
              const x = randomInput(t, cfg.hiddenSize, 710 + 10 * s + t);
              const result = await moe.forward(x);
              const check = checkAgainstReference(cfg, weights, x, result, { maxRelL2: Q8_EXPERT_BOUND });
              expect(check.failures).toEqual([]);
              // The quantized path really ran: it is not the float32 path's result.
              const { relL2 } = compareOutputs(result.output.data, (await tight.forward(x)).output.data);
              expect(relL2).toBeGreaterThan(1e-4);
            }
          } finally {
            moe.dispose();
            tight.dispose();
          }
        }
      });

      it(`${dtype} linear stays within ${Q8_LINEAR_BOUND} rel-L2 of referenceLinear (inputs of both signs, and non-negative)`, async () => {
        const rng = createRng(720);
        const weight = HostTensor.float32([96, 512], randomNormal(rng, 96 * 512, 1 / Math.sqrt(512))).to(dtype);
        const layer = await backend.prepareLinear({ weight });
        try {
          for (const rows of [1, 4, -1]) {
            const x = rows > 0 ? randomNormal(rng, rows * 512) : randomNormal(rng, 512).map(Math.abs);
            const n = Math.abs(rows);
            const { relL2 } = compareOutputs(await backend.linear(layer, x, n), referenceLinear(weight, x, n));
            expect(relL2).toBeLessThan(Q8_LINEAR_BOUND);
            expect(relL2).toBeGreaterThan(1e-5);
          }
        } finally {
          layer.dispose();
        }
      });
    }
  });
}
