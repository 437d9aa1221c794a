/**
 * Typed reads of a Hugging Face `config.json` object: each bad value is a ConfigError naming
 * `<file>: <key>` and the value expected. What every architecture module parses its keys with.
 */
import { ConfigError } from '@moe-runtime/core';

/** A parsed `config.json` object and the file it came from (named in errors). */
export class HfConfigReader {
  constructor(
    readonly json: Readonly<Record<string, unknown>>,
    readonly file: string,
  ) {}

  /** The raw value of `key` (undefined when absent). */
  value(key: string): unknown {
    return this.json[key];
  }

  /** A ConfigError naming `<file>: <key>`. */
  error(key: string, why: string): ConfigError {
    return new ConfigError(`${this.file}: ${key}`, why);
  }

  /** A positive integer (or `fallback` when absent). */
  int(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw this.error(key, `expected a positive integer, got ${JSON.stringify(this.json[key])}`);
    return v;
  }

  /** A positive finite number (or `fallback` when absent). */
  num(key: string, fallback: number): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw this.error(key, `expected a positive number, got ${JSON.stringify(this.json[key])}`);
    return v;
  }

  /** A boolean, `fallback` when absent or not a boolean (as the config classes treat it). */
  bool(key: string, fallback: boolean): boolean {
    const v = this.json[key];
    return typeof v === 'boolean' ? v : fallback;
  }
}
