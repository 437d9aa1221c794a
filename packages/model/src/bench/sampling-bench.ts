/**
 * Sampling benchmark (a script, not a test): milliseconds per sampled token at Qwen's
 * vocabulary (V = 151,936) on seeded language-model-like logits, for the sampler as it is and
 * for the sort-based selection it replaced (every index sorted per token, kept here only to
 * measure against), with the OpenAI routes' defaults (temperature 1, no top-k) and with top-p.
 *
 *   pnpm --filter @moe-runtime/model bench:sampling [--vocab 151936] [--tokens 30]
 */
import { Command } from 'commander';
import { createRng } from '@moe-runtime/core';
import { Sampler, type SamplingOptions } from '../sampling.js';

/** The selection before the O(V) one: sort all V ids per token, then cut top-p. */
function sortedSample(logits: Float32Array, t: number, topP: number, u: number): number {
  const kept = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  const max = logits[kept[0]];
  const probs = kept.map((i) => Math.exp((logits[i] - max) / t));
  const total = probs.reduce((s, p) => s + p, 0);
  let cut = kept.length;
  let acc = 0;
  for (let j = 0; j < kept.length && topP < 1; j++) {
    acc += probs[j] / total;
    if (acc >= topP) {
      cut = j + 1;
      break;
    }
  }
  let r = u * probs.slice(0, cut).reduce((s, p) => s + p, 0);
  for (let j = 0; j < cut; j++) if ((r -= probs[j]) < 0) return kept[j];
  return kept[cut - 1];
}

function msPerToken(rows: Float32Array[], draw: (row: Float32Array) => number): number {
  draw(rows[0]); // warm-up
  const t0 = performance.now();
  for (const r of rows) draw(r);
  return (performance.now() - t0) / rows.length;
}

const program = new Command()
  .option('--vocab <n>', 'vocabulary size', '151936')
  .option('--tokens <n>', 'tokens sampled per case', '30')
  .parse();
const opts = program.opts<{ vocab: string; tokens: string }>();
const v = Number(opts.vocab);
const rng = createRng(2026);
// A fresh row per token: logits with a spread and a heavy upper tail, as a language model's.
const rows = Array.from({ length: Number(opts.tokens) }, () => Float32Array.from({ length: v }, () => 2.5 * rng.normal() + (rng.next() < 0.001 ? 10 * rng.next() : 0)));
const cases: SamplingOptions[] = [{ temperature: 1 }, { temperature: 1, topP: 0.9 }, { temperature: 0.7, topP: 0.95 }, { temperature: 1, topK: 40 }];
console.log(`sampling at V=${v}, ${rows.length} tokens per case (node ${process.version})`);
for (const o of cases) {
  const s = new Sampler({ ...o, seed: 1 });
  const now = msPerToken(rows, (r) => s.next(r));
  const before = o.topK ? undefined : msPerToken(rows, (r) => sortedSample(r, o.temperature ?? 1, o.topP ?? 1, rng.next()));
  console.log(`${JSON.stringify(o).padEnd(34)} now ${now.toFixed(2)} ms/token${before === undefined ? '  (top-k: unchanged, no sort before either)' : `  sort-based ${before.toFixed(2)} ms/token (${(before / now).toFixed(1)}x)`}`);
}
