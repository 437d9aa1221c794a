/**
 * Loading benchmark (a script, not a test): loads GGUF files or model folders one after the
 * other and prints load time, the bytes held and the process's peak RSS, to check that loading
 * streams (peak RSS within the resident weights plus 1.5 GiB). `--backend store` uses a backend
 * that only keeps a copy of every weight as stored (it computes nothing): the loader's own
 * footprint on real shapes, whatever the compute backends can hold today.
 *
 *   node dist/bench/load-bench.js FILE... [--backend store|cpu|onnx] [--dtype q8_0] [--eager]
 *
 * Run one file per process for clean peak RSS figures (maxRSS never goes down).
 */
import { Command } from 'commander';
import {
  errorMessage,
  getBackend,
  storageBytes,
  type Backend,
  type BackendMemory,
  type DType,
  type ExpertGroup,
  type LinearWeights,
  type PreparedExperts,
  type PreparedLinear,
} from '@moe-runtime/core';
import { importBackends } from '../backends.js';
import { loadModel } from '../model-files.js';
import { formatGiB, peakRssBytes } from '../model-memory.js';

/** Holds a copy of each weight's stored bytes; computes nothing. */
function storeBackend(): Backend {
  let held = 0;
  const copy = (bytes: Uint8Array): Uint8Array => {
    held += bytes.byteLength;
    return bytes.slice();
  };
  const memory: BackendMemory = {
    residentBytesFor: (dtype: DType, shape: readonly number[]) => storageBytes(dtype, shape),
    get residentBytes() {
      return held;
    },
  };
  const refuse = async (): Promise<never> => {
    throw new Error('the store backend only holds weights');
  };
  return {
    name: 'store',
    engine: 'copies of the stored bytes, no compute',
    memory,
    prepareLinear: async (w: LinearWeights): Promise<PreparedLinear> => {
      const kept = [copy(w.weight.bytes()), w.bias ? copy(w.bias.bytes()) : undefined];
      return { inFeatures: w.weight.shape[1], outFeatures: w.weight.shape[0], dispose: () => void kept.splice(0) };
    },
    prepareExperts: async (g: ExpertGroup): Promise<PreparedExperts> => {
      const kept = g.experts.flatMap((e) => [e.gate, e.up, e.down].map((t) => (t ? copy(t.bytes()) : undefined)));
      return { kind: g.kind, numExperts: g.experts.length, hiddenSize: g.hiddenSize, ffnSize: g.ffnSize, dispose: () => void kept.splice(0) };
    },
    linear: refuse,
    runExperts: refuse,
    dispose: async () => {},
  };
}

const program = new Command('load-bench')
  .argument('<paths...>', 'GGUF files or model folders')
  .option('--backend <name>', 'store (copies only), or a compute backend', 'store')
  .option('--dtype <dtype>', 'convert the weight matrices at load')
  .option('--eager', 'read every tensor with its layer instead of deferring it to the backend (deferTensorData: false)')
  .parse();
const opts = program.opts<{ backend: string; dtype?: DType; eager?: boolean }>();

async function main(): Promise<void> {
  await importBackends();
  const backend = opts.backend === 'store' ? storeBackend() : await getBackend(opts.backend);
  for (const path of program.args) {
    const t0 = performance.now();
    const { model, format, converted } = await loadModel(path, backend, { dtype: opts.dtype, deferTensorData: !opts.eager });
    const s = (performance.now() - t0) / 1000;
    const held = backend.memory?.residentBytes;
    console.log(
      `${path} (${format}${opts.eager ? ', eager' : ''}) on ${backend.name}: loaded in ${s.toFixed(1)} s; backend holds ${held === undefined ? 'n/a' : formatGiB(held)} ` +
        `(planned ${formatGiB(model.memory.backendBytes)}), host ${formatGiB(model.memory.hostBytes)}${converted.length ? `, ${converted.length} tensors converted` : ''}; peak RSS ${formatGiB(peakRssBytes())}`,
    );
    model.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(errorMessage(err));
  process.exit(1);
});
