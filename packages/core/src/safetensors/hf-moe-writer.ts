/**
 * Writing one MoE layer with Hugging Face tensor names (the inverse of the loader), so tests,
 * demos and tiny model checkpoints can round-trip through the same layout real models use.
 */
import { ConfigError, SafetensorsError } from '../errors.js';
import type { ExpertWeights } from '../expert.js';
import { sharedExpertCount, type MoELayerConfig } from '../layer-config.js';
import { HostTensor, type DType } from '../tensor.js';
import { validateWeights, type MoEWeights } from '../weights.js';
import { resolveScheme, schemeNames, type MoENamingScheme, type ProjectionName } from './hf-moe-names.js';
import { writeSafetensors, type WriteSafetensorsOptions } from './safetensors-writer.js';

/** Options of {@link moeLayerTensors} and {@link saveMoELayer}. */
export interface SaveMoELayerOptions {
  /** Naming scheme or alias (default `mixtral`). */
  readonly scheme?: string;
  /** Layer prefix, e.g. `model.layers.0.` (default ''). */
  readonly prefix?: string;
  /** Storage dtype of every tensor (default: each tensor's own). */
  readonly dtype?: DType;
  /** Extra `__metadata__` entries (`format: pt` is always written, as transformers expects). */
  readonly metadata?: Readonly<Record<string, string>>;
}

function bytesOf(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function fromBytes(dtype: DType, shape: readonly number[], bytes: Uint8Array): HostTensor {
  const data = dtype === 'float32' ? new Float32Array(bytes.buffer) : new Uint16Array(bytes.buffer);
  return new HostTensor(dtype, shape, data);
}

/**
 * Concatenates `[r, c_i]` matrices along columns (`axis` 1) or `[r_i, c]` along rows (`axis` 0),
 * in the first part's dtype. Works on raw element bytes, so half precision stays bit-exact.
 */
function concat(parts: readonly HostTensor[], axis: 0 | 1): HostTensor {
  const dtype = parts[0].dtype;
  const same = parts.map((p) => (p.shape.length === 1 ? new HostTensor(p.dtype, [1, p.shape[0]], p.data) : p).to(dtype));
  const width = same[0].data.BYTES_PER_ELEMENT;
  const rows = axis === 0 ? same.reduce((s, p) => s + p.shape[0], 0) : same[0].shape[0];
  const cols = axis === 1 ? same.reduce((s, p) => s + p.shape[1], 0) : same[0].shape[1];
  const out = new Uint8Array(rows * cols * width);
  if (axis === 0) {
    let at = 0;
    for (const p of same) {
      out.set(bytesOf(p), at);
      at += p.data.byteLength;
    }
  } else {
    for (let i = 0, at = 0; i < rows; i++) {
      for (const p of same) {
        const rowBytes = p.shape[1] * width;
        out.set(bytesOf(p).subarray(i * rowBytes, (i + 1) * rowBytes), at);
        at += rowBytes;
      }
    }
  }
  const vector = parts[0].shape.length === 1;
  return fromBytes(dtype, vector ? [cols] : [rows, cols], out);
}

const concatRows = (p: readonly HostTensor[]): HostTensor => concat(p, 0);
const concatCols = (p: readonly HostTensor[]): HostTensor => concat(p, 1);

/**
 * DeepSeek stores its n shared experts as one MLP of width n*F: gate/up rows stacked, down
 * columns side by side. The sum of n SwiGLU experts equals that one wide expert exactly.
 */
function mergeShared(shared: readonly ExpertWeights[]): ExpertWeights {
  if (shared.length === 1) return shared[0];
  const opt = (f: (e: ExpertWeights) => HostTensor | undefined, join: (p: HostTensor[]) => HostTensor): HostTensor | undefined => {
    const parts = shared.map(f);
    if (parts.every((p) => p === undefined)) return undefined;
    if (parts.some((p) => p === undefined)) throw new SafetensorsError('shared experts differ in which biases they carry; cannot merge them into one DeepSeek shared MLP');
    return join(parts as HostTensor[]);
  };
  const downBias = opt(
    (e) => e.downBias,
    (p) => HostTensor.float32(p[0].shape, p.map((b) => b.toFloat32()).reduce((acc, b) => acc.map((v, i) => v + b[i]))).to(p[0].dtype),
  );
  return {
    gate: opt((e) => e.gate, concatRows),
    up: concatRows(shared.map((e) => e.up)),
    down: concatCols(shared.map((e) => e.down)),
    gateBias: opt((e) => e.gateBias, concatCols),
    upBias: opt((e) => e.upBias, concatCols),
    downBias,
  };
}

function checkSchemeFits(scheme: MoENamingScheme, config: MoELayerConfig, weights: MoEWeights): void {
  if (config.expert.kind !== 'swiglu') {
    throw new ConfigError('expert.kind', `Hugging Face ${scheme} layers hold SwiGLU experts; got '${config.expert.kind}'`);
  }
  const s = sharedExpertCount(config);
  if (scheme === 'mixtral' && s > 0) throw new ConfigError('sharedExperts', 'the mixtral scheme has no shared experts; use qwen-moe or deepseek');
  if (scheme === 'qwen-moe' && s > 1) throw new ConfigError('sharedExperts.count', `the qwen-moe scheme holds one shared expert, got ${s}; use deepseek (merged shared experts)`);
  if (scheme !== 'qwen-moe' && config.sharedExperts?.gated) throw new ConfigError('sharedExperts.gated', `the ${scheme} scheme has no shared expert gate; use qwen-moe`);
  for (const name of Object.keys(weights.routerParams ?? {})) {
    if (scheme !== 'deepseek' || name !== 'e_score_correction_bias') {
      throw new ConfigError(`weights.routerParams.${name}`, `the ${scheme} scheme cannot store this router parameter (deepseek stores e_score_correction_bias only)`);
    }
  }
}

/** The tensors of one MoE layer under Hugging Face names (validated against the config first). */
export function moeLayerTensors(config: MoELayerConfig, weights: MoEWeights, options: SaveMoELayerOptions = {}): Map<string, HostTensor> {
  validateWeights(config, weights);
  const scheme = resolveScheme(options.scheme ?? 'mixtral');
  checkSchemeFits(scheme, config, weights);
  const names = schemeNames(scheme);
  const prefix = options.prefix ?? '';
  const out = new Map<string, HostTensor>();
  const put = (rel: string, t: HostTensor | undefined): void => {
    if (t) out.set(prefix + rel, t);
  };
  const putExpert = (e: ExpertWeights, name: (p: ProjectionName, kind?: 'weight' | 'bias') => string): void => {
    put(name('gate'), e.gate);
    put(name('up'), e.up);
    put(name('down'), e.down);
    put(name('gate', 'bias'), e.gateBias);
    put(name('up', 'bias'), e.upBias);
    put(name('down', 'bias'), e.downBias);
  };
  put(names.router, weights.router);
  put(names.scoreCorrectionBias ?? '', weights.routerParams?.e_score_correction_bias);
  weights.experts.forEach((e, j) => putExpert(e, (p, k) => names.expert(j, p, k)));
  if (weights.shared?.length && names.shared) putExpert(mergeShared(weights.shared), names.shared);
  if (config.sharedExperts?.gated && names.sharedGate) put(names.sharedGate, weights.sharedGate);
  return out;
}

/** Writes one MoE layer to a safetensors file with Hugging Face names. */
export async function saveMoELayer(path: string, config: MoELayerConfig, weights: MoEWeights, options: SaveMoELayerOptions = {}): Promise<void> {
  const tensors = moeLayerTensors(config, weights, options);
  const write: WriteSafetensorsOptions = { dtype: options.dtype, metadata: { format: 'pt', ...options.metadata } };
  await writeSafetensors(path, tensors, write);
}
