/**
 * The tensor names of the Llama-style decoders (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE), which
 * the architecture modules share: Hugging Face names of the non-MoE tensors (the MoE ones come
 * from core's naming schemes), and llama.cpp's GGUF names (`gguf-py/gguf/constants.py`).
 */

/** Hugging Face names of embeddings, norms, attention and LM head. */
export const LLAMA_HF_NAMES = {
  embed: 'model.embed_tokens.weight',
  finalNorm: 'model.norm.weight',
  lmHead: 'lm_head.weight',
  layerPrefix: (i: number): string => `model.layers.${i}.`,
  inputNorm: 'input_layernorm.weight',
  postAttentionNorm: 'post_attention_layernorm.weight',
  proj: (p: 'q' | 'k' | 'v' | 'o', kind: 'weight' | 'bias' = 'weight'): string => `self_attn.${p}_proj.${kind}`,
  qNorm: 'self_attn.q_norm.weight',
  kNorm: 'self_attn.k_norm.weight',
  /** gpt-oss's learned attention sinks `[H]`. */
  sinks: 'self_attn.sinks',
} as const;

/** The Hugging Face names an architecture module gives. */
export type HfTensorNames = typeof LLAMA_HF_NAMES;

/** GGUF tensor names (without the `.weight` / `.bias` suffix). */
export const LLAMA_GGUF_NAMES = {
  embed: 'token_embd',
  finalNorm: 'output_norm',
  lmHead: 'output',
  block: (i: number): string => `blk.${i}.`,
  attnNorm: 'attn_norm',
  q: 'attn_q',
  k: 'attn_k',
  v: 'attn_v',
  o: 'attn_output',
  qNorm: 'attn_q_norm',
  kNorm: 'attn_k_norm',
  /** gpt-oss's attention sinks `[H]`. */
  sinks: 'attn_sinks',
  ffnNorm: 'ffn_norm',
  router: 'ffn_gate_inp',
  experts: (p: 'gate' | 'up' | 'down'): string => `ffn_${p}_exps`,
  expert: (p: 'gate' | 'up' | 'down', j: number): string => `ffn_${p}.${j}`,
  shared: (p: 'gate' | 'up' | 'down'): string => `ffn_${p}_shexp`,
  sharedGate: 'ffn_gate_inp_shexp',
} as const;

/** The GGUF names an architecture module gives (the Llama ones or its own spellings). */
export type GgufTensorNames = { readonly [K in keyof typeof LLAMA_GGUF_NAMES]: (typeof LLAMA_GGUF_NAMES)[K] extends string ? string : (typeof LLAMA_GGUF_NAMES)[K] };
