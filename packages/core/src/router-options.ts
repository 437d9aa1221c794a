/**
 * Validation of a router's JSON options: each router declares its options once; unknown keys,
 * wrong types and out-of-range values become ConfigErrors naming `router.options.<key>`.
 */
import { ConfigError } from './errors.js';

/** Declaration of one option. */
export type OptionSpec =
  | { readonly type: 'number'; readonly default?: number; readonly min?: number; readonly max?: number; readonly exclusiveMin?: boolean; readonly description?: string }
  | { readonly type: 'integer'; readonly default?: number; readonly min?: number; readonly max?: number; readonly description?: string }
  | { readonly type: 'boolean'; readonly default?: boolean; readonly description?: string }
  | { readonly type: 'number[]'; readonly default?: readonly number[]; readonly description?: string }
  | { readonly type: 'string'; readonly default?: string; readonly values?: readonly string[]; readonly description?: string };

/** Declarations of all options of a router. */
export type OptionsSchema = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S extends { type: 'number' | 'integer' }
  ? number
  : S extends { type: 'boolean' }
    ? boolean
    : S extends { type: 'number[]' }
      ? readonly number[]
      : string;

/** Parsed options: declared keys with a default are always present. */
export type ParsedOptions<S extends OptionsSchema> = {
  -readonly [K in keyof S]: S[K] extends { default: unknown } ? ValueOf<S[K]> : ValueOf<S[K]> | undefined;
};

function fail(router: string, key: string, message: string): never {
  throw new ConfigError(`router.options.${key}`, `${message} (router '${router}')`);
}

function parseOne(router: string, key: string, spec: OptionSpec, value: unknown): unknown {
  switch (spec.type) {
    case 'number':
    case 'integer': {
      if (typeof value !== 'number' || !Number.isFinite(value)) fail(router, key, `expected a finite number, got ${JSON.stringify(value)}`);
      if (spec.type === 'integer' && !Number.isInteger(value)) fail(router, key, `expected an integer, got ${value}`);
      if (spec.min !== undefined) {
        const exclusive = spec.type === 'number' && spec.exclusiveMin;
        if (exclusive ? value <= spec.min : value < spec.min) fail(router, key, `expected ${exclusive ? '>' : '>='} ${spec.min}, got ${value}`);
      }
      if (spec.max !== undefined && value > spec.max) fail(router, key, `expected <= ${spec.max}, got ${value}`);
      return value;
    }
    case 'boolean':
      if (typeof value !== 'boolean') fail(router, key, `expected true or false, got ${JSON.stringify(value)}`);
      return value;
    case 'number[]':
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
        fail(router, key, 'expected an array of finite numbers');
      }
      return value;
    case 'string':
      if (typeof value !== 'string') fail(router, key, `expected a string, got ${JSON.stringify(value)}`);
      if (spec.values && !spec.values.includes(value)) fail(router, key, `expected one of ${spec.values.join(', ')}, got '${value}'`);
      return value;
  }
}

/** Validates `options` against `schema`, filling defaults; unknown keys are errors. */
export function parseRouterOptions<S extends OptionsSchema>(router: string, schema: S, options: Readonly<Record<string, unknown>> | undefined): ParsedOptions<S> {
  const given = options ?? {};
  for (const key of Object.keys(given)) {
    if (!(key in schema)) {
      const known = Object.keys(schema);
      fail(router, key, `unknown option; '${router}' accepts ${known.length ? known.join(', ') : 'no options'}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const value = given[key];
    out[key] = value === undefined ? spec.default : parseOne(router, key, spec, value);
  }
  return out as ParsedOptions<S>;
}
