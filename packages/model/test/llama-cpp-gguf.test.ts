/**
 * External check on GGUF files: llama.cpp (node-llama-cpp's prebuilt CPU build, F32 KV cache,
 * flash attention off) evaluates the very files this runtime loads, for every architecture
 * and block format, and tokenizes strings as this runtime's GGUF tokenizer does, for the gpt2
 * (with several pre-tokenizers) and llama (SentencePiece) vocabularies. Skipped, with the
 * reason, only where node-llama-cpp cannot load.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCpuBackend } from '@moe-runtime/backend-cpu';
import { createRng, getBackend, type Backend, type DType } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaCppModel, loadNodeLlamaCpp } from '../src/bench/llama-cpp.js';
import { argmax, loadModel, GGUF_MODEL_TYPES, TextModel, type ModelType, type ModelWeights } from '../src/index.js';
import { KQUANT_SHAPE, quietBranches, writeTinyGguf } from './gguf-fixtures.js';

const { lib, reason } = await loadNodeLlamaCpp();
let root: string;
let backend: Backend;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'moe-llama-gguf-'));
  backend = await getBackend('cpu');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const rng = createRng(77);
const PROMPT = [1, ...Array.from({ length: 63 }, () => 3 + rng.int(380))];

/**
 * Bounds on the max abs logit difference per position. float32 weights: llama.cpp computes in
 * float32 (measured up to 5.0e-6; asserted 5e-5 at every position, 10x). Block formats: llama.cpp
 * quantizes the activations to 8 bits for its dot products (q8_0 / q8_K blocks) where this
 * runtime's cpu backend multiplies the exact decoded weights by float32 activations, on logits
 * of std about 2: the median position 0.056-0.123, the 90th percentile 0.068-0.245 (highest
 * for the k-quants), and up to 2.0 at the few positions where a near-tied route flips to
 * another expert (later positions attend to it and move a little too). Asserted: 90th
 * percentile <= 0.4 and every position <= 3. MOE_PRINT_DIFFS=1 prints the figures.
 */
const F32_BOUND = 5e-5;
const QUANT_P90_BOUND = 0.4;
const QUANT_ANY_BOUND = 3;
// gpt-oss (k = 2 of 8, clamped experts): its route-flip positions measured up to 3.09 (mxfp4) and
// 3.25 (q5_k) on 2026-12-02 while p90 stayed 0.084-0.303; asserted 5 for it, about 1.5x.
const QUANT_ANY_BOUND_OF: Partial<Record<ModelType, number>> = { gpt_oss: 5 };
// q5_0 (measured 2026-12-03 over the six types: median 0.006-0.066, p90 0.007-0.091, argmax 60-64
// of 64) stays within those bounds except one route-flip position of mixtral's file: 3.20 at
// position 39, where layer 1's second expert is 6 here and 3 in llama.cpp. This runtime's own
// 8-bit-activation path (decoded one token at a time) takes expert 3 there too and then sits
// 0.065 from llama.cpp (0.377 at most over the 64 positions: the test below). Asserted 4.5 for it.
const QUANT_ANY_BOUND_FOR: Readonly<Record<string, number>> = { 'mixtral q5_0': 4.5 };

/**
 * Argmax agreement: a random model's 384 logits are often near-tied at the top (the top-2 gap is
 * below 0.1 at about 15% of positions), so single files of 64 positions measure 92-100%. The
 * rate is asserted over every quantized file together (>= 95%; measured 1494/1536 = 97.3%, 2621/2688 = 97.5% with q5_0), and
 * per file >= 85%, so one gross error cannot hide in the pool.
 */
const POOLED_AGREEMENT = 0.95;
const FILE_AGREEMENT = 0.85;

const FORMATS: readonly { format: DType; kquant: boolean }[] = [
  { format: 'float32', kquant: false },
  { format: 'q8_0', kquant: false },
  { format: 'q4_0', kquant: false },
  // What llama.cpp's Q4_K_M falls back to for rows that are not whole 256-value blocks.
  { format: 'q5_0', kquant: false },
  { format: 'mxfp4', kquant: false },
  { format: 'q4_k', kquant: true },
  { format: 'q5_k', kquant: true },
  { format: 'q6_k', kquant: true },
];

function quantile(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const pooled = { agree: 0, positions: 0 };

/**
 * deepseek_v2 is checked in float32 only: over the 26 layers llama.cpp needs, its 8-bit
 * activations compound into route flips layer after layer (measured on q8_0 .. q6_k, branches
 * quieted to 0.25: median 0.20-0.35, p90 0.57-1.08, argmax 78-94%; at full size median 1.3-2.0),
 * beyond the bounds two-layer models meet. Its block formats are checked against the float64
 * reference instead (gguf-roundtrip.test.ts).
 */
function formatsOf(type: ModelType): typeof FORMATS {
  return type === 'deepseek_v2' ? FORMATS.filter((f) => f.format === 'float32') : FORMATS;
}

describe.skipIf(!lib)(`llama.cpp evaluates the same GGUF files${lib ? '' : ` (skipped: ${reason})`}`, () => {
  describe.each(GGUF_MODEL_TYPES)('%s', (type: ModelType) => {
    it.each(formatsOf(type))('$format: logits close at every position, argmax agreement', async ({ format, kquant }) => {
      // llama.cpp's olmoe needs as many kv heads as heads (its k norm is [n_embd]), as OLMoE has.
      const heads = type === 'olmoe' ? { numKvHeads: 4 } : {};
      // llama.cpp's deepseek2 runs the plain attn_q ("lite") variant only for 26 or 27 layers; at that
      // depth full-size random branches amplify float32 rounding (1.6e-4 measured), so its branches
      // are quieted to 0.25 (quietBranches): 1.3e-5 measured.
      const layers = type === 'deepseek_v2' ? { numLayers: 26, edit: (w: ModelWeights) => quietBranches(w, 0.25) } : {};
      const { path, config } = await writeTinyGguf(root, `${type}-${format}`, { modelType: type, seed: 80 + type.length, format, ...(kquant ? KQUANT_SHAPE : {}), ...heads, ...layers });
      const llama = await LlamaCppModel.open(lib!, path, { threads: 1 });
      const theirs = await llama.logits(PROMPT, config.vocabSize);
      await llama.dispose();
      const { model } = await loadModel(path, backend);
      const ours = (await model.forward(model.newSession(), PROMPT, { allLogits: true })).logits;
      model.dispose();
      const v = config.vocabSize;
      const perPosition: number[] = [];
      let agree = 0;
      for (let p = 0; p < PROMPT.length; p++) {
        let m = 0;
        for (let j = 0; j < v; j++) m = Math.max(m, Math.abs(ours[p * v + j] - theirs[p * v + j]));
        perPosition.push(m);
        if (argmax(ours, p * v, v) === argmax(theirs, p * v, v)) agree++;
      }
      const [median, p90, max] = [quantile(perPosition, 0.5), quantile(perPosition, 0.9), Math.max(...perPosition)];
      if (process.env.MOE_PRINT_DIFFS) console.log(`${type} ${format}: max abs per position: median ${median.toFixed(3)}, p90 ${p90.toFixed(3)}, max ${max.toExponential(2)}; argmax agreement ${agree}/${PROMPT.length}`);
      if (format === 'float32') {
        expect(max).toBeLessThan(F32_BOUND);
        expect(agree).toBe(PROMPT.length);
        return;
      }
      expect(p90).toBeLessThan(QUANT_P90_BOUND);
      expect(max).toBeLessThan(QUANT_ANY_BOUND_FOR[`${type} ${format}`] ?? QUANT_ANY_BOUND_OF[type] ?? QUANT_ANY_BOUND);
      expect(agree / PROMPT.length).toBeGreaterThanOrEqual(FILE_AGREEMENT);
      pooled.agree += agree;
      pooled.positions += PROMPT.length;
    });
  });

  it("mixtral q5_0 on 8-bit activations, one token at a time (llama.cpp's numerics): within 1 of llama.cpp at every position, route-flip position included", async () => {
    const type = 'mixtral';
    const { path, config } = await writeTinyGguf(root, `${type}-q5_0-q8`, { modelType: type, seed: 80 + type.length, format: 'q5_0' });
    const llama = await LlamaCppModel.open(lib!, path, { threads: 1 });
    const theirs = await llama.logits(PROMPT, config.vocabSize);
    await llama.dispose();
    const q8 = await createCpuBackend({ activations: 'q8', threads: 1 });
    const { model } = await loadModel(path, q8);
    const session = model.newSession();
    const v = config.vocabSize;
    let max = 0;
    try {
      for (let p = 0; p < PROMPT.length; p++) {
        const ours = (await model.forward(session, [PROMPT[p]], { allLogits: true })).logits;
        for (let j = 0; j < v; j++) max = Math.max(max, Math.abs(ours[j] - theirs[p * v + j]));
      }
    } finally {
      model.dispose();
      await q8.dispose();
    }
    if (process.env.MOE_PRINT_DIFFS) console.log(`mixtral q5_0, 8-bit activations one token at a time: max abs ${max.toFixed(3)}`);
    expect(max).toBeLessThan(1);
  });

  it('argmax agreement over every quantized file together is at least 95%', () => {
    if (process.env.MOE_PRINT_DIFFS) console.log(`pooled argmax agreement ${pooled.agree}/${pooled.positions}`);
    expect(pooled.positions).toBe(GGUF_MODEL_TYPES.reduce((n, t) => n + formatsOf(t).length - 1, 0) * PROMPT.length);
    expect(pooled.agree / pooled.positions).toBeGreaterThanOrEqual(POOLED_AGREEMENT);
  });

  const STRINGS = [
    'the quick brown fox jumps over the lazy dog',
    'Hello, World! HELLO world.',
    '  leading and   inner spaces  ',
    'tabs\tand\nnew\n\nlines\r\n',
    'digits 0 12 345 6789 1234567',
    "it's we'll they've I'm",
    'héllo wörld, naïve café',
    '日本語のテキスト 中文',
    'emoji 🙂🚀 and symbols ©®™ $5+3=8 <tag> ~|^',
    'experts router token mixture',
    "CamelCaseWord iPhone HTTPServer IT'S We'LL McDonald's",
    'path/to/file.ts: a/b // c;\nend/\n',
    'abc123 x1y2 Q7 U0 z=9 ABC@ \u2126\u212a\u1fd6 \u1f7d \uc548\ub155\ud558\uc138\uc694 \u30ab\u30bf\u30ab\u30ca trailing  ',
  ];

  it.each([
    ['gpt2', 'gpt-2'],
    ['gpt2', 'default'],
    ['gpt2', 'qwen2'],
    ['gpt2', 'llama-bpe'],
    ['gpt2', 'olmo'],
    ['gpt2', 'gpt-4o'],
    ['gpt2', 'deepseek-llm'],
    ['gpt2', 'refact'],
    ['llama', 'none: SentencePiece'],
  ] as const)('%s vocabulary (pre %s): token ids identical to llama.cpp tokenize on ASCII, unicode, spaces and digits', async (vocabulary, pre) => {
    const { path } = await writeTinyGguf(root, `tok-${vocabulary}-${vocabulary === 'gpt2' ? pre : 'spm'}`, { modelType: 'mixtral', seed: 90, format: 'q8_0', vocabulary, pre: vocabulary === 'gpt2' ? pre : undefined, richVocabulary: true });
    const llama = await lib!.getLlama({ gpu: false, build: 'never', logLevel: lib!.LlamaLogLevel.error });
    const theirs = await llama.loadModel({ modelPath: path });
    const ours = await TextModel.load(path, { backend: 'cpu' });
    for (const s of STRINGS) {
      // node-llama-cpp tokenizes without BOS and without parsing special tokens.
      expect([s, ours.tokenizer.encode(s, false)]).toEqual([s, [...theirs.tokenize(s)]]);
    }
    // With special tokens: the vocabulary adds BOS (id 1), as llama.cpp does with add_special.
    expect(ours.tokenizer.encode('the router')).toEqual([1, ...theirs.tokenize('the router')]);
    expect(ours.tokenizer.encode('<s>the router</s>', false)).toEqual([...theirs.tokenize('<s>the router</s>', true)]);
    ours.dispose();
    await theirs.dispose();
    await llama.dispose();
  });
});
