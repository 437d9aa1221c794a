/**
 * Negative controls of the reference comparison: a fault injected into the production decoder's
 * rotary or RMSNorm (through vi.mock, a test-only path) must make the comparison against the
 * float64 reference fail, while the reference's own logits stay bit for bit what they were: it
 * shares no code with those modules.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import '@moe-runtime/backend-cpu';
import { getBackend, type Backend } from '@moe-runtime/core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { argmax, MoEModel, MODEL_TYPES, parseModelConfig, randomModelWeights, referenceModelLogits, tinyConfigJson, type ModelConfig, type ModelMultipliers, type ModelType } from '../src/index.js';

type MultiplierFault = 'embedding-multiplier-left-out' | 'attention-multiplier-left-out' | 'residual-multiplier-left-out' | 'logits-scaling-left-out';
type Fault = 'none' | 'rotary-interleaved' | 'rotary-rotate-half' | 'norm-offset-weight' | 'qk-norm-offset-weight' | 'shared-gate-dropped' | MultiplierFault;
const fault = vi.hoisted(() => ({ kind: 'none' as Fault, hiddenSize: 0 }));

// The rotary of GPT-J / llama.cpp's "normal" mode, pairs (2i, 2i + 1): the mistake of applying
// the wrong convention to Hugging Face-layout q/k rows.
vi.mock('../src/rotary.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/rotary.js')>();
  const interleaved: typeof real.applyRotary = (vec, offset, heads, headDim, position, invFreq) => {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < headDim / 2; i++) {
        const at = offset + h * headDim + 2 * i;
        const c = Math.cos(position * invFreq[i]);
        const s = Math.sin(position * invFreq[i]);
        const a = vec[at];
        const b = vec[at + 1];
        vec[at] = a * c - b * s;
        vec[at + 1] = b * c + a * s;
      }
    }
  };
  // DeepSeek's interleaved rotary done rotate-half style instead (dimension i with i + d/2).
  const rotateHalf: typeof real.applyRotaryInterleaved = (vec, offset, heads, headDim, stride, position, invFreq, scale) => {
    for (let h = 0; h < heads; h++) real.applyRotary(vec, offset + h * stride, 1, headDim, position, invFreq, scale);
  };
  return {
    ...real,
    applyRotary: ((...args) => (fault.kind === 'rotary-interleaved' ? interleaved : real.applyRotary)(...args)) as typeof real.applyRotary,
    applyRotaryInterleaved: ((...args) => (fault.kind === 'rotary-rotate-half' ? rotateHalf : real.applyRotaryInterleaved)(...args)) as typeof real.applyRotaryInterleaved,
  };
});

// RMSNorm scaled by (1 + weight), Gemma's convention: on the layer norms (width D) or only on the q/k norms.
vi.mock('../src/rms-norm.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/rms-norm.js')>();
  const faulty = (width: number): boolean => (fault.kind === 'norm-offset-weight' && width === fault.hiddenSize) || (fault.kind === 'qk-norm-offset-weight' && width !== fault.hiddenSize);
  const rmsNorm: typeof real.rmsNorm = (x, weight, width, eps, out) => (faulty(width) ? real.rmsNorm(x, weight.map((w) => 1 + w), width, eps, out) : real.rmsNorm(x, weight, width, eps, out));
  return { ...real, rmsNorm };
});

const PROMPT = [1, 70, 104, 101, 32, 120, 200, 33, 90, 250, 301, 17];
// The bound model.test.ts asserts between the cpu backend and the reference.
const BOUND = 4e-5;

let backend: Backend;
beforeAll(async () => {
  backend = await getBackend('cpu');
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A decoder that drops Qwen2-MoE's sigmoid gate adds the shared expert's output unscaled. */
function dropSharedGate(config: ModelConfig): ModelConfig {
  const shared = config.moe.sharedExperts;
  expect(shared?.gated).toBe(true);
  return { ...config, moe: { ...config.moe, sharedExperts: { ...shared!, gated: false } } };
}

/** The config the production decoder gets: the shared gate dropped, or one muP multiplier left out (1, or the default attention scale), for those faults. */
function productionConfig(config: ModelConfig, kind: Fault): ModelConfig {
  if (kind === 'shared-gate-dropped') return dropSharedGate(config);
  const m = config.multipliers;
  if (!m) return config;
  const left: Partial<Record<Fault, Partial<ModelMultipliers>>> = {
    'embedding-multiplier-left-out': { embedding: 1 },
    'attention-multiplier-left-out': { attentionScale: 1 / Math.sqrt(config.headDim) },
    'residual-multiplier-left-out': { residual: 1 },
    'logits-scaling-left-out': { logitsScaling: 1 },
  };
  return { ...config, multipliers: { ...m, ...left[kind] } };
}

/** Production logits (prefill split in two, so the cache is used) and the reference's, under `kind`. */
async function compare(type: ModelType, kind: Fault): Promise<{ diff: number; argmaxAgree: boolean; reference: Float64Array }> {
  const config = parseModelConfig(tinyConfigJson({ modelType: type }));
  const weights = randomModelWeights(config, 71 + type.length);
  fault.kind = kind;
  fault.hiddenSize = config.hiddenSize;
  try {
    const model = await MoEModel.create(productionConfig(config, kind), weights, backend);
    const session = model.newSession();
    const a = await model.forward(session, PROMPT.slice(0, 5), { allLogits: true });
    const b = await model.forward(session, PROMPT.slice(5), { allLogits: true });
    model.dispose();
    const got = new Float32Array(a.logits.length + b.logits.length);
    got.set(a.logits);
    got.set(b.logits, a.logits.length);
    const ref = referenceModelLogits(config, weights, PROMPT);
    const v = config.vocabSize;
    const argmaxAgree = PROMPT.every((_, p) => argmax(got, p * v, v) === argmax(ref.logits, p * v, v));
    return { diff: maxAbsDiff(got, ref.logits), argmaxAgree, reference: ref.logits };
  } finally {
    fault.kind = 'none';
  }
}

const FAULTS: Readonly<Record<ModelType, readonly Fault[]>> = {
  mixtral: ['rotary-interleaved', 'norm-offset-weight'],
  qwen2_moe: ['rotary-interleaved', 'norm-offset-weight', 'shared-gate-dropped'],
  qwen3_moe: ['rotary-interleaved', 'norm-offset-weight', 'qk-norm-offset-weight'],
  olmoe: ['rotary-interleaved', 'norm-offset-weight', 'qk-norm-offset-weight'],
  granitemoe: ['rotary-interleaved', 'norm-offset-weight', 'embedding-multiplier-left-out', 'attention-multiplier-left-out', 'residual-multiplier-left-out', 'logits-scaling-left-out'],
  gpt_oss: ['rotary-interleaved', 'norm-offset-weight'],
  // qk-norm-offset-weight hits DeepSeek's one norm narrower than D, kv_a_layernorm.
  deepseek_v2: ['rotary-rotate-half', 'norm-offset-weight', 'qk-norm-offset-weight'],
};

describe.each(MODEL_TYPES)('%s: the reference comparison catches a broken production block', (type: ModelType) => {
  it.each(FAULTS[type])('%s: the check fails, the reference is unchanged', async (kind) => {
    const clean = await compare(type, 'none');
    expect(clean.diff).toBeLessThan(BOUND);
    expect(clean.argmaxAgree).toBe(true);
    const broken = await compare(type, kind);
    expect(broken.diff).toBeGreaterThan(100 * BOUND);
    // The reference imports neither mocked module: its logits are bit for bit the clean ones.
    expect(Buffer.compare(Buffer.from(broken.reference.buffer), Buffer.from(clean.reference.buffer))).toBe(0);
  });
});

describe('the reference decoder shares no code with the production decoder', () => {
  it('imports only core, its own folder and the plain config and weight types', async () => {
    const dir = join(import.meta.dirname, '../src/reference');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const f of files) {
      const src = await readFile(join(dir, f), 'utf8');
      for (const m of src.matchAll(/^(import|export)(\s+type)?[^;]*?from '([^']+)';/gms)) {
        const [, , typeOnly, from] = m;
        const allowed = from === '@moe-runtime/core' || from.startsWith('./') || (typeOnly !== undefined && ['../model-config.js', '../model-weights.js'].includes(from));
        expect(allowed, `${f} imports ${from}${typeOnly ? ' (types)' : ''}`).toBe(true);
      }
    }
  });
});
