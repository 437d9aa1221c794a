/** Attention and the KV cache: the backend API, its checks and the host implementation. */
export * from './kv-cache.js';
export * from './context-length-error.js';
export * from './attention-call.js';
export { checkStorable, type KvTile } from './kv-row-store.js';
export * from './host-kv-cache.js';
export * from './kv-step-order.js';
export * from './host-attention.js';
export * from './attention-ops.js';
