/** A check every backend package runs: a disposed backend is never handed out again. */
import { resolveBackend, type BackendChoice } from '../backend-registry.js';
import { compareOutputs } from '../cross-validate.js';
import { referenceLinear } from '../reference.js';
import { createRng, randomNormal } from '../rng.js';
import { HostTensor } from '../tensor.js';

/** What {@link resolveDisposeResolve} observed. */
export interface ResolveDisposeResolve {
  /** Whether the second resolve gave another instance than the disposed one. */
  readonly fresh: boolean;
  /** The second instance's name. */
  readonly name: string;
  /** rel-L2 error of a linear layer run on the second instance against the float64 reference. */
  readonly relL2: number;
}

/**
 * Resolves `choice`, disposes the instance, resolves it again and runs a seeded random linear
 * layer on the second instance (which throws if the registry handed out the disposed one),
 * then disposes that one too.
 */
export async function resolveDisposeResolve(choice: BackendChoice, seed = 7): Promise<ResolveDisposeResolve> {
  const first = await resolveBackend(choice);
  await first.dispose();
  const second = await resolveBackend(choice);
  const rng = createRng(seed);
  const [rows, inF, outF] = [3, 24, 10];
  const weight = HostTensor.float32([outF, inF], randomNormal(rng, outF * inF, 1 / Math.sqrt(inF)));
  const x = randomNormal(rng, rows * inF);
  try {
    const layer = await second.prepareLinear({ weight });
    const y = await second.linear(layer, x, rows);
    layer.dispose();
    return { fresh: second !== first, name: second.name, relL2: compareOutputs(y, referenceLinear(weight, x, rows)).relL2 };
  } finally {
    await second.dispose();
  }
}
