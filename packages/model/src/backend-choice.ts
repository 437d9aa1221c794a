/**
 * Which backend a model loads onto. Named backends are tried in the caller's order, and the
 * first that starts and fits is taken. With none named, every registered backend that starts
 * is asked what the model would cost it (`estimateModelMemory`, before any weight is read),
 * and the one that holds it in the fewest bytes among those that fit is taken. Decode is
 * bound by the bytes it reads, so the backend that computes on the stored format (BF16, q8_0,
 * q4_k... as they are) is also the fast one; registry priority breaks ties. A backend that
 * would need more memory than there is is skipped, never half-loaded.
 */
import { BackendUnavailableError, errorMessage, getBackend, hasBackendInstance, listBackends, MemoryLimitError, type Backend, type BackendChoice } from '@moe-runtime/core';
import { checkModelFits, estimateModelMemory, formatGiB, type MachineMemory } from './model-memory.js';
import type { PlannedTensor } from './model-source.js';

/** What one backend would have cost, as the choice saw it. */
export interface BackendCandidate {
  readonly name: string;
  /** Bytes the model would need with this backend (backend + host); absent when it did not start. */
  readonly neededBytes?: number;
  /** Whether it started and the model fits it and the machine. */
  readonly fits: boolean;
  /** Why it was not taken (did not start, or did not fit), when it was not. */
  readonly reason?: string;
}

/** The backend taken, and every candidate considered (in the order tried). */
export interface BackendChoiceReport {
  readonly backend: Backend;
  readonly candidates: readonly BackendCandidate[];
  /** How it was picked, for messages. */
  readonly rule: 'first that fits' | 'fewest bytes';
}

/** Options of {@link chooseModelBackend}. */
export interface ChooseBackendOptions {
  /** Backend(s) in order of preference; default: every registered one, smallest footprint wins. */
  readonly backend?: BackendChoice | readonly BackendChoice[];
  /** Check that the model fits the backend's ceiling and the machine (default true); off, every backend that starts fits. */
  readonly checkMemory?: boolean;
  readonly machine?: MachineMemory;
}

interface Started {
  readonly backend: Backend;
  readonly needed: number;
  readonly error?: MemoryLimitError;
  /** Made by this choice (not an instance somebody else already held): disposed if not taken. */
  readonly own: boolean;
}

async function start(model: string, tensors: readonly PlannedTensor[], choice: BackendChoice, o: ChooseBackendOptions): Promise<Started | string> {
  const own = !hasBackendInstance(choice);
  let backend: Backend;
  try {
    backend = await getBackend(choice);
  } catch (err) {
    return errorMessage(err);
  }
  const estimate = estimateModelMemory(tensors, backend);
  const needed = estimate.backendBytes + estimate.hostBytes;
  if (o.checkMemory === false) return { backend, needed, own };
  try {
    checkModelFits(model, estimate, backend, o.machine);
    return { backend, needed, own };
  } catch (err) {
    if (err instanceof MemoryLimitError) return { backend, needed, error: err, own };
    throw err;
  }
}

/**
 * Picks the backend for a model of `tensors` (see the module comment). Backends this call
 * started for the comparison and did not take are disposed; instances that existed before (held
 * elsewhere in the process) are left alone. Throws the smallest candidate's MemoryLimitError
 * (its message listing what every backend would need) when none fits, and a
 * BackendUnavailableError when none starts.
 */
export async function chooseModelBackend(model: string, tensors: readonly PlannedTensor[], o: ChooseBackendOptions = {}): Promise<BackendChoiceReport> {
  const named = o.backend !== undefined;
  const choices: readonly BackendChoice[] = o.backend === undefined ? listBackends().map((b) => b.name) : Array.isArray(o.backend) ? o.backend : [o.backend as BackendChoice];
  const candidates: BackendCandidate[] = [];
  const started: Started[] = [];
  for (const choice of choices) {
    const name = typeof choice === 'string' ? choice : choice.name;
    const s = await start(model, tensors, choice, o);
    if (typeof s === 'string') {
      candidates.push({ name, fits: false, reason: `did not start: ${s}` });
      continue;
    }
    candidates.push({ name, neededBytes: s.needed, fits: !s.error, ...(s.error ? { reason: `needs ${formatGiB(s.needed)}: ${s.error.message}` } : {}) });
    started.push(s);
    if (named && !s.error) break;
  }
  const fitting = started.filter((s) => !s.error);
  // Stable: among equal footprints the earlier (higher-priority) backend stays.
  const taken = named ? fitting[0] : fitting.reduce<Started | undefined>((best, s) => (best === undefined || s.needed < best.needed ? s : best), undefined);
  for (const s of started) if (s !== taken && s.own) await s.backend.dispose();
  if (taken) {
    const report = candidates.map((c) => (c.name === taken.backend.name || !c.fits ? c : { ...c, reason: `needs ${formatGiB(c.neededBytes!)}, more than ${taken.backend.name}'s ${formatGiB(taken.needed)}` }));
    return { backend: taken.backend, candidates: report, rule: named ? 'first that fits' : 'fewest bytes' };
  }
  const refused = started.filter((s) => s.error).sort((a, b) => a.needed - b.needed);
  if (refused.length > 0) {
    const e = refused[0].error!;
    const others = candidates.filter((c) => c.name !== refused[0].backend.name).map((c) => `${c.name}: ${c.neededBytes === undefined ? c.reason : `needs ${formatGiB(c.neededBytes)}`}`);
    throw new MemoryLimitError(e.model, e.neededBytes, e.limitBytes, `${e.message}${others.length ? ` (no backend fits; ${others.join('; ')})` : ''}`);
  }
  throw new BackendUnavailableError(candidates.map((c) => ({ name: c.name, reason: c.reason ?? 'did not start' })));
}

/** One line for the CLI: the backend taken (`name`), and what the others would have needed. */
export function describeBackendChoice(name: string, candidates: readonly BackendCandidate[], rule: BackendChoiceReport['rule']): string {
  const taken = candidates.find((c) => c.name === name);
  const others = candidates
    .filter((c) => c !== taken)
    .map((c) => `${c.name} ${c.neededBytes === undefined ? 'did not start' : `${formatGiB(c.neededBytes)}${c.fits ? '' : ', does not fit'}`}`);
  const own = taken?.neededBytes === undefined ? '' : ` ${formatGiB(taken.neededBytes)}`;
  return `backend ${name} (${rule}:${own}${others.length ? `; ${others.join(', ')}` : ''})`;
}
