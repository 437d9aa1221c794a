/**
 * The backend registry, modelled on onnxruntime-common's: backends register by name with a
 * priority and a lazy initialiser; `resolveBackend` tries a preference list in order (or every
 * backend by priority), initialises each at most once per option set, falls back on failure,
 * and, when nothing works, throws one error listing every backend tried and why it failed.
 */
import type { Backend } from './backend.js';
import { BackendUnavailableError, ConfigError, errorMessage, UnknownNameError, type BackendAttempt } from './errors.js';

/** Options a backend accepts, as plain JSON (threads, engine, mode, ...). */
export type BackendOptions = Readonly<Record<string, unknown>>;

/** How a backend package registers itself. */
export interface BackendRegistration {
  /** Higher is preferred when the caller names no backend. */
  readonly priority: number;
  /** One line for listings: what this backend runs on. */
  readonly description?: string;
  /** Creates and initialises the backend; throws (with a reason) when it cannot run here. */
  create(options: BackendOptions): Promise<Backend>;
}

/** A backend preference: a name, or a name with options. */
export type BackendChoice = string | { readonly name: string; readonly options?: BackendOptions };

interface Entry extends BackendRegistration {
  readonly name: string;
  readonly instances: Map<string, Promise<Backend>>;
}

const backends = new Map<string, Entry>();

/** Registers a backend factory under `name` (re-registering replaces it). */
export function registerBackend(name: string, registration: BackendRegistration): void {
  if (typeof name !== 'string' || name.length === 0) throw new ConfigError('backend.name', 'expected a non-empty name');
  if (!Number.isFinite(registration.priority)) throw new ConfigError('backend.priority', `expected a number for '${name}'`);
  backends.set(name, { ...registration, name, instances: new Map() });
}

/** Removes a backend registration (mostly for tests). */
export function unregisterBackend(name: string): boolean {
  return backends.delete(name);
}

/** Registered backends, most preferred first. */
export function listBackends(): { name: string; priority: number; description?: string }[] {
  return [...backends.values()]
    .sort((a, b) => b.priority - a.priority || a.name.localeCompare(b.name))
    .map(({ name, priority, description }) => ({ name, priority, description }));
}

function normalise(choice: BackendChoice): { name: string; options: BackendOptions } {
  if (typeof choice === 'string') return { name: choice, options: {} };
  if (!choice || typeof choice.name !== 'string') throw new ConfigError('backend', `expected a backend name or { name, options }, got ${JSON.stringify(choice)}`);
  return { name: choice.name, options: choice.options ?? {} };
}

function stableKey(options: BackendOptions): string {
  return JSON.stringify(Object.keys(options).sort().map((k) => [k, options[k]]));
}

/**
 * Initialises (once per name and options; later calls share the instance) the backend `choice`
 * names. Disposing the instance evicts it, so a later call initialises a new one. Throws
 * UnknownNameError for an unregistered name, or the backend's own error. Options go inside the
 * choice (`{ name, options }`): a second argument, which JavaScript callers could pass and
 * which would otherwise be dropped without a word, is a ConfigError.
 */
export async function getBackend(choice: BackendChoice, ...extra: readonly never[]): Promise<Backend> {
  if (extra.length > 0) {
    throw new ConfigError('backend', `getBackend takes one argument; pass options as { name: ${JSON.stringify(typeof choice === 'string' ? choice : choice?.name)}, options: {...} }, got ${extra.length + 1} arguments`);
  }
  const { name, options } = normalise(choice);
  const entry = backends.get(name);
  if (!entry) throw new UnknownNameError('backend', name, [...backends.keys()].sort());
  const key = stableKey(options);
  let instance = entry.instances.get(key);
  if (!instance) {
    const created = entry.create(options).then((backend) => evictOnDispose(backend, () => forget(entry, key, created)));
    instance = created;
    entry.instances.set(key, created);
    // A failed initialisation is not cached: the cause (a missing driver) may be fixed later.
    created.catch(() => forget(entry, key, created));
  }
  return instance;
}

/**
 * Whether `getBackend(choice)` would share an instance already made (started or starting) rather
 * than create one: a caller that starts backends only to compare them disposes the ones it made
 * itself, never one somebody else holds.
 */
export function hasBackendInstance(choice: BackendChoice): boolean {
  const { name, options } = normalise(choice);
  return backends.get(name)?.instances.has(stableKey(options)) ?? false;
}

function forget(entry: Entry, key: string, instance: Promise<Backend>): void {
  // Only this instance: a newer one cached under the same key after an eviction stays.
  if (entry.instances.get(key) === instance) entry.instances.delete(key);
}

/**
 * Makes `backend.dispose()` evict the instance from the cache before it frees anything, so the
 * next `getBackend` / `resolveBackend` creates a fresh backend instead of handing out the
 * disposed one. Every holder shares the instance: disposing it disposes it for all of them.
 */
function evictOnDispose(backend: Backend, evict: () => void): Backend {
  const dispose = backend.dispose.bind(backend);
  backend.dispose = () => {
    evict();
    return dispose();
  };
  return backend;
}

/**
 * The first backend of `preferred` (default: every registered backend by priority) that
 * initialises. Unknown names and failed initialisations are recorded and skipped; if none
 * works, a BackendUnavailableError lists every attempt.
 */
export async function resolveBackend(preferred?: BackendChoice | readonly BackendChoice[]): Promise<Backend> {
  const list = preferred === undefined ? listBackends().map((b) => b.name) : Array.isArray(preferred) ? preferred : [preferred as BackendChoice];
  const attempts: BackendAttempt[] = [];
  for (const choice of list) {
    const { name } = normalise(choice);
    try {
      return await getBackend(choice);
    } catch (err) {
      attempts.push({ name, reason: errorMessage(err) });
    }
  }
  throw new BackendUnavailableError(attempts);
}

/** Disposes every initialised backend instance and forgets them (registrations stay). */
export async function disposeAllBackends(): Promise<void> {
  const all: Promise<Backend>[] = [];
  for (const entry of backends.values()) {
    all.push(...entry.instances.values());
    entry.instances.clear();
  }
  const settled = await Promise.allSettled(all);
  await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? s.value.dispose() : undefined)));
}
