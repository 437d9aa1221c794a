/**
 * The inference worker (a worker_threads entry, run from dist/). It imports core and the
 * backends, resolves the configured backend (with fallback), builds every layer from its spec
 * (same seed or same file as the main thread validated), then answers forward batches one at a
 * time. Heavy compute lives here, so the main thread's event loop stays free for /healthz.
 */
import { parentPort } from 'node:worker_threads';
import { HostTensor, MoeError, MoELayer, type Backend, type MoEWeights } from '@moe-runtime/core';
import { startBackend } from '../shared/worker-backend.js';
import { loadLayerSource } from './layer-spec.js';
import { batchRouting } from './routing-output.js';
import type { ForwardRequest, FromWorker, LayerInfo, ToWorker, WorkerInit } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('inference-worker.js must run as a worker thread');

const layers = new Map<string, MoELayer>();
let backend: Backend | undefined;

function send(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

/**
 * Every weight tensor of the layer (experts and their biases, router and its bias, shared
 * experts, shared gate, router parameters), counted from the tensors themselves so the figure
 * cannot drift from what is served.
 */
function parameterCount(weights: MoEWeights): number {
  let n = 0;
  const visit = (v: unknown): void => {
    if (v instanceof HostTensor) n += v.shape.reduce((a, b) => a * b, 1);
    else if (Array.isArray(v)) v.forEach(visit);
    else if (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v)) Object.values(v).forEach(visit);
  };
  visit(weights);
  return n;
}

async function init(msg: WorkerInit): Promise<void> {
  const started = await startBackend(msg);
  backend = started.backend;
  const infos: LayerInfo[] = [];
  for (const spec of msg.layers) {
    const { config, weights } = await loadLayerSource(spec);
    const layer = await MoELayer.create({ config, weights, backend });
    layers.set(spec.id, layer);
    infos.push({
      id: spec.id,
      config,
      router: layer.router.name,
      needsTokenIds: layer.router.needsTokenIds ?? false,
      source: spec.source,
      parameters: parameterCount(weights),
    });
  }
  send({ type: 'ready', backend: started.describe(), layers: infos });
}

async function forward(msg: ForwardRequest): Promise<void> {
  const layer = layers.get(msg.layer);
  if (!layer) {
    send({ type: 'error', id: msg.id, message: `unknown layer '${msg.layer}'` });
    return;
  }
  const start = performance.now();
  const result = await layer.forward(msg.x, { tokenIds: msg.tokenIds });
  const computeMs = performance.now() - start;
  // Transfer the output's buffer only when the array owns all of it; a view into backend
  // memory (or a shared buffer) is copied instead, so the backend keeps what is its own.
  const data = result.output.data as Float32Array;
  const owned = data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
  const output = owned ? data : data.slice();
  const routing = msg.wantRouting ? batchRouting(result.plan) : undefined;
  const transfer = [output.buffer as ArrayBuffer];
  if (routing) transfer.push(routing.offsets.buffer as ArrayBuffer, routing.experts.buffer as ArrayBuffer, routing.weights.buffer as ArrayBuffer);
  send(
    {
      type: 'result',
      id: msg.id,
      output,
      tokensPerExpert: result.stats.tokensPerExpert,
      droppedTokens: result.stats.droppedTokens,
      computeMs,
      routing,
    },
    transfer,
  );
}

// Batches run one at a time: the backend is the bottleneck, and a queue here would only hide
// the backlog from the main thread's scheduler (which owns batching and back-pressure).
let chain: Promise<void> = Promise.resolve();

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'init') {
    init(msg).catch((err: unknown) => send({ type: 'init-error', message: err instanceof Error ? err.message : String(err) }));
  } else if (msg.type === 'forward') {
    chain = chain.then(() =>
      forward(msg).catch((err: unknown) =>
        send({ type: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err), code: err instanceof MoeError ? err.code : undefined }),
      ),
    );
  } else if (msg.type === 'shutdown') {
    chain = chain.then(async () => {
      for (const layer of layers.values()) layer.dispose();
      await backend?.dispose();
      port.close();
    });
  }
});
