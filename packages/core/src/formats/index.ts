/** Weight storage formats: element types and ggml's block-quantized formats. */
export * from './block-formats.js';
export * from './block-decode.js';
export * from './block-encode.js';
