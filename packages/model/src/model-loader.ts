/**
 * Loads a Hugging Face model folder: `config.json`, `model.safetensors` or a sharded checkpoint
 * (`model.safetensors.index.json`), and the tokenizer files. Every tensor's shape is checked
 * against the config from the headers before any data is read; a missing or mis-shaped tensor
 * is an error naming the file and tensor. Weights stay in their stored format (BF16 / F16 stay
 * 2 bytes per value); a `dtype` converts the weight matrices (attention projections, experts,
 * embedding, LM head) one tensor at a time as they are read, leaving norms, biases and routers
 * in their stored format.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ConfigError,
  formatShape,
  loadMoELayerFrom,
  openCheckpoint,
  READABLE_DTYPES,
  resolveScheme,
  SafetensorsError,
  schemeNames,
  type DType,
  type HostTensor,
  type TensorSource,
} from '@moe-runtime/core';
import { architectureOf } from './architectures/registry.js';
import { moduleQuantization } from './architectures/hf-quantization.js';
import type { LayerTensor } from './architectures/layer-layout.js';
import { hfTensorNames, moeScheme } from './checkpoint-names.js';
import { parseModelConfig, type ModelConfig } from './model-config.js';
import { checkConversionDType, convertedDType, convertTensor, type ModelWeightSource, type PlannedTensor, type TensorUse } from './model-source.js';
import type { AttentionWeights, DecoderLayerWeights, ModelWeights } from './model-weights.js';

/** A loaded model folder. */
export interface LoadedCheckpoint {
  readonly dir: string;
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
}

/** Options of {@link loadCheckpoint} and {@link openHfCheckpoint}. */
export interface LoadCheckpointOptions {
  /**
   * Store the weight matrices in this format (default: keep the stored one; half precision
   * stays compact). Block formats (`q8_0`, `q4_k`, ...) quantize at load, one tensor at a time.
   */
  readonly dtype?: DType;
  /**
   * Layer tensors stored as F32, F16 or BF16 come unread (default true): a backend that copies
   * weights into its own memory reads them from the file straight there (see
   * `TensorSource.deferred`), so no host copy exists and each page is touched once. They can
   * only be used while the source is open; `false` reads every tensor with its layer.
   */
  readonly deferTensorData?: boolean;
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

/** One tensor the config requires, with its Hugging Face name (a layout's tensor, named in full). */
type ExpectedTensor = LayerTensor;

/** Every tensor a model of this config reads, with the shape the config gives it. */
function expectedTensors(c: ModelConfig, hasLmHead: boolean): ExpectedTensor[] {
  const d = c.hiddenSize;
  const qw = c.numHeads * c.headDim;
  const kvw = c.numKvHeads * c.headDim;
  const f = c.moe.expert.ffnSize;
  const layout = architectureOf(c.modelType).names.hfMoe;
  const names = layout ? undefined : schemeNames(resolveScheme(moeScheme(c.modelType)));
  const N = hfTensorNames(c.modelType);
  const out: ExpectedTensor[] = [{ name: N.embed, shape: [c.vocabSize, d], use: 'embedding', convertible: true }];
  const own = architectureOf(c.modelType).names.layers?.hf;
  for (let i = 0; i < c.numLayers; i++) {
    const p = N.layerPrefix(i);
    const add = (name: string, shape: readonly number[], use: TensorUse, convertible = false): void => void out.push({ name: p + name, shape, use, convertible });
    // An architecture with its own layer layout (DeepSeek-V2) lists its tensors itself.
    if (own) {
      for (const t of own.tensors(c, i)) out.push({ ...t, name: p + t.name });
      continue;
    }
    add(N.inputNorm, [d], 'host-vector');
    add(N.postAttentionNorm, [d], 'host-vector');
    add(N.proj('q'), [qw, d], 'backend', true);
    add(N.proj('k'), [kvw, d], 'backend', true);
    add(N.proj('v'), [kvw, d], 'backend', true);
    add(N.proj('o'), [d, qw], 'backend', true);
    if (c.qkvBias) for (const [x, w] of [['q', qw], ['k', kvw], ['v', kvw]] as const) add(N.proj(x, 'bias'), [w], 'backend');
    if (c.oBias) add(N.proj('o', 'bias'), [d], 'backend');
    if (c.attentionSinks) add(N.sinks, [c.numHeads], 'host-vector');
    if (c.qkNorm !== 'none') {
      add(N.qNorm, [c.qkNorm === 'per-head' ? c.headDim : qw], 'host-vector');
      add(N.kNorm, [c.qkNorm === 'per-head' ? c.headDim : kvw], 'host-vector');
    }
    if (!names) {
      // The layout picks its stored form by the layer's quantization (gpt-oss: mxfp4 experts).
      for (const t of layout!.tensors(c.moe, moduleQuantization(c.hfQuantization, p))) out.push({ ...t, name: p + t.name, use: 'backend', ...(t.partOf ? { partOf: p + t.partOf } : {}) });
      continue;
    }
    add(names.router, [c.moe.numExperts, d], 'backend');
    for (let j = 0; j < c.moe.numExperts; j++) {
      add(names.expert(j, 'gate'), [f, d], 'backend', true);
      add(names.expert(j, 'up'), [f, d], 'backend', true);
      add(names.expert(j, 'down'), [d, f], 'backend', true);
    }
    const s = c.moe.sharedExperts;
    if (s && names.shared) {
      add(names.shared('gate'), [s.ffnSize, d], 'backend', true);
      add(names.shared('up'), [s.ffnSize, d], 'backend', true);
      add(names.shared('down'), [d, s.ffnSize], 'backend', true);
      if (s.gated && names.sharedGate) add(names.sharedGate, [1, d], 'backend');
    }
  }
  out.push({ name: N.finalNorm, shape: [d], use: 'host-vector', convertible: false });
  if (hasLmHead || !c.tieWordEmbeddings) out.push({ name: N.lmHead, shape: [c.vocabSize, d], use: 'backend', convertible: true });
  else out.push({ name: N.embed, shape: [c.vocabSize, d], use: 'backend', convertible: true });
  return out;
}

/**
 * Checks every expected tensor's presence, header shape and (raw tensors) dtype; plans its
 * format after conversion, in the shape it is held. A tensor held inside another (`partOf`:
 * mxfp4 scales in their blocks) is checked but not planned twice.
 */
function planTensors(src: TensorSource, expected: readonly ExpectedTensor[], target: DType | undefined): PlannedTensor[] {
  const out: PlannedTensor[] = [];
  for (const t of expected) {
    if (!src.has(t.name)) throw new SafetensorsError(`${src.source}: missing tensor '${t.name}' (expected shape ${formatShape(t.shape)})`);
    const info = src.info(t.name);
    if (info.shape.length !== t.shape.length || info.shape.some((d, i) => d !== t.shape[i])) {
      throw new SafetensorsError(`${src.source}: tensor '${t.name}' has shape ${formatShape(info.shape)}, expected ${formatShape(t.shape)}`);
    }
    if (t.rawDType && info.dtype !== t.rawDType) throw new SafetensorsError(`${src.source}: tensor '${t.name}' has dtype ${info.dtype}, expected ${t.rawDType}`);
    if (t.partOf) continue;
    const stored = READABLE_DTYPES[info.dtype] ?? 'float32';
    const dtype = t.heldAs ?? (t.convertible ? convertedDType(t.name, stored, t.shape, target) : stored);
    out.push({ name: t.name, shape: t.heldShape ?? t.shape, use: t.use, dtype, ...(t.slices ? { slices: t.slices } : {}) });
  }
  return out;
}

/** A TensorSource whose `read` hands out deferred tensors where the source can (see `TensorSource.deferred`). */
function deferringSource(src: TensorSource): TensorSource {
  const deferred = src.deferred?.bind(src);
  if (!deferred) return src;
  return Object.assign(Object.create(src) as TensorSource, {
    read: async (name: string): Promise<HostTensor> => deferred(name) ?? src.read(name),
  });
}

/** A TensorSource that converts the convertible tensors as they are read (one at a time). */
function convertingSource(src: TensorSource, convertible: ReadonlySet<string>, target: DType | undefined): TensorSource {
  if (target === undefined) return src;
  return Object.assign(Object.create(src) as TensorSource, {
    read: async (name: string): Promise<HostTensor> => {
      const t = await src.read(name);
      return convertible.has(name) ? convertTensor(name, t, target) : t;
    },
  });
}

async function readAttention(src: TensorSource, c: ModelConfig, p: string): Promise<AttentionWeights> {
  const N = hfTensorNames(c.modelType);
  const read = (name: string): Promise<HostTensor> => src.read(p + name);
  const bias = async (x: 'q' | 'k' | 'v'): Promise<HostTensor | undefined> => (c.qkvBias ? read(N.proj(x, 'bias')) : undefined);
  const norm = async (name: string): Promise<HostTensor | undefined> => (c.qkNorm === 'none' ? undefined : read(name));
  return {
    q: await read(N.proj('q')),
    k: await read(N.proj('k')),
    v: await read(N.proj('v')),
    o: await read(N.proj('o')),
    qBias: await bias('q'),
    kBias: await bias('k'),
    vBias: await bias('v'),
    oBias: c.oBias ? await read(N.proj('o', 'bias')) : undefined,
    sinks: c.attentionSinks ? await read(N.sinks) : undefined,
    qNorm: await norm(N.qNorm),
    kNorm: await norm(N.kNorm),
  };
}

async function readLayer(src: TensorSource, c: ModelConfig, i: number): Promise<DecoderLayerWeights> {
  const N = hfTensorNames(c.modelType);
  const p = N.layerPrefix(i);
  const d = c.hiddenSize;
  const own = architectureOf(c.modelType).names.layers?.hf;
  if (own) return own.read((name) => src.read(p + name), c, i);
  const layout = architectureOf(c.modelType).names.hfMoe;
  if (layout) {
    // The layout's tensors were shape-checked against the config when the source was opened.
    return {
      inputNorm: await src.read(p + N.inputNorm),
      postAttentionNorm: await src.read(p + N.postAttentionNorm),
      attention: await readAttention(src, c, p),
      moe: await layout.read(src, p, c.moe, moduleQuantization(c.hfQuantization, p)),
    };
  }
  const moe = await loadMoELayerFrom(src, { prefix: p, scheme: moeScheme(c.modelType), topK: c.moe.topK, router: c.moe.router });
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
    inputNorm: await src.read(p + N.inputNorm),
    postAttentionNorm: await src.read(p + N.postAttentionNorm),
    attention: await readAttention(src, c, p),
    moe: moe.weights,
  };
}

/**
 * Opens a Hugging Face model folder as a layer-by-layer weight source: the config is parsed
 * and every tensor's header checked against it before any data is read.
 */
export async function openHfCheckpoint(dir: string, options: LoadCheckpointOptions = {}): Promise<ModelWeightSource> {
  const target = checkConversionDType(options.dtype);
  const config = await readConfig(dir);
  const N = hfTensorNames(config.modelType);
  const raw = await openCheckpoint(dir);
  try {
    const expected = expectedTensors(config, raw.has(N.lmHead));
    const tensors = planTensors(raw, expected, target);
    const convertible = new Set(expected.filter((t) => t.convertible).map((t) => t.name));
    // Layer tensors may come deferred; the embedding table and the final norm stay on the host
    // after the files close, so they are read now.
    const layers = convertingSource(options.deferTensorData === false ? raw : deferringSource(raw), convertible, target);
    const src = convertingSource(raw, convertible, target);
    // Converted at load: what `target` makes of a tensor, not the format it is held in (heldAs).
    const storedOf = (name: string): DType => READABLE_DTYPES[raw.info(name).dtype] ?? 'float32';
    const converted = expected.filter((t) => t.convertible && convertedDType(t.name, storedOf(t.name), t.shape, target) !== storedOf(t.name)).map((t) => t.name);
    const head = config.tieWordEmbeddings && !raw.has(N.lmHead) ? N.embed : N.lmHead;
    return {
      source: dir,
      config,
      tensors,
      converted: [...new Set(converted)],
      readEmbedding: () => src.read(N.embed),
      readLayer: (i) => readLayer(layers, config, i),
      readFinalNorm: () => src.read(N.finalNorm),
      readLmHead: () => layers.read(head),
      close: () => raw.close(),
    };
  } catch (err) {
    await raw.close();
    throw err;
  }
}

/** Loads config and all weights from a model folder into memory. */
export async function loadCheckpoint(dir: string, options: LoadCheckpointOptions = {}): Promise<LoadedCheckpoint> {
  // The tensors outlive the files here: read them all now.
  const src = await openHfCheckpoint(dir, { ...options, deferTensorData: false });
  try {
    const { config } = src;
    const N = hfTensorNames(config.modelType);
    const embed = await src.readEmbedding();
    const layers: DecoderLayerWeights[] = [];
    for (let i = 0; i < config.numLayers; i++) layers.push(await src.readLayer(i));
    const finalNorm = await src.readFinalNorm();
    // A tied checkpoint without lm_head.weight shares the embedding tensor itself.
    const lmHead = config.tieWordEmbeddings && src.tensors[src.tensors.length - 1].name === N.embed ? embed : await src.readLmHead();
    return { dir, config, weights: { embed, layers, finalNorm, lmHead } };
  } finally {
    await src.close();
  }
}
