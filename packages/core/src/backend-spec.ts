/**
 * Command-line spelling of a backend choice, shared by every CLI that takes one (the benchmark
 * harness, the model benchmarks): `name` or `name:key=value[:key=value...]`.
 */
import type { BackendChoice } from './backend-registry.js';
import { ConfigError } from './errors.js';

function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Parses a command-line backend spec: `name` or `name:key=value[:key=value...]`, where a value
 * is JSON when it parses as JSON (numbers, booleans) and a string otherwise, e.g.
 * `tfjs:engine=cpu`, `cpu:threads=1`. Throws a ConfigError naming `field` for a malformed spec.
 */
export function parseBackendSpec(spec: string, field = 'backends'): BackendChoice {
  const [name, ...pairs] = spec.split(':');
  if (!name) throw new ConfigError(field, `expected a backend name in '${spec}'`);
  if (pairs.length === 0) return name;
  const options: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(field, `expected key=value after '${name}:', got '${pair}' in '${spec}'`);
    options[pair.slice(0, eq)] = parseValue(pair.slice(eq + 1));
  }
  return { name, options };
}
