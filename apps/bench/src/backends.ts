/**
 * Backend discovery: the harness imports every backend package it depends on (core's
 * BACKEND_PACKAGES; each registers itself in core's registry when imported), then works only through the registry
 * (`listBackends`, `getBackend`). A package that is missing or fails to import, and a backend
 * that fails to initialise, are reported as skipped with the reason; they never stop a run.
 */
import { ConfigError, errorMessage, getBackend, listBackends, loadBackendPackages, type Backend, type BackendChoice, type BackendOptions, type BackendPackageLoad } from '@moe-runtime/core';

/**
 * Imports the package of each backend (default: every one in core's BACKEND_PACKAGES, all of
 * which this harness depends on), from this package. Never throws: an absent or broken package
 * comes back with its status and reason.
 */
export function loadBackends(names?: readonly string[]): Promise<BackendPackageLoad[]> {
  return loadBackendPackages((specifier) => import(specifier), names);
}

/** A backend that will not be benchmarked, and why. */
export interface SkippedBackend {
  /** Backend name (or package name when the package did not import). */
  readonly backend: string;
  readonly reason: string;
}

/** Imports extra modules (`--plugin`), e.g. ones that register a custom router or backend. */
export async function loadPlugins(specifiers: readonly string[]): Promise<void> {
  for (const spec of specifiers) {
    try {
      await import(spec);
    } catch (err) {
      throw new ConfigError('plugin', `cannot import '${spec}': ${firstLine(errorMessage(err))}`);
    }
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

/** Name of a backend choice. */
export function choiceName(choice: BackendChoice): string {
  return typeof choice === 'string' ? choice : choice.name;
}

/** Options of a backend choice ({} when none). */
export function choiceOptions(choice: BackendChoice): BackendOptions {
  return typeof choice === 'string' ? {} : (choice.options ?? {});
}

/** A label that tells two choices of one backend apart, e.g. `tfjs` or `tfjs{engine=cpu}`. */
export function choiceLabel(choice: BackendChoice): string {
  const opts = Object.entries(choiceOptions(choice));
  return opts.length ? `${choiceName(choice)}{${opts.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(',')}}` : choiceName(choice);
}

/** The backend spec parser lives in core (every CLI shares it); re-exported for this package's API. */
export { parseBackendSpec } from '@moe-runtime/core';

/** Registered backend names, most preferred first. */
export function registeredBackendNames(): string[] {
  return listBackends().map((b) => b.name);
}

/** Checks that every choice names a registered backend (ConfigError naming `field[i]`). */
export function checkKnownBackends(choices: readonly BackendChoice[], field: string): void {
  const known = registeredBackendNames();
  choices.forEach((c, i) => {
    if (!known.includes(choiceName(c))) {
      throw new ConfigError(`${field}[${i}]`, `unknown backend '${choiceName(c)}'; registered: ${known.map((n) => `'${n}'`).join(', ') || '(none)'}`);
    }
  });
}

/** A backend that initialised, with the choice that made it. */
export interface ReadyBackend {
  readonly choice: BackendChoice;
  readonly label: string;
  readonly backend: Backend;
}

/** Initialises each choice through the registry; failures become skipped entries. */
export async function initBackends(choices: readonly BackendChoice[]): Promise<{ ready: ReadyBackend[]; skipped: SkippedBackend[] }> {
  const ready: ReadyBackend[] = [];
  const skipped: SkippedBackend[] = [];
  for (const choice of choices) {
    const label = choiceLabel(choice);
    try {
      ready.push({ choice, label, backend: await getBackend(choice) });
    } catch (err) {
      skipped.push({ backend: label, reason: `failed to initialise: ${firstLine(errorMessage(err))}` });
    }
  }
  return { ready, skipped };
}
