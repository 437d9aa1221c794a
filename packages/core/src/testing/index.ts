/**
 * @moe-runtime/core/testing: shared test helpers for core, the backend packages and the apps
 * (imported as `@moe-runtime/core/testing`; not part of the runtime API).
 *
 * @packageDocumentation
 */
export * from './registry-checks.js';
export * from './test-backend.js';
export * from './resident-probe.js';
export * from './sparsity-checks.js';
export * from './attention-checks.js';
export * from './temp-dirs.js';
