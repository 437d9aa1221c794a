/**
 * DeepSeek-V2's decoder layers on both sides. Hugging Face (modeling_deepseek
 * `DeepseekV2DecoderLayer`): `self_attn.{q_proj (or q_a_proj, q_a_layernorm, q_b_proj),
 * kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj, o_proj}`, then a dense `mlp.{gate,up,down}_proj` (the first `first_k_dense_replace` layers) or
 * the MoE `mlp.gate`, `mlp.experts.E.*`, `mlp.shared_experts.*`. GGUF (llama.cpp `deepseek2`,
 * as its current converter writes it): `attn_q` (or `attn_q_a`, `attn_q_a_norm`,
 * `attn_q_b`), `attn_kv_a_mqa`, `attn_kv_a_norm`, `kv_b_proj`
 * split per head into `attn_k_b` `[H, kv_lora_rank, qk_nope]` (k part, transposed) and
 * `attn_v_b` `[H, v_head_dim, kv_lora_rank]`, `attn_output`, dense `ffn_{gate,up,down}`, or
 * `ffn_gate_inp`, `ffn_{gate,up,down}_exps`, `ffn_{gate,up,down}_shexp`. The unsplit
 * `attn_kv_b` of older conversions (before llama.cpp's MLA cache) is read too; writing always
 * splits.
 *
 * A dense layer becomes the decoder's one-expert MoE (`layerMoeConfig`): its router is a
 * `[1, D]` zero row (one logit, softmax weight exactly 1), not stored in either file.
 */
import { ConfigError, HostTensor, type ExpertWeights, type MoEWeights } from '@moe-runtime/core';
import type { ModelConfig } from '../../model-config.js';
import type { DecoderLayerWeights } from '../../model-weights.js';
import { stackTensors } from '../../tensor-concat.js';
import type { LayerLayout, LayerTensor, LayerTensorProbe, LayerTensorReader } from '../layer-layout.js';

const PROJ = ['gate', 'up', 'down'] as const;
type Proj = (typeof PROJ)[number];

function isDense(c: ModelConfig, i: number): boolean {
  return i < (c.leadingDense?.count ?? 0);
}

function latent(c: ModelConfig): NonNullable<ModelConfig['latentAttention']> {
  if (!c.latentAttention) throw new ConfigError('latentAttention', `${c.modelType} layers need the latent attention sizes (kv_lora_rank, qk_nope/rope_head_dim, v_head_dim)`);
  return c.latentAttention;
}

/** `[F, D]` for gate/up, `[D, F]` for down. */
function projShape(p: Proj, f: number, d: number): number[] {
  return p === 'down' ? [d, f] : [f, d];
}

/** The names one side gives the tensors of a layer. */
interface SideNames {
  readonly inputNorm: string;
  readonly postNorm: string;
  readonly q: string;
  readonly qA: string;
  readonly qANorm: string;
  readonly qB: string;
  readonly kvA: string;
  readonly kvANorm: string;
  readonly o: string;
  readonly dense: (p: Proj) => string;
  readonly router: string;
  readonly shared: (p: Proj) => string;
}

const HF: SideNames = {
  inputNorm: 'input_layernorm.weight',
  postNorm: 'post_attention_layernorm.weight',
  q: 'self_attn.q_proj.weight',
  qA: 'self_attn.q_a_proj.weight',
  qANorm: 'self_attn.q_a_layernorm.weight',
  qB: 'self_attn.q_b_proj.weight',
  kvA: 'self_attn.kv_a_proj_with_mqa.weight',
  kvANorm: 'self_attn.kv_a_layernorm.weight',
  o: 'self_attn.o_proj.weight',
  dense: (p) => `mlp.${p}_proj.weight`,
  router: 'mlp.gate.weight',
  shared: (p) => `mlp.shared_experts.${p}_proj.weight`,
};
const HF_KV_B = 'self_attn.kv_b_proj.weight';
const hfExpert = (j: number, p: Proj): string => `mlp.experts.${j}.${p}_proj.weight`;

const GG: SideNames = {
  inputNorm: 'attn_norm.weight',
  postNorm: 'ffn_norm.weight',
  q: 'attn_q.weight',
  qA: 'attn_q_a.weight',
  qANorm: 'attn_q_a_norm.weight',
  qB: 'attn_q_b.weight',
  kvA: 'attn_kv_a_mqa.weight',
  kvANorm: 'attn_kv_a_norm.weight',
  o: 'attn_output.weight',
  dense: (p) => `ffn_${p}.weight`,
  router: 'ffn_gate_inp.weight',
  shared: (p) => `ffn_${p}_shexp.weight`,
};
const GG_K_B = 'attn_k_b.weight';
const GG_V_B = 'attn_v_b.weight';
/** The unsplit kv_b_proj of conversions before llama.cpp's MLA cache. */
const GG_KV_B = 'attn_kv_b.weight';
const ggExperts = (p: Proj): string => `ffn_${p}_exps.weight`;

/** The tensors both sides share (norms, q, kv_a, o, dense or shared MLP, router). */
function commonTensors(n: SideNames, c: ModelConfig, i: number): LayerTensor[] {
  const d = c.hiddenSize;
  const m = latent(c);
  const qw = c.numHeads * c.headDim;
  const rq = m.qLoraRank;
  const q: LayerTensor[] =
    rq === undefined
      ? [{ name: n.q, shape: [qw, d], use: 'backend', convertible: true }]
      : [
          { name: n.qA, shape: [rq, d], use: 'backend', convertible: true },
          { name: n.qANorm, shape: [rq], use: 'host-vector', convertible: false },
          { name: n.qB, shape: [qw, rq], use: 'backend', convertible: true },
        ];
  const out: LayerTensor[] = [
    { name: n.inputNorm, shape: [d], use: 'host-vector', convertible: false },
    { name: n.postNorm, shape: [d], use: 'host-vector', convertible: false },
    ...q,
    { name: n.kvA, shape: [m.kvLoraRank + m.qkRopeHeadDim, d], use: 'backend', convertible: true },
    { name: n.kvANorm, shape: [m.kvLoraRank], use: 'host-vector', convertible: false },
    { name: n.o, shape: [d, c.numHeads * m.vHeadDim], use: 'backend', convertible: true },
  ];
  if (isDense(c, i)) {
    for (const p of PROJ) out.push({ name: n.dense(p), shape: projShape(p, c.leadingDense!.ffnSize, d), use: 'backend', convertible: true });
    return out;
  }
  out.push({ name: n.router, shape: [c.moe.numExperts, d], use: 'backend', convertible: false });
  const s = c.moe.sharedExperts;
  if (s) for (const p of PROJ) out.push({ name: n.shared(p), shape: projShape(p, s.ffnSize, d), use: 'backend', convertible: true });
  return out;
}

/** The dense layer's weights as the one-expert MoE of `layerMoeConfig`. */
async function denseMoe(n: SideNames, read: LayerTensorReader, c: ModelConfig): Promise<MoEWeights> {
  const e: ExpertWeights = { gate: await read(n.dense('gate')), up: await read(n.dense('up')), down: await read(n.dense('down')) };
  return { router: HostTensor.float32([1, c.hiddenSize], new Float32Array(c.hiddenSize)), experts: [e] };
}

async function sharedOf(n: SideNames, read: LayerTensorReader, c: ModelConfig): Promise<ExpertWeights[] | undefined> {
  if (!c.moe.sharedExperts) return undefined;
  return [{ gate: await read(n.shared('gate')), up: await read(n.shared('up')), down: await read(n.shared('down')) }];
}

/** Layer i's attention and norms from `read`, the kv_b_proj given by each side. */
async function layerOf(n: SideNames, read: LayerTensorReader, c: ModelConfig, kvB: HostTensor, moe: MoEWeights): Promise<DecoderLayerWeights> {
  // With a low-rank q, `q` holds q_b_proj (the projection that makes q) beside q_a_proj and its norm.
  const q = latent(c).qLoraRank === undefined ? { q: await read(n.q) } : { q: await read(n.qB), qA: await read(n.qA), qANorm: await read(n.qANorm) };
  return {
    inputNorm: await read(n.inputNorm),
    postAttentionNorm: await read(n.postNorm),
    attention: { ...q, kvA: await read(n.kvA), kvANorm: await read(n.kvANorm), kvB, o: await read(n.o) },
    moe,
  };
}

/** The tensors both sides write alike. */
function writeCommon(n: SideNames, c: ModelConfig, w: DecoderLayerWeights, i: number): Map<string, HostTensor> {
  const a = w.attention;
  const q: [string, HostTensor][] = a.qA ? [[n.qA, a.qA], [n.qANorm, a.qANorm!], [n.qB, a.q]] : [[n.q, a.q]];
  const out = new Map<string, HostTensor>([
    [n.inputNorm, w.inputNorm],
    [n.postNorm, w.postAttentionNorm],
    ...q,
    [n.kvA, a.kvA!],
    [n.kvANorm, a.kvANorm!],
    [n.o, a.o],
  ]);
  if (isDense(c, i)) {
    const e = w.moe.experts[0];
    for (const p of PROJ) out.set(n.dense(p), p === 'gate' ? e.gate! : e[p]);
    return out;
  }
  out.set(n.router, w.moe.router);
  const s = w.moe.shared?.[0];
  if (s) for (const p of PROJ) out.set(n.shared(p), p === 'gate' ? s.gate! : s[p]);
  return out;
}

/** The Hugging Face side. */
export const DEEPSEEK_HF_LAYERS: LayerLayout = {
  tensors(c, i) {
    const m = latent(c);
    const out = commonTensors(HF, c, i);
    out.push({ name: HF_KV_B, shape: [c.numHeads * (m.qkNopeHeadDim + m.vHeadDim), m.kvLoraRank], use: 'backend', convertible: true, heldAs: 'float32' });
    if (isDense(c, i)) return out;
    const f = c.moe.expert.ffnSize;
    for (let j = 0; j < c.moe.numExperts; j++) for (const p of PROJ) out.push({ name: hfExpert(j, p), shape: projShape(p, f, c.hiddenSize), use: 'backend', convertible: true });
    return out;
  },
  async read(read, c, i) {
    if (isDense(c, i)) return layerOf(HF, read, c, await read(HF_KV_B), await denseMoe(HF, read, c));
    const experts: ExpertWeights[] = [];
    for (let j = 0; j < c.moe.numExperts; j++) experts.push({ gate: await read(hfExpert(j, 'gate')), up: await read(hfExpert(j, 'up')), down: await read(hfExpert(j, 'down')) });
    return layerOf(HF, read, c, await read(HF_KV_B), { router: await read(HF.router), experts, shared: await sharedOf(HF, read, c) });
  },
  write(c, w, i) {
    const out = writeCommon(HF, c, w, i);
    out.set(HF_KV_B, w.attention.kvB!);
    if (!isDense(c, i)) w.moe.experts.forEach((e, j) => PROJ.forEach((p) => out.set(hfExpert(j, p), p === 'gate' ? e.gate! : e[p])));
    return out;
  },
};

/** kv_b_proj `[H * (nope + v), rank]` split into llama.cpp's `attn_k_b` `[H, rank, nope]` and `attn_v_b` `[H, v, rank]`. */
export function splitKvB(kvB: HostTensor, c: ModelConfig): { kB: HostTensor; vB: HostTensor } {
  const { kvLoraRank: r, qkNopeHeadDim: nope, vHeadDim: v } = latent(c);
  const h = c.numHeads;
  const w = kvB.toFloat32();
  const kB = new Float32Array(h * r * nope);
  const vB = new Float32Array(h * v * r);
  for (let hd = 0; hd < h; hd++) {
    const base = hd * (nope + v);
    for (let j = 0; j < nope; j++) for (let x = 0; x < r; x++) kB[(hd * r + x) * nope + j] = w[(base + j) * r + x];
    vB.set(w.subarray((base + nope) * r, (base + nope + v) * r), hd * v * r);
  }
  return { kB: HostTensor.float32([h, r, nope], kB), vB: HostTensor.float32([h, v, r], vB) };
}

/** What {@link splitKvB} undoes: kv_b_proj from `attn_k_b` and `attn_v_b` (float32). */
export function joinKvB(kB: HostTensor, vB: HostTensor, c: ModelConfig): HostTensor {
  const { kvLoraRank: r, qkNopeHeadDim: nope, vHeadDim: v } = latent(c);
  const h = c.numHeads;
  const k = kB.toFloat32();
  const vv = vB.toFloat32();
  const out = new Float32Array(h * (nope + v) * r);
  for (let hd = 0; hd < h; hd++) {
    const base = hd * (nope + v);
    for (let j = 0; j < nope; j++) for (let x = 0; x < r; x++) out[(base + j) * r + x] = k[(hd * r + x) * nope + j];
    out.set(vv.subarray(hd * v * r, (hd + 1) * v * r), (base + nope) * r);
  }
  return HostTensor.float32([h * (nope + v), r], out);
}

/** True when the file stores the older unsplit `attn_kv_b`. */
function unsplit(has: LayerTensorProbe | undefined): boolean {
  return has?.(GG_KV_B) === true;
}

/** The GGUF side (llama.cpp `deepseek2`: split `attn_k_b` / `attn_v_b`, or the older `attn_kv_b`). */
export const DEEPSEEK_GGUF_LAYERS: LayerLayout = {
  tensors(c, i, has) {
    const m = latent(c);
    const h = c.numHeads;
    const out = commonTensors(GG, c, i);
    if (unsplit(has)) out.push({ name: GG_KV_B, shape: [h * (m.qkNopeHeadDim + m.vHeadDim), m.kvLoraRank], use: 'backend', convertible: true, heldAs: 'float32' });
    else {
      out.push({ name: GG_K_B, shape: [h, m.kvLoraRank, m.qkNopeHeadDim], use: 'backend', convertible: false, heldAs: 'float32' });
      out.push({ name: GG_V_B, shape: [h, m.vHeadDim, m.kvLoraRank], use: 'backend', convertible: false, heldAs: 'float32' });
    }
    if (isDense(c, i)) return out;
    const { numExperts: e, hiddenSize: d } = c.moe;
    for (const p of PROJ) out.push({ name: ggExperts(p), shape: [e, ...projShape(p, c.moe.expert.ffnSize, d)], use: 'backend', convertible: true, slices: e });
    return out;
  },
  async read(read, c, i, has) {
    const kvB = unsplit(has) ? await read(GG_KV_B) : joinKvB(await read(GG_K_B), await read(GG_V_B), c);
    if (isDense(c, i)) return layerOf(GG, read, c, kvB, await denseMoe(GG, read, c));
    const e = c.moe.numExperts;
    const stacked: Record<Proj, HostTensor> = { gate: await read(ggExperts('gate')), up: await read(ggExperts('up')), down: await read(ggExperts('down')) };
    const experts = Array.from({ length: e }, (_, j): ExpertWeights => ({ gate: stacked.gate.slice0(j), up: stacked.up.slice0(j), down: stacked.down.slice0(j) }));
    return layerOf(GG, read, c, kvB, { router: await read(GG.router), experts, shared: await sharedOf(GG, read, c) });
  },
  write(c, w, i) {
    const out = writeCommon(GG, c, w, i);
    // llama.cpp computes norms and routers in float32 (as its converter writes them).
    for (const k of [GG.inputNorm, GG.postNorm, GG.kvANorm, GG.qANorm, GG.router]) if (out.has(k)) out.set(k, out.get(k)!.to('float32'));
    const { kB, vB } = splitKvB(w.attention.kvB!, c);
    out.set(GG_K_B, kB);
    out.set(GG_V_B, vB);
    if (!isDense(c, i)) for (const p of PROJ) out.set(ggExperts(p), stackTensors(w.moe.experts.map((e) => (p === 'gate' ? e.gate! : e[p]))));
    return out;
  },
};
