/**
 * @moe-runtime/core: tensors, the Backend and Router interfaces and registries, the routing
 * plan, the MoE layer, the float64 reference and safetensors loading.
 *
 * @packageDocumentation
 */
import { registerBuiltinRouters } from './routers/builtin-routers.js';

export * from './errors.js';
export * from './half-precision.js';
export * from './formats/index.js';
export * from './tensor.js';
export * from './rng.js';
export * from './expert.js';
export * from './layer-config.js';
export * from './weights.js';
export * from './router.js';
export * from './router-options.js';
export * from './router-registry.js';
export * from './routers/index.js';
export * from './routing-plan.js';
export * from './routing-plan-checks.js';
export * from './routed-rows.js';
export * from './routing-stats.js';
export * from './backend.js';
export * from './linear-many.js';
export * from './file-read.js';
export * from './backend-memory.js';
export * from './expert-work.js';
export * from './attention/index.js';
export * from './backend-registry.js';
export * from './backend-spec.js';
export * from './backend-packages.js';
export * from './input-checks.js';
export * from './moe-layer.js';
export * from './reference.js';
export * from './cross-validate.js';
export * from './reference-check.js';
export * from './runtime.js';
export * from './safetensors/index.js';

registerBuiltinRouters();
