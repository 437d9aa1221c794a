/**
 * The custom-router example: a nucleus (top-p) router defined outside core, and a runner
 * that uses it on any registered backend.
 *
 * @packageDocumentation
 */
export { createTopPRouter, registerTopPRouter, TOP_P_OPTIONS } from './top-p-router.js';
export { EXAMPLE_CONFIG, formatResult, loadBackend, runExample, type ExampleResult } from './run-example.js';
