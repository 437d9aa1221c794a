/**
 * Finding and loading scenario files (`benchmarks/*.json`), and the embedded quick scenario the
 * CLI runs when given no arguments. Files are validated whole before anything runs.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@moe-runtime/core';
import { parseScenario, type Scenario } from './scenario.js';

/** A scenario file that failed validation: names the file and the field. */
export class ScenarioFileError extends ConfigError {
  /** The file that failed. */
  readonly file: string;

  constructor(file: string, field: string, message: string) {
    super(field, message);
    this.file = file;
    this.message = `${file}: ${field}: ${message}`;
  }
}

/** The repository's `benchmarks/` folder (next to `apps/`), where the shipped scenarios live. */
export function defaultScenarioDir(): string {
  return fileURLToPath(new URL('../../../benchmarks/', import.meta.url));
}

/**
 * The embedded quick scenario (`moe-bench` with no arguments): Mixtral-shaped, T = 1 and 16,
 * few repeats, so a cross-backend run takes a minute or two on a 2-core machine.
 */
export const QUICK_SCENARIO_JSON = {
  name: 'quick',
  description: 'mixtral-mini at T=1,16 with few repeats: the default run',
  layer: {
    hiddenSize: 1024,
    numExperts: 8,
    topK: 2,
    expert: { kind: 'swiglu', ffnSize: 3584 },
    router: { name: 'topk-softmax' },
  },
  weightDtype: 'float32',
  tokens: [1, 16],
  seed: 1,
  warmup: 1,
  repeats: 3,
  budgetSeconds: 10,
  referenceRows: 16,
} as const;

/** Parses a scenario from JSON text; errors name `file` and the field. */
export function parseScenarioText(file: string, text: string, knownBackends?: readonly string[]): Scenario {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ScenarioFileError(file, '(json)', `invalid JSON: ${(err as Error).message}`);
  }
  try {
    return parseScenario(value, { defaultName: basename(file, extname(file)), knownBackends });
  } catch (err) {
    if (err instanceof ConfigError) throw new ScenarioFileError(file, err.field, err.message.slice(err.field.length + 2));
    throw err;
  }
}

/** Loads and validates one scenario file. */
export function loadScenarioFile(file: string, knownBackends?: readonly string[]): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ScenarioFileError(file, '(file)', `cannot read: ${(err as Error).message}`);
  }
  return parseScenarioText(file, text, knownBackends);
}

/** The `*.json` scenario files directly inside `dir`, sorted by name. */
export function scenarioFilesIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new ConfigError('scenarioDir', `cannot read scenario folder ${dir}: ${(err as Error).message}`);
  }
  return names
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map((n) => join(dir, n))
    .filter((p) => statSync(p).isFile());
}

/**
 * Resolves the scenario arguments of the CLI: a path to a `.json` file, or a name looked up as
 * `<dir>/<name>.json`. Every file is validated before any is run; names must be unique.
 */
export function resolveScenarios(args: readonly string[], dir: string, knownBackends?: readonly string[]): Scenario[] {
  const out = args.map((arg) => {
    const file = arg.endsWith('.json') ? resolve(arg) : join(dir, `${arg}.json`);
    if (!arg.endsWith('.json')) {
      const available = scenarioFilesIn(dir).map((f) => basename(f, '.json'));
      if (!available.includes(arg)) {
        throw new ConfigError('scenario', `unknown scenario '${arg}'; ${dir} has ${available.map((n) => `'${n}'`).join(', ') || '(none)'}`);
      }
    }
    return loadScenarioFile(file, knownBackends);
  });
  const seen = new Set<string>();
  for (const s of out) {
    if (seen.has(s.name)) throw new ConfigError('scenario', `scenario name '${s.name}' is given twice`);
    seen.add(s.name);
  }
  return out;
}
