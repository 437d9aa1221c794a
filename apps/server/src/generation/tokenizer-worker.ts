/**
 * A model's prompt tokenizer thread (a worker_threads entry, run from dist/): prompts are
 * tokenized here, one at a time, so a long one never holds the generation worker's loop, where
 * every running stream of the model takes its steps.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ModelTokenizer } from '@moe-runtime/model';
import { encodePrompt } from './encode-prompt.js';
import type { TokenizeRequest, TokenizeResult, TokenizerInit } from './tokenizer-protocol.js';

const port = parentPort;
if (!port) throw new Error('tokenizer-worker.js must run as a worker thread');
const init = workerData as TokenizerInit;
const tokenizer = ModelTokenizer.fromJson(init.tokenizer, init.config);

port.on('message', (msg: TokenizeRequest) => {
  let reply: TokenizeResult;
  try {
    const ids = Int32Array.from(encodePrompt(tokenizer, msg.prompt));
    reply = { type: 'encoded', id: msg.id, ids };
    port.postMessage(reply, [ids.buffer]);
  } catch (err) {
    reply = { type: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) };
    port.postMessage(reply);
  }
});
