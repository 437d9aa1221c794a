/**
 * Loads a Hugging Face model folder: `config.json`, `model.safetensors` or a sharded checkpoint
 * (`model.safetensors.index.json`), and the tokenizer files. Every tensor's shape is checked
 * against the config; a missing or mis-shaped tensor is an error naming the file and tensor.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ConfigError,
  loadMoELayerFrom,
  openCheckpoint,
  SafetensorsError,
  type DType,
  type HostTensor,
  type TensorSource,
} from '@moe-runtime/core';
import { CHECKPOINT_NAMES as N, moeScheme } from './checkpoint-names.js';
import { parseModelConfig, type ModelConfig } from './model-config.js';
import type { AttentionWeights, DecoderLayerWeights, ModelWeights } from './model-weights.js';

/** A loaded model folder. */
export interface LoadedCheckpoint {
  readonly dir: string;
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
}

/** Options of {@link loadCheckpoint}. */
export interface LoadCheckpointOptions {
  /** Convert every tensor to this dtype (default: keep the stored one; half stays compact). */
  readonly dtype?: DType;
}

async function readConfig(dir: string): Promise<ModelConfig> {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, `cannot read the model config (${err instanceof Error ? err.message : String(err)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  return parseModelConfig(json, file);
}

class Reader {
  constructor(
    private readonly src: TensorSource,
    private readonly dtype: DType | undefined,
  ) {}

  has(name: string): boolean {
    return this.src.has(name);
  }

  async tensor(name: string, shape: readonly number[]): Promise<HostTensor> {
    if (!this.src.has(name)) throw new SafetensorsError(`${this.src.source}: missing tensor '${name}' (expected shape [${shape.join(', ')}])`);
    const info = this.src.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new SafetensorsError(`${this.src.source}: tensor '${name}' has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    const t = await this.src.read(name);
    return this.dtype ? t.to(this.dtype) : t;
  }
}

async function readAttention(r: Reader, c: ModelConfig, p: string): Promise<AttentionWeights> {
  const d = c.hiddenSize;
  const qw = c.numHeads * c.headDim;
  const kvw = c.numKvHeads * c.headDim;
  const bias = async (x: 'q' | 'k' | 'v', w: number): Promise<HostTensor | undefined> => (c.qkvBias ? r.tensor(p + N.proj(x, 'bias'), [w]) : undefined);
  const norm = async (name: string, full: number): Promise<HostTensor | undefined> =>
    c.qkNorm === 'none' ? undefined : r.tensor(p + name, [c.qkNorm === 'per-head' ? c.headDim : full]);
  return {
    q: await r.tensor(p + N.proj('q'), [qw, d]),
    k: await r.tensor(p + N.proj('k'), [kvw, d]),
    v: await r.tensor(p + N.proj('v'), [kvw, d]),
    o: await r.tensor(p + N.proj('o'), [d, qw]),
    qBias: await bias('q', qw),
    kBias: await bias('k', kvw),
    vBias: await bias('v', kvw),
    qNorm: await norm(N.qNorm, qw),
    kNorm: await norm(N.kNorm, kvw),
  };
}

async function readLayer(src: TensorSource, r: Reader, c: ModelConfig, i: number, dtype: DType | undefined): Promise<DecoderLayerWeights> {
  const p = N.layerPrefix(i);
  const d = c.hiddenSize;
  const moe = await loadMoELayerFrom(src, { prefix: p, scheme: moeScheme(c.modelType), dtype, topK: c.moe.topK, router: c.moe.router });
  const s = moe.shape;
  if (s.numExperts !== c.moe.numExperts || s.expert.ffnSize !== c.moe.expert.ffnSize || s.hiddenSize !== d) {
    throw new SafetensorsError(
      `${src.source}: layer ${i} MoE tensors give E=${s.numExperts}, F=${s.expert.ffnSize}, D=${s.hiddenSize}; config.json says E=${c.moe.numExperts}, F=${c.moe.expert.ffnSize}, D=${d}`,
    );
  }
  if ((s.sharedExperts?.ffnSize ?? 0) !== (c.moe.sharedExperts?.ffnSize ?? 0)) {
    throw new SafetensorsError(`${src.source}: layer ${i} shared expert width ${s.sharedExperts?.ffnSize ?? 'none'} differs from config.json (${c.moe.sharedExperts?.ffnSize ?? 'none'})`);
  }
  return {
    inputNorm: await r.tensor(p + N.inputNorm, [d]),
    postAttentionNorm: await r.tensor(p + N.postAttentionNorm, [d]),
    attention: await readAttention(r, c, p),
    moe: moe.weights,
  };
}

/** Loads config and weights from a model folder. */
export async function loadCheckpoint(dir: string, options: LoadCheckpointOptions = {}): Promise<LoadedCheckpoint> {
  const config = await readConfig(dir);
  const src = await openCheckpoint(dir);
  try {
    const r = new Reader(src, options.dtype);
    const { vocabSize: v, hiddenSize: d } = config;
    const embed = await r.tensor(N.embed, [v, d]);
    const layers: DecoderLayerWeights[] = [];
    for (let i = 0; i < config.numLayers; i++) layers.push(await readLayer(src, r, config, i, options.dtype));
    const finalNorm = await r.tensor(N.finalNorm, [d]);
    const lmHead = config.tieWordEmbeddings && !r.has(N.lmHead) ? embed : await r.tensor(N.lmHead, [v, d]);
    return { dir, config, weights: { embed, layers, finalNorm, lmHead } };
  } finally {
    await src.close();
  }
}
