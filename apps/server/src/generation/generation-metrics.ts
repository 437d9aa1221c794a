/**
 * Prometheus metrics of text generation, in the server's registry: requests by model and
 * status, prompt and generated tokens, time to first token (queue wait included: what the
 * caller sees), decode speed, queue depth.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { GenerationDone } from './generation-protocol.js';

/** The generation metrics. */
export class GenerationMetrics {
  readonly requests: Counter<'model' | 'status'>;
  readonly promptTokens: Counter<'model'>;
  readonly generatedTokens: Counter<'model'>;
  readonly timeToFirstToken: Histogram<'model'>;
  readonly decodeTokensPerSecond: Histogram<'model'>;
  readonly queueDepth: Gauge<'model'>;
  readonly batchSteps: Counter<'model'>;
  readonly batchSequences: Counter<'model'>;
  readonly batchRows: Counter<'model'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'moe_generation_requests_total',
      help: 'Generation requests by model and status (ok, invalid, error, timeout, client_gone, queue_full)',
      labelNames: ['model', 'status'],
      registers,
    });
    this.promptTokens = new Counter({ name: 'moe_prompt_tokens_total', help: 'Prompt tokens prefilled, per model', labelNames: ['model'], registers });
    this.generatedTokens = new Counter({ name: 'moe_generated_tokens_total', help: 'Tokens generated, counted as they are made (generations cut by a timeout or a hang-up included), per model', labelNames: ['model'], registers });
    this.timeToFirstToken = new Histogram({
      name: 'moe_time_to_first_token_seconds',
      help: 'From the request entering the queue to the first generated token (queue wait + prefill + first sample)',
      labelNames: ['model'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.decodeTokensPerSecond = new Histogram({
      name: 'moe_decode_tokens_per_second',
      help: 'Decode speed of each finished generation (tokens after the first, per second)',
      labelNames: ['model'],
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
      registers,
    });
    this.queueDepth = new Gauge({ name: 'moe_generation_queue_depth', help: 'Generations waiting to start, per model', labelNames: ['model'], registers });
    // Continuous batching: sequences_total / steps_total is the mean batch of a forward pass.
    this.batchSteps = new Counter({ name: 'moe_generation_steps_total', help: 'Forward passes of the continuous batcher, per model', labelNames: ['model'], registers });
    this.batchSequences = new Counter({ name: 'moe_generation_step_sequences_total', help: 'Sequences summed over forward passes (divide by moe_generation_steps_total for the mean batch)', labelNames: ['model'], registers });
    this.batchRows = new Counter({ name: 'moe_generation_step_rows_total', help: 'Tokens fed by forward passes (decode tokens and prompt chunks), per model', labelNames: ['model'], registers });
  }

  /** Declares a model so its series exist (at 0) before traffic. */
  addModel(model: string): void {
    this.promptTokens.inc({ model }, 0);
    this.generatedTokens.inc({ model }, 0);
    this.queueDepth.set({ model }, 0);
    for (const c of [this.batchSteps, this.batchSequences, this.batchRows]) c.inc({ model }, 0);
  }

  /** A generation finished. */
  observeDone(model: string, done: GenerationDone, queueMs: number): void {
    if (done.completionTokens > 0) this.timeToFirstToken.observe({ model }, (queueMs + done.timeToFirstTokenMs) / 1000);
    if (done.completionTokens > 1) this.decodeTokensPerSecond.observe({ model }, done.decodeTokensPerSecond);
    this.batchSteps.inc({ model }, done.batch.steps);
    this.batchSequences.inc({ model }, done.batch.sequences);
    this.batchRows.inc({ model }, done.batch.rows);
  }
}
