import { describe, expect, it } from 'vitest';
import { HostTensor, randomWeights, ResidentBytes } from '../src/index.js';

describe('ResidentBytes', () => {
  const memory = new ResidentBytes((dtype) => (dtype === 'float16' ? 2 : dtype === 'q8_0' ? 5 : 7), 1 << 30);

  it('sizes a weight by its format and counts each handle until its first dispose', () => {
    expect(memory.residentBytesFor('float16', [3, 64])).toBe(384);
    expect(memory.residentBytesFor('q8_0', [2, 64])).toBe(640);
    expect(memory.residentBytesFor('float32', [5])).toBe(35);
    expect(memory.limitBytes).toBe(1 << 30);
    const w = randomWeights({ hiddenSize: 64, numExperts: 3, topK: 2, expert: { kind: 'swiglu', ffnSize: 32 }, router: { name: 'topk' } }, { seed: 9 });
    const group = { kind: 'swiglu' as const, hiddenSize: 64, ffnSize: 32, experts: w.experts };
    const bytes = memory.groupBytes(group);
    expect(bytes).toBe(3 * 3 * 64 * 32 * 7);
    let disposed = 0;
    const a = memory.track({ dispose: () => void disposed++ }, bytes);
    const b = memory.track({ dispose: () => void disposed++ }, memory.linearBytes({ weight: HostTensor.float32([4, 64]) }));
    expect(memory.residentBytes).toBe(bytes + 4 * 64 * 7);
    a.dispose();
    a.dispose();
    expect(memory.residentBytes).toBe(4 * 64 * 7);
    b.dispose();
    expect(memory.residentBytes).toBe(0);
    expect(disposed).toBe(3);
  });
});
