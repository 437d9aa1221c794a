/**
 * @moe-runtime/bench: the cross-backend benchmark and cross-validation harness behind the
 * `moe-bench` CLI. Exported for programmatic runs and tests.
 *
 * @packageDocumentation
 */
export { main, toJson, type MainIO } from './main.js';
export { parseScenario, withOverrides, describeLayer, type Scenario, type ScenarioTolerance, type ParseScenarioOptions } from './scenario.js';
export {
  defaultScenarioDir,
  loadScenarioFile,
  parseScenarioText,
  resolveScenarios,
  scenarioFilesIn,
  QUICK_SCENARIO_JSON,
  ScenarioFileError,
} from './scenario-files.js';
export {
  loadBackends,
  parseBackendSpec,
  choiceLabel,
  initBackends,
  type SkippedBackend,
  type ReadyBackend,
} from './backends.js';
export { runBenchmarks, type RunPlan, type RunnerHooks } from './runner.js';
export { runScenarioOnBackend, RERUN_FORWARDS, type RunHooks } from './run-backend.js';
export { ReferenceOracle, sampleRows, type OutputCheck } from './reference-oracle.js';
export { Workload, denseConfigOf, flopsPerToken, passSeed, type WorkloadPass } from './workload.js';
export { passWeightBytes, workingSetBytes, layerParameters, expertParameters } from './weight-traffic.js';
export { measureReadBandwidth, bandwidthFor, type BandwidthFigure, type BandwidthMeasurement, type BandwidthOptions } from './bandwidth.js';
export { createReadKernel, READ_KERNEL_WASM, READ_CHUNK_BYTES, type ReadKernel } from './read-kernel.js';
export { CacheEvictor, DEFAULT_LAST_LEVEL_CACHE_BYTES } from './cache-evict.js';
export { RECORD_FIELDS, type BenchRecord, type BenchResults, type RecordedScenario } from './record.js';
export { compareResults, readResults, renderComparison, type Comparison, type CaseChange } from './compare.js';
export { renderHtml } from './html-report.js';
export { renderMarkdown } from './markdown.js';
export { renderTable } from './table.js';
export { machineFacts, lastLevelCacheBytes, parseCacheSize, type MachineFacts } from './machine.js';
export { summarize, quantile, type TimingSummary } from './stats.js';
export { MemorySampler, type MemoryPeaks } from './memory.js';
