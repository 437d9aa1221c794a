/**
 * `--model x.gguf`: the server serves a GGUF file as it serves a folder (loaded layer by layer
 * through `loadModel`), names it after the file, and reports where its bytes live; its greedy
 * completion equals `TextModel` run in this process on the same file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@moe-runtime/core/testing';
import { ggufTokenizerFromJson, loadCheckpoint, TextModel, writeModelGguf, writeTinyCheckpoint, type LoadCheckpointOptions, type ModelType } from '@moe-runtime/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelId, modelSpecFromFlag } from '../src/generation/model-spec.js';
import { get, post, startServer, type TestServer } from './helpers.js';
import { localComplete } from './openai-helpers.js';

/** A seeded tiny checkpoint of `modelType` (its folder at root/hf) exported as the GGUF file root/name; returns its path. */
async function tinyGguf(root: string, name: string, modelType: ModelType, seed: number, options: LoadCheckpointOptions = {}): Promise<string> {
  const dir = join(root, 'hf');
  await writeTinyCheckpoint(dir, { modelType, seed });
  const { config, weights } = await loadCheckpoint(dir, options);
  const tokenizer = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const [path] = await writeModelGguf(join(root, name), config, weights, ggufTokenizerFromJson(tokenizer, 1, 2));
  return path;
}

describe('a GGUF model file', () => {
  let gguf: string;
  let srv: TestServer;
  let local: TextModel;
  beforeAll(async () => {
    gguf = await tinyGguf(tempDir('moe-server-gguf-'), 'Tiny-Qwen3 Q8_0.gguf', 'qwen3_moe', 11, { dtype: 'q8_0' });
    [srv, local] = await Promise.all([startServer({ backend: ['cpu'], models: [modelSpecFromFlag(gguf)] }), TextModel.load(gguf, { backend: 'cpu' })]);
  });
  afterAll(async () => {
    await srv?.close();
    local?.dispose();
  });

  it('takes its id from the file name (extension and split suffix dropped, odd characters replaced)', () => {
    expect(defaultModelId('/m/Qwen3-30B-A3B-Q4_K_M.gguf')).toBe('Qwen3-30B-A3B-Q4_K_M');
    expect(defaultModelId('/m/mixtral-00001-of-00003.gguf')).toBe('mixtral');
    expect(defaultModelId('/m/Tiny-Qwen3 Q8_0.gguf')).toBe('Tiny-Qwen3-Q8_0');
    expect(defaultModelId('/m/olmoe-folder')).toBe('olmoe-folder');
    expect(modelSpecFromFlag(`mine=${gguf}`).id).toBe('mine');
  });

  it('is listed and answers a greedy completion equal to TextModel on the same file', async () => {
    const models = await get<{ data: { id: string; context_length: number }[] }>(`${srv.url}/v1/models`);
    expect(models.body.data.map((m) => m.id)).toEqual(['Tiny-Qwen3-Q8_0']);
    const prompt = 'experts read once';
    const want = await localComplete(local, prompt, { maxTokens: 16, temperature: 0 });
    const res = await post<{ choices: { text: string }[] }>(`${srv.url}/v1/completions`, { model: 'Tiny-Qwen3-Q8_0', prompt, max_tokens: 16, temperature: 0 });
    expect(res.status).toBe(200);
    expect(want.text.length).toBeGreaterThan(0);
    expect(res.body.choices[0].text).toBe(want.text);
  });
});

describe('a backend list and the models', () => {
  let gguf: string;
  beforeAll(async () => {
    gguf = await tinyGguf(tempDir('moe-server-fit-'), 'tiny.gguf', 'mixtral', 12);
  });

  it('skips a backend the model does not fit (checked from the headers) and takes the next in the list', async () => {
    const srv = await startServer({ backend: ['cramped', 'cpu'], models: [modelSpecFromFlag(gguf)] });
    try {
      expect(srv.server.state.backend?.name).toBe('cpu');
      const res = await post<{ choices: { text: string }[] }>(`${srv.url}/v1/completions`, { model: 'tiny', prompt: 'fits', max_tokens: 4, temperature: 0 });
      expect(res.status).toBe(200);
    } finally {
      await srv.close();
    }
  });

  it('refuses to start, naming what the model needs, when no backend of the list holds it', async () => {
    await expect(startServer({ backend: ['cramped'], models: [modelSpecFromFlag(gguf)] })).rejects.toThrow(/tiny\.gguf: the weights need [\d.]+ GiB on backend cramped .*more than its limit of 0\.00 GiB; nothing was allocated/);
  });
});
