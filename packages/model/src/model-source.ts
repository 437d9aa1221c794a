/**
 * Where a model's weights come from while it is being prepared: a checkpoint read one layer
 * at a time (a GGUF file, a Hugging Face folder) or weights already in memory. The source
 * lists every tensor with its shape and storage format before anything is read, so the
 * loader can check that the model fits before it allocates, and the decoder can drop each
 * layer's host copy as soon as the backend has prepared it.
 */
import { checkRowLength, ConfigError, DTYPES, isBlockFormat, storageBytes, type DType, type HostTensor } from '@moe-runtime/core';
import type { ModelConfig } from './model-config.js';
import type { DecoderLayerWeights, ModelWeights } from './model-weights.js';

/**
 * Where a tensor lives once the model is prepared: `embedding` stays compact on the host
 * (decoded a row at a time), `host-vector` is a norm kept as float32 on the host, `backend`
 * is prepared by the backend (projections, routers, experts, biases, the LM head).
 */
export type TensorUse = 'embedding' | 'host-vector' | 'backend';

/** One tensor a source will produce, with its format after any conversion at load. */
export interface PlannedTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly use: TensorUse;
  /** Stacked tensors (`[E, F, D]` experts) are prepared as this many `[F, D]` slices. */
  readonly slices?: number;
}

/** A model's weights, produced a layer at a time. */
export interface ModelWeightSource {
  /** Names the checkpoint in messages (a file or folder). */
  readonly source: string;
  readonly config: ModelConfig;
  /** Every tensor the model will hold, as it will be stored. */
  readonly tensors: readonly PlannedTensor[];
  /** Names of the tensors converted to another format at load (e.g. quantized by `dtype: 'q8_0'`). */
  readonly converted: readonly string[];
  readEmbedding(): Promise<HostTensor>;
  readLayer(i: number): Promise<DecoderLayerWeights>;
  readFinalNorm(): Promise<HostTensor>;
  /** The LM head; only called when the config does not tie it to the embedding. */
  readLmHead(): Promise<HostTensor>;
  /** Releases files; the source cannot be read afterwards. */
  close(): Promise<void>;
}

/** Roles of tensors a load-time `dtype` converts: the weight matrices, never norms, biases or routers. */
export type ConvertibleRole = 'embedding' | 'attention' | 'expert' | 'lm-head';

/** Checks a load-time conversion target (`dtype` option). */
export function checkConversionDType(dtype: unknown): DType | undefined {
  if (dtype === undefined) return undefined;
  if (!DTYPES.includes(dtype as DType)) throw new ConfigError('dtype', `expected one of ${DTYPES.join(', ')}, got ${JSON.stringify(dtype)}`);
  return dtype as DType;
}

/**
 * The format a matrix is stored in after a load-time conversion to `target`; throws a
 * ShapeError naming the tensor when its rows do not divide into the target's blocks.
 */
export function convertedDType(name: string, stored: DType, shape: readonly number[], target: DType | undefined): DType {
  if (target === undefined || target === stored) return stored;
  if (isBlockFormat(target)) checkRowLength(target, shape[shape.length - 1], `${name} (converting to ${target})`);
  return target;
}

/** Converts one tensor as {@link convertedDType} planned it. */
export function convertTensor(name: string, t: HostTensor, target: DType | undefined): HostTensor {
  const dtype = convertedDType(name, t.dtype, t.shape, target);
  return dtype === t.dtype ? t : t.to(dtype);
}

/** Tensors of in-memory weights, for the memory check of {@link MoEModel.create}. */
function plannedOf(w: ModelWeights): PlannedTensor[] {
  const out: PlannedTensor[] = [];
  const add = (name: string, t: HostTensor | undefined, use: TensorUse): void => {
    if (t) out.push({ name, dtype: t.dtype, shape: t.shape, use });
  };
  add('embed', w.embed, 'embedding');
  w.layers.forEach((l, i) => {
    const p = `layers[${i}].`;
    add(`${p}inputNorm`, l.inputNorm, 'host-vector');
    add(`${p}postAttentionNorm`, l.postAttentionNorm, 'host-vector');
    for (const [k, t] of Object.entries(l.attention)) add(`${p}attention.${k}`, t, k.endsWith('Norm') ? 'host-vector' : 'backend');
    add(`${p}moe.router`, l.moe.router, 'backend');
    add(`${p}moe.sharedGate`, l.moe.sharedGate, 'backend');
    [...l.moe.experts, ...(l.moe.shared ?? [])].forEach((e, j) => {
      for (const [k, t] of Object.entries(e)) add(`${p}moe.experts[${j}].${k}`, t as HostTensor | undefined, 'backend');
    });
  });
  add('finalNorm', w.finalNorm, 'host-vector');
  add('lmHead', w.lmHead, 'backend');
  return out;
}

/** A source over weights already in memory (what {@link MoEModel.create} prepares). */
export function memoryWeightSource(config: ModelConfig, weights: ModelWeights, source = 'in-memory weights'): ModelWeightSource {
  return {
    source,
    config,
    tensors: plannedOf(weights),
    converted: [],
    readEmbedding: async () => weights.embed,
    readLayer: async (i) => weights.layers[i],
    readFinalNorm: async () => weights.finalNorm,
    readLmHead: async () => weights.lmHead,
    close: async () => {},
  };
}

/** Bytes of a model's tensors in the formats they are held (a tensor listed twice, as a tied LM head, counted once). */
export function storedWeightBytes(tensors: readonly PlannedTensor[]): number {
  const seen = new Set<string>();
  let bytes = 0;
  for (const t of tensors) {
    if (seen.has(t.name)) continue;
    seen.add(t.name);
    bytes += storageBytes(t.dtype, t.shape);
  }
  return bytes;
}
