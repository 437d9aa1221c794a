import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '@moe-runtime/backend-cpu';
import { BackendError, ConfigError, getBackend, SafetensorsError, ShapeError, type Backend } from '@moe-runtime/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, MoEModel, referenceModelLogits, TextModel, writeTinyCheckpoint } from '../src/index.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'moe-files-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const PROMPT = [1, 33, 180, 97, 254, 12, 71];

describe('tied word embeddings', () => {
  it('loads the embeddings as the LM head when lm_head.weight is absent, and matches the reference', async () => {
    const dir = join(root, 'tied');
    await writeTinyCheckpoint(dir, { modelType: 'olmoe', seed: 23, tieWordEmbeddings: true });
    const { config, weights } = await loadCheckpoint(dir);
    expect(config.tieWordEmbeddings).toBe(true);
    expect(weights.lmHead).toBe(weights.embed);
    const model = await MoEModel.create(config, weights, await getBackend('cpu'));
    const out = await model.forward(model.newSession(), PROMPT, { allLogits: true });
    const ref = referenceModelLogits(config, weights, PROMPT);
    let maxAbs = 0;
    for (let i = 0; i < ref.logits.length; i++) maxAbs = Math.max(maxAbs, Math.abs(out.logits[i] - ref.logits[i]));
    // measured 9.2e-6 max abs (2026-12-02); asserted 1e-4, about 11x
    expect(maxAbs).toBeLessThan(1e-4);
    model.dispose();
  });

  it('names lm_head.weight when the config does not tie and the checkpoint has no LM head', async () => {
    const dir = join(root, 'untied-missing');
    await writeTinyCheckpoint(dir, { modelType: 'mixtral', seed: 24, tieWordEmbeddings: true });
    const json = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...json, tie_word_embeddings: false }));
    await expect(loadCheckpoint(dir)).rejects.toThrow(SafetensorsError);
    await expect(loadCheckpoint(dir)).rejects.toThrow(/missing tensor 'lm_head\.weight' \(expected shape \[384, 64\]\)/);
  });
});

describe('tokenizer files', () => {
  it('names a missing tokenizer.json', async () => {
    const dir = join(root, 'no-tokenizer');
    await writeTinyCheckpoint(dir, { modelType: 'mixtral', seed: 25 });
    await unlink(join(dir, 'tokenizer.json'));
    const err = await TextModel.load(dir, { backend: 'cpu' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/tokenizer\.json.*cannot read the tokenizer file/);
  });

  it('loads without tokenizer_config.json, then has no chat template to apply', async () => {
    const dir = join(root, 'no-tokenizer-config');
    await writeTinyCheckpoint(dir, { modelType: 'mixtral', seed: 26 });
    await unlink(join(dir, 'tokenizer_config.json'));
    const tm = await TextModel.load(dir, { backend: 'cpu' });
    expect(tm.tokenizer.hasChatTemplate).toBe(false);
    expect(() => tm.tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }])).toThrow(/chat_template: this model has no chat template \(a folder's tokenizer_config\.json chat_template or chat_template\.jinja, a GGUF file's tokenizer\.chat_template\)/);
    tm.dispose();
  });
});

describe('sessions', () => {
  it('rejects a session made by a model of another shape instead of reading its cache', async () => {
    const backend = await getBackend('cpu');
    const a = await writeTinyCheckpoint(join(root, 'session-a'), { modelType: 'mixtral', seed: 27 });
    const b = await writeTinyCheckpoint(join(root, 'session-b'), { modelType: 'mixtral', seed: 28, numKvHeads: 4 });
    const ma = await MoEModel.create(a.config, a.weights, backend);
    const mb = await MoEModel.create(b.config, b.weights, backend);
    await expect(mb.forward(ma.newSession(), PROMPT)).rejects.toThrow(/session: its KV cache holds 2 layers x 2 KV heads, keys 16 \/ values 16, float32, this model needs 2 layers x 4 KV heads, keys 16 \/ values 16, float32/);
    ma.dispose();
    mb.dispose();
  });
});

describe('hand-built weights', () => {
  /** The error MoEModel.create throws, or a note that it built a model (disposed at once). */
  const createError = async (...args: Parameters<typeof MoEModel.create>): Promise<unknown> =>
    MoEModel.create(...args).then(
      (m) => {
        m.dispose();
        return 'created a model';
      },
      (e: unknown) => e,
    );

  it('MoEModel.create names a missing or mis-shaped tensor instead of failing in a kernel or at forward', async () => {
    const backend = await getBackend('cpu');
    const q2 = await writeTinyCheckpoint(join(root, 'hand-qwen2'), { modelType: 'qwen2_moe', seed: 29 });
    const noBias = { ...q2.weights, layers: q2.weights.layers.map((l, i) => (i === 1 ? { ...l, attention: { ...l.attention, kBias: undefined } } : l)) };
    expect(String(await createError(q2.config, noBias, backend))).toMatch(/layers\[1\]\.attention\.kBias is missing; qwen2_moe needs \[32\]/);
    const ol = await writeTinyCheckpoint(join(root, 'hand-olmoe'), { modelType: 'olmoe', seed: 30 });
    const noNorm = { ...ol.weights, layers: ol.weights.layers.map((l) => ({ ...l, attention: { ...l.attention, qNorm: undefined } })) };
    expect(String(await createError(ol.config, noNorm, backend))).toMatch(/layers\[0\]\.attention\.qNorm is missing; olmoe needs \[64\]/);
    const wrongK = { ...ol.weights, layers: ol.weights.layers.map((l) => ({ ...l, attention: { ...l.attention, k: l.attention.q } })) };
    expect(String(await createError(ol.config, wrongK, backend))).toMatch(/layers\[0\]\.attention\.k has shape \[64, 64\], expected \[32, 64\]/);
    const shortEmbed = { ...ol.weights, embed: ol.weights.finalNorm };
    const err = await createError(ol.config, shortEmbed, backend);
    expect(err).toBeInstanceOf(ShapeError);
    expect(String(err)).toMatch(/weights\.embed has shape \[64\], expected \[384, 64\]/);
    expect(await createError(ol.config, ol.weights, backend)).toBe('created a model');
  });
});

describe('a backend failing while the model is prepared', () => {
  it('MoEModel.create frees everything it had prepared before rethrowing', async () => {
    const cpu = await getBackend('cpu');
    const { config, weights } = await writeTinyCheckpoint(join(root, 'leak'), { modelType: 'qwen2_moe', seed: 31 });
    let live = 0;
    let calls = 0;
    const track = <T extends { dispose(): void }>(p: T): T => {
      live++;
      const dispose = p.dispose.bind(p);
      return Object.assign(Object.create(Object.getPrototypeOf(p) as object) as T, p, {
        dispose: () => {
          live--;
          dispose();
        },
      });
    };
    const failing: Backend = Object.assign(Object.create(cpu) as Backend, {
      prepareLinear: async (w: Parameters<Backend['prepareLinear']>[0]) => {
        // the second layer's o projection: layer 0 (qkv, o, router, shared gate) and layer 1's qkv are live by then
        if (++calls === 6) throw new BackendError('out of device memory (simulated)');
        return track(await cpu.prepareLinear(w));
      },
      prepareExperts: async (g: Parameters<Backend['prepareExperts']>[0]) => track(await cpu.prepareExperts(g)),
    });
    await expect(MoEModel.create(config, weights, failing)).rejects.toThrow(/out of device memory/);
    expect(calls).toBe(6);
    expect(live).toBe(0);
  });
});

describe('a disposed model', () => {
  it('refuses to run instead of using freed backend handles, and disposes only once', async () => {
    const { config, weights } = await writeTinyCheckpoint(join(root, 'disposed'), { modelType: 'mixtral', seed: 32 });
    const model = await MoEModel.create(config, weights, await getBackend('cpu'));
    const session = model.newSession();
    await model.forward(session, PROMPT.slice(0, 3));
    model.dispose();
    expect(() => model.dispose()).not.toThrow();
    await expect(model.forward(session, PROMPT.slice(3, 5))).rejects.toThrow(BackendError);
    await expect(model.step([{ session, tokens: PROMPT.slice(3, 5) }])).rejects.toThrow(/this MoEModel has been disposed/);
    expect(() => model.newSession()).toThrow(/this MoEModel has been disposed/);
  });
});
