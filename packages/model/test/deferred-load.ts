/**
 * Shared by the deferred-tensor tests (GGUF and Hugging Face): a model loaded from a source on a
 * backend, its logits of a prompt, and whether layer 0's routed experts were read onto the host.
 */
import type { Backend } from '@moe-runtime/core';
import { MoEModel, type DecoderLayerWeights, type ModelWeightSource } from '../src/index.js';

/** Logits of `prompt` after loading `source` on `backend`, and whether layer 0's routed experts are resident on the host. */
export async function loadedLogits(source: ModelWeightSource, backend: Backend, prompt: readonly number[]): Promise<{ logits: Float32Array; expertsOnHost: boolean }> {
  let layer0: DecoderLayerWeights | undefined;
  const watched: ModelWeightSource = { ...source, readLayer: async (i) => { const l = await source.readLayer(i); if (i === 0) layer0 = l; return l; } };
  const model = await MoEModel.load(watched, backend);
  try {
    const session = model.newSession();
    const out = await model.forward(session, [...prompt], { allLogits: true });
    session.dispose();
    return { logits: out.logits, expertsOnHost: layer0!.moe.experts.some((e) => e.up.resident || e.down.resident) };
  } finally {
    model.dispose();
  }
}
