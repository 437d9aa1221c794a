import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, resolveScheme } from '@moe-runtime/core';
import { describe, expect, it } from 'vitest';
import {
  ARCHITECTURES,
  architectureOf,
  findArchitecture,
  findGgufArchitecture,
  GGUF_ARCHITECTURE_FACTS,
  GGUF_ARCHITECTURES,
  HfConfigReader,
  MODEL_TYPES,
  modelMetadata,
  moeScheme,
  parseModelConfig,
  randomModelWeights,
  tinyConfigJson,
  type Architecture,
} from '../src/index.js';

const FOLDER = join(import.meta.dirname, '../src/architectures');

describe('the architecture registry', () => {
  it('lists one module per folder under src/architectures, each found by model_type and GGUF architecture', async () => {
    const folders = (await readdir(FOLDER, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    expect([...folders].sort()).toEqual([...MODEL_TYPES].sort());
    expect(MODEL_TYPES).toEqual(ARCHITECTURES.map((a) => a.modelType));
    expect(new Set(MODEL_TYPES).size).toBe(MODEL_TYPES.length);
    expect(new Set(GGUF_ARCHITECTURES).size).toBe(GGUF_ARCHITECTURES.length);
    for (const a of ARCHITECTURES) {
      expect(findArchitecture(a.modelType)).toBe(a);
      expect(architectureOf(a.modelType)).toBe(a);
      expect(findGgufArchitecture(a.gguf.architecture)).toBe(a);
      expect(GGUF_ARCHITECTURE_FACTS[a.gguf.architecture].modelType).toBe(a.modelType);
    }
    expect(findArchitecture('gpt_neox')).toBeUndefined();
    expect(findGgufArchitecture('gptneox')).toBeUndefined();
  });

  it('refuses an unknown model type, naming model_type and the registered ones', () => {
    expect(() => parseModelConfig({ ...tinyConfigJson(), model_type: 'jetmoe' })).toThrow(ConfigError);
    expect(() => parseModelConfig({ ...tinyConfigJson(), model_type: 'jetmoe' })).toThrow(`config.json: model_type: expected one of ${MODEL_TYPES.join(', ')}, got "jetmoe"`);
  });

  describe.each(ARCHITECTURES.map((a) => [a.modelType, a] as const))('%s module', (type, a: Architecture) => {
    it('is complete: block, Hugging Face config rules, GGUF facts and tensor names', () => {
      expect(a.modelling).toMatch(/^modeling_/);
      const b = a.block;
      expect(b.norm).toBe('rms');
      expect(['causal-gqa', 'causal-gqa-sinks', 'latent']).toContain(b.attention);
      expect(['rotate-half', 'interleaved']).toContain(b.rotary);
      expect(['moe', 'leading-dense-then-moe']).toContain(b.feedForward);
      expect(['none', 'per-head', 'full']).toContain(b.qkNorm);
      expect(['none', 'sigmoid-gated', 'ungated']).toContain(b.sharedExpert);
      expect(['always', 'norm_topk_prob']).toContain(b.routerNormalisation);
      expect(a.hf.className).toMatch(/ForCausalLM$/);
      expect(a.hf.defaults.rmsNormEps).toBeGreaterThan(0);
      expect(a.hf.defaults.ropeTheta).toBeGreaterThan(0);
      expect(a.gguf.architecture.length).toBeGreaterThan(0);
      // The MoE naming scheme is one core knows, and the names are functions of the layer.
      // (unless the module gives its own layout of the MoE tensors).
      if (!a.names.hfMoe) expect(() => resolveScheme(a.names.hfMoeScheme)).not.toThrow();
      expect(moeScheme(type)).toBe(a.names.hfMoeScheme);
      expect(a.names.hf.layerPrefix(3)).toContain('3');
      expect(a.names.gguf.block(3)).toContain('3');
    });

    it('parses its own tiny config.json into a config that follows its block', () => {
      const json = tinyConfigJson({ modelType: type, numExperts: 6, ffnSize: 40, hiddenSize: 32, numHeads: 2 });
      expect(json.architectures).toEqual([a.hf.className]);
      const c = parseModelConfig(json);
      expect(c.modelType).toBe(type);
      expect(c.qkvBias).toBe(a.block.qkvBias);
      expect(c.qkNorm).toBe(a.block.qkNorm);
      expect(c.moe.numExperts).toBe(6);
      expect(c.moe.expert.ffnSize).toBe(40);
      expect(c.moe.sharedExperts !== undefined).toBe(a.block.sharedExpert !== 'none');
      expect(c.moe.sharedExperts?.gated ?? false).toBe(a.block.sharedExpert === 'sigmoid-gated');
      // The module's own MoE parsing gives what parseModelConfig returns.
      expect(a.hf.moe(new HfConfigReader(json, 'config.json'), 32)).toEqual(c.moe);
      // DeepSeek's softmax-group-topk router says normTopkProb (its routed_scaling_factor then 1).
      if (c.moe.router.name === 'softmax-group-topk') expect(parseModelConfig({ ...json, norm_topk_prob: true }).moe.router.options).toMatchObject({ normTopkProb: true, routedScalingFactor: 1 });
      else if (a.block.routerNormalisation === 'always') expect(parseModelConfig({ ...json, norm_topk_prob: false }).moe.router.options).toEqual({ renormalize: true });
      else expect(parseModelConfig({ ...json, norm_topk_prob: true }).moe.router.options).toEqual({ renormalize: true });
      // The expert count key is the one an error names.
      expect(() => parseModelConfig({ ...json, num_experts_per_tok: 7 })).toThrow(`expected at most ${a.hf.expertCountKey} (6), got 7`);
    });

    it('exports GGUF metadata under its architecture', () => {
      const c = parseModelConfig(tinyConfigJson({ modelType: type }));
      const meta = modelMetadata(c);
      expect(meta.get('general.architecture')).toEqual({ type: 'string', value: a.gguf.architecture });
      expect(meta.get(`${a.gguf.architecture}.expert_count`)).toEqual({ type: 'u32', value: c.moe.numExperts });
      if (a.gguf.expertWidthKey) expect(meta.get(`${a.gguf.architecture}.${a.gguf.expertWidthKey}`)).toEqual({ type: 'u32', value: c.moe.expert.ffnSize });
      const w = randomModelWeights(c, 3);
      expect(w.layers[0].attention.qNorm !== undefined).toBe(a.block.qkNorm !== 'none');
      expect(w.layers[0].attention.qBias !== undefined).toBe(a.block.qkvBias);
    });
  });
});
