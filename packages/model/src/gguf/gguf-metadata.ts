/**
 * Typed access to a GGUF file's metadata: every value is checked against the GGUF value type
 * the key needs (an integer key stored as a string or a float, a string list stored as
 * numbers, ...), and a wrong or missing value is a {@link GgufError} naming the file and key.
 */
import { GgufError } from '@moe-runtime/core';

/** GGUF metadata value types (the file format's numbering). */
export const GGUF_VALUE_TYPES = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

const T = GGUF_VALUE_TYPES;
const INTEGER_TYPES: ReadonlySet<number> = new Set([T.u8, T.i8, T.u16, T.i16, T.u32, T.i32, T.u64, T.i64]);
const FLOAT_TYPES: ReadonlySet<number> = new Set([T.f32, T.f64]);
const TYPE_NAMES: readonly string[] = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'];

/** One metadata entry as the parser reports it. */
export interface GgufMetadataEntry {
  readonly value: unknown;
  readonly type: number;
  /** Element type of an array. */
  readonly subType?: number;
}

function typeName(e: GgufMetadataEntry): string {
  const base = TYPE_NAMES[e.type] ?? `type ${e.type}`;
  return e.type === T.array ? `array of ${TYPE_NAMES[e.subType ?? -1] ?? 'unknown'}` : base;
}

function shown(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  const s = typeof v === 'bigint' ? `${v}` : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** The metadata of one GGUF file (of the first shard, for split files). */
export class GgufMetadata {
  constructor(
    /** Names the file in messages. */
    readonly file: string,
    private readonly entries: ReadonlyMap<string, GgufMetadataEntry>,
  ) {}

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Every key, in file order. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  private wrong(key: string, expected: string): GgufError {
    const e = this.entries.get(key);
    return new GgufError(this.file, key, e ? `expected ${expected}, got ${typeName(e)} ${shown(e.value)}` : `missing; expected ${expected}`);
  }

  private entry(key: string, expected: string): GgufMetadataEntry {
    const e = this.entries.get(key);
    if (!e) throw this.wrong(key, expected);
    return e;
  }

  /** A non-negative integer of any GGUF integer type (64-bit values must be safe integers). */
  uint(key: string, fallback?: number): number {
    if (!this.has(key) && fallback !== undefined) return fallback;
    const e = this.entry(key, 'an unsigned integer');
    const v = typeof e.value === 'bigint' && e.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(e.value) : e.value;
    if (!INTEGER_TYPES.has(e.type) || typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw this.wrong(key, 'an unsigned integer');
    return v;
  }

  /** A finite number stored as f32 or f64. */
  float(key: string, fallback?: number): number {
    if (!this.has(key) && fallback !== undefined) return fallback;
    const e = this.entry(key, 'a float (f32 or f64)');
    if (!FLOAT_TYPES.has(e.type) || typeof e.value !== 'number' || !Number.isFinite(e.value)) throw this.wrong(key, 'a float (f32 or f64)');
    return e.value;
  }

  bool(key: string, fallback?: boolean): boolean {
    if (!this.has(key) && fallback !== undefined) return fallback;
    const e = this.entry(key, 'a bool');
    if (e.type !== T.bool || typeof e.value !== 'boolean') throw this.wrong(key, 'a bool');
    return e.value;
  }

  string(key: string, fallback?: string): string {
    if (!this.has(key) && fallback !== undefined) return fallback;
    const e = this.entry(key, 'a string');
    if (e.type !== T.string || typeof e.value !== 'string') throw this.wrong(key, 'a string');
    return e.value;
  }

  /** An array of strings. */
  strings(key: string): string[] {
    const e = this.entry(key, 'an array of strings');
    if (e.type !== T.array || e.subType !== T.string || !Array.isArray(e.value)) throw this.wrong(key, 'an array of strings');
    return e.value as string[];
  }

  /** An array of numbers (integer or float elements, as `kind` says). */
  numbers(key: string, kind: 'integer' | 'float' | 'number'): number[] {
    const expected = `an array of ${kind === 'number' ? 'numbers' : `${kind}s`}`;
    const e = this.entry(key, expected);
    const sub = e.subType ?? -1;
    const ok = kind === 'integer' ? INTEGER_TYPES.has(sub) : kind === 'float' ? FLOAT_TYPES.has(sub) : INTEGER_TYPES.has(sub) || FLOAT_TYPES.has(sub);
    if (e.type !== T.array || !ok || !Array.isArray(e.value)) throw this.wrong(key, expected);
    return (e.value as unknown[]).map((x) => (typeof x === 'bigint' ? Number(x) : (x as number)));
  }

  /**
   * A per-layer integer: llama.cpp accepts one value for every layer or an array with one per
   * layer; this runtime needs one value, so an array must hold a single repeated value.
   */
  uniformUint(key: string, layers: number, fallback?: number): number {
    const e = this.entries.get(key);
    if (e?.type !== T.array) return this.uint(key, fallback);
    const values = this.numbers(key, 'integer');
    if (values.length !== layers || values.some((v) => v !== values[0])) {
      throw new GgufError(this.file, key, `expected one value for every layer (per-layer values that differ are not supported), got [${values.slice(0, 8).join(', ')}${values.length > 8 ? ', ...' : ''}]`);
    }
    return values[0];
  }
}
