/** The architecture modules and their registry. */
export * from './architecture.js';
export * from './hf-config-reader.js';
export * from './hf-moe-layout.js';
export * from './llama-style-names.js';
export * from './registry.js';
export * from './layer-layout.js';
export * from './hf-quantization.js';
