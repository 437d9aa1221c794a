/**
 * Interoperability with the reference implementation: `fixtures/reference-written.safetensors`
 * was written by Hugging Face's safetensors 0.8.0 (Python `serialize`), and
 * `reference-written.json` holds the values it encodes as float32, decoded by numpy and
 * ml_dtypes (for bfloat16 and the 8-bit floats). Files this package writes were checked the
 * other way (read by safetensors 0.8.0 `deserialize`) when the fixture was made.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeFloat8E4M3, decodeFloat8E5M2, parseSafetensors } from '../src/index.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const expected = JSON.parse(fixture('reference-written.json').toString('utf8')) as Record<string, (number | string | null)[]>;

function asNumbers(values: (number | string | null)[]): number[] {
  return values.map((v) => (v === null ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number)));
}

describe('files written by the reference implementation', () => {
  const file = parseSafetensors(fixture('reference-written.safetensors'), 'reference-written.safetensors');

  it('reads the header and metadata', () => {
    expect(file.metadata).toEqual({ format: 'pt', writer: 'safetensors 0.8.0 (Python)' });
    expect(file.names().sort()).toEqual(['model.bf16', 'model.e4m3', 'model.e5m2', 'model.f16', 'model.f32', 'model.f64', 'model.ids']);
    expect(file.info('model.e4m3')).toMatchObject({ dtype: 'F8_E4M3', shape: [16, 16] });
  });

  it.each(['model.f64', 'model.f32', 'model.f16', 'model.bf16', 'model.e4m3', 'model.e5m2'])('decodes %s to the values numpy / ml_dtypes give', (name) => {
    const got = Array.from(file.get(name).toFloat32());
    expect(got).toEqual(asNumbers(expected[name])); // toEqual treats NaN as equal to NaN
  });

  it('keeps F16 and BF16 compact', () => {
    expect(file.get('model.f16').dtype).toBe('float16');
    expect(file.get('model.bf16').dtype).toBe('bfloat16');
  });

  it('the 8-bit decoders match ml_dtypes on all 256 codes', () => {
    const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(Array.from(decodeFloat8E4M3(codes))).toEqual(asNumbers(expected['model.e4m3']));
    expect(Array.from(decodeFloat8E5M2(codes))).toEqual(asNumbers(expected['model.e5m2']));
  });

  it('refuses the integer tensor only when it is read', () => {
    expect(() => file.get('model.ids')).toThrow(/tensor 'model\.ids' has dtype I64/);
  });
});
