import { describe, expect, it } from 'vitest';
import { ConfigError, parseBackendSpec } from '../src/index.js';

describe('parseBackendSpec', () => {
  it('reads a name alone, and options as JSON where they parse', () => {
    expect(parseBackendSpec('cpu')).toBe('cpu');
    expect(parseBackendSpec('cpu:threads=1:activations=q8:simd=true')).toEqual({ name: 'cpu', options: { threads: 1, activations: 'q8', simd: true } });
    expect(parseBackendSpec('onnx:expertGraph=grouped')).toEqual({ name: 'onnx', options: { expertGraph: 'grouped' } });
  });

  it('refuses a malformed spec with a ConfigError naming the field', () => {
    expect(() => parseBackendSpec(':threads=1', 'engines')).toThrow(ConfigError);
    expect(() => parseBackendSpec(':threads=1', 'engines')).toThrow(/engines.*expected a backend name/);
    expect(() => parseBackendSpec('cpu:threads', 'engines')).toThrow(/engines.*expected key=value after 'cpu:', got 'threads'/);
    expect(() => parseBackendSpec('cpu:=1')).toThrow(/backends/);
  });
});
