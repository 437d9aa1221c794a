/**
 * Streaming detokenization with a bounded look-back: each new token decodes only a short
 * window of recent tokens, not the whole generation again. The window starts at an earlier
 * point where the text was emitted whole, so its decode begins with text already sent: what
 * follows that is new. Decoding from such a point handles the two ways a token's text depends
 * on its neighbours: a UTF-8 character split over byte tokens (a decode that ends in U+FFFD
 * waits for the next token) and the SentencePiece leading space a decoder strips from the
 * start of a text (the window starts one emission back, so the space under test is never at
 * the start of what is decoded, unless it is at the start of the generation too).
 */
import type { ModelTokenizer } from './tokenizer.js';

/** Streamed text must only grow as tokens arrive, so the space clean-up stays off (see decode). */
const STREAM_DECODE = { cleanUpSpaces: false } as const;

/**
 * Tokens after the last emission that may wait for a character to complete (one spans at most
 * 4 byte tokens). Past this the text is released as it decodes, U+FFFD included: a run this
 * long is invalid UTF-8, or tokens that each end inside a character; in the second case the
 * stream can differ from the full decode at that point. This bounds the look-back.
 */
export const MAX_PENDING_TOKENS = 16;

/** Emission points kept for the look-back (a window must start where its decode is non-empty). */
const KEPT_POINTS = 8;

/** Turns a stream of token ids into a stream of text, as the full decode would read. */
export class TokenTextStream {
  /** Token ids from the window's start on. */
  private window: number[] = [];
  /** Offsets in `window` where text was emitted whole (ascending; the first is the window start). */
  private points: number[] = [0];
  /** Offset in `window` up to which text was emitted. */
  private read = 0;
  /** The decode of `window[0, read)`: what the window's decode starts with. */
  private sent = '';

  constructor(private readonly tokenizer: ModelTokenizer) {}

  /** Adds a token; returns the text it completes ('' while a character or a stop is pending). */
  push(id: number): string {
    this.window.push(id);
    const text = this.tokenizer.decode(this.window, STREAM_DECODE);
    if (text.endsWith('\uFFFD') && this.window.length - this.read < MAX_PENDING_TOKENS) return '';
    return this.emit(text);
  }

  /** The text still held back (an unfinished character at the end of the generation). */
  flush(): string {
    if (this.read === this.window.length) return '';
    return this.emit(this.tokenizer.decode(this.window, STREAM_DECODE));
  }

  private emit(text: string): string {
    const delta = text.startsWith(this.sent) ? text.slice(this.sent.length) : text.slice(commonPrefix(text, this.sent));
    this.read = this.window.length;
    this.points.push(this.read);
    this.moveWindow();
    return delta;
  }

  /**
   * Starts the window at the previous emission point, or further back while the window's
   * start would decode to nothing (special tokens): then the decoder would strip a leading
   * space there that the full text keeps.
   */
  private moveWindow(): void {
    let k = this.points.length - 2;
    let sent = this.tokenizer.decode(this.window.slice(this.points[k], this.read), STREAM_DECODE);
    while (sent === '' && k > 0) sent = this.tokenizer.decode(this.window.slice(this.points[--k], this.read), STREAM_DECODE);
    // Bounded: past KEPT_POINTS emissions back, accept a window that starts with nothing.
    const start = this.points[Math.max(k, this.points.length - KEPT_POINTS, 0)];
    if (start !== this.points[k]) sent = this.tokenizer.decode(this.window.slice(start, this.read), STREAM_DECODE);
    this.window = this.window.slice(start);
    this.points = this.points.filter((p) => p >= start).map((p) => p - start);
    this.read -= start;
    this.sent = sent;
  }
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
