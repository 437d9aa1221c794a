/** Whether the `tensorflow` engine can run here (tfjs-node or tfjs-node-gpu with its native addon). */
import { NATIVE_PACKAGES, nativePackageProblem } from '../src/native-engine.js';

const problems = NATIVE_PACKAGES.map((p) => nativePackageProblem(p.name));

/** True when at least one native package looks usable. */
export const nativeAvailable = problems.some((p) => p === undefined);

/** Why the tensorflow engine is absent (for skip messages). */
export const nativeAbsentReason = problems.filter(Boolean).join('; ');
