/** Shared helpers of the backend-onnx tests: a layer built on the backend, checked against core's float64 reference. */
import { checkAgainstReference, HostTensor, MoELayer, randomInput, randomWeights, type DType, type MoELayerConfig, type ReferenceCheck } from '@moe-runtime/core';
import type { OnnxBackend } from '../src/index.js';

/** Builds `config` with fresh seeded weights on `backend`, runs T tokens, and checks the result. */
export async function runChecked(
  backend: OnnxBackend,
  config: MoELayerConfig,
  options: { tokens: number; seed: number; dtype?: DType; maxRelL2?: number; tieTolerance?: number; scaleFirst?: number },
): Promise<{ check: ReferenceCheck; tokensPerExpert: Int32Array; dropped: number }> {
  const drawn = randomWeights(config, { seed: options.seed, dtype: options.dtype });
  // Larger first projections: pre-activations past the clamped SwiGLU's limit.
  const by = options.scaleFirst ?? 1;
  const scale = (t: HostTensor): HostTensor => HostTensor.float32(t.shape, t.toFloat32().map((v) => v * by));
  const weights = by === 1 ? drawn : { ...drawn, experts: drawn.experts.map((e) => ({ ...e, gate: e.gate && scale(e.gate), up: scale(e.up) })) };
  const layer = await MoELayer.create({ config, weights, backend });
  try {
    const x = randomInput(options.tokens, config.hiddenSize, options.seed + 1);
    const result = await layer.forward(x);
    const check = checkAgainstReference(config, weights, x, result, { maxRelL2: options.maxRelL2 ?? 1e-5, tieTolerance: options.tieTolerance });
    return { check, tokensPerExpert: result.plan.tokensPerExpert, dropped: result.plan.dropped.token.length };
  } finally {
    layer.dispose();
  }
}
