/** safetensors reading/writing and loading MoE layers with Hugging Face tensor names. */
export {
  MAX_HEADER_BYTES,
  READABLE_DTYPES,
  SAFETENSORS_DTYPE_BYTES,
  safetensorsDTypeOf,
  type SafetensorsDType,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
} from './safetensors-format.js';
export { applyBlockScales, blockScaleShape, decodeFloat8E4M3, decodeFloat8E5M2, float8E4M3ToFloat32, float8E5M2ToFloat32 } from './fp8.js';
export { openSafetensors, parseSafetensors, readSafetensorsFile, SafetensorsBuffer, SafetensorsFile, type TensorSource } from './safetensors-reader.js';
export { RawSafetensor, serializeSafetensors, writeSafetensors, type TensorMap, type WritableTensor, type WriteSafetensorsOptions } from './safetensors-writer.js';
export { openCheckpoint, openSafetensorsIndex, SAFETENSORS_INDEX_FILE, ShardedSafetensors, writeShardedSafetensors } from './sharded-checkpoint.js';
export {
  detectMoEScheme,
  findMoEPrefixes,
  MOE_SCHEME_ALIASES,
  resolveScheme,
  schemeNames,
  type MoENamingScheme,
  type MoESchemeNames,
  type ProjectionName,
} from './hf-moe-names.js';
export { loadMoELayer, loadMoELayerFrom, type LoadedMoELayer, type LoadMoELayerOptions, type MoELayerShape } from './hf-moe-loader.js';
export { moeLayerTensors, saveMoELayer, type SaveMoELayerOptions } from './hf-moe-writer.js';
