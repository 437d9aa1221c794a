/**
 * @moe-runtime/model: MoE language models (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE) end to end on
 * any moe-runtime backend: Hugging Face checkpoints, the decoder with a KV cache, tokenizer and
 * chat template, streaming generation, a float64 reference decoder and tiny seeded checkpoints.
 *
 * @packageDocumentation
 */
export * from './architectures/index.js';
export * from './model-config.js';
export * from './model-weights.js';
export * from './checkpoint-names.js';
export * from './model-loader.js';
export * from './moe-model.js';
export * from './kv-cache.js';
export * from './model-session.js';
export * from './model-step.js';
export * from './chunked-prefill.js';
export * from './continuous-batcher.js';
export * from './prefix-cache.js';
export * from './prefill-budget.js';
export * from './rotary.js';
export * from './rope-scaling.js';
export * from './rms-norm.js';
export * from './reference/decoder.js';
export * from './sampling.js';
export * from './tokenizer.js';
export * from './token-stream.js';
export * from './generate.js';
export * from './tiny-tokenizer.js';
export * from './tiny-checkpoint.js';
export * from './text-model.js';
export * from './backend-choice.js';
export * from './gguf/gguf-writer.js';
export * from './gguf/llama-gguf.js';
export * from './gguf/gguf-metadata.js';
export * from './gguf/gguf-file.js';
export * from './gguf/gguf-architecture.js';
export * from './gguf/gguf-tokenizer.js';
export * from './gguf/gguf-model-source.js';
export * from './gguf/rotary-permutation.js';
export * from './model-source.js';
export * from './model-memory.js';
export * from './model-files.js';
export * from './gguf/synthetic-gguf.js';
