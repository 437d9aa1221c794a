/** Terminal colours (picocolors), switched on per output stream. */
import pc from 'picocolors';

/** A picocolors palette (every function is the identity when colours are off). */
export type Colors = ReturnType<typeof pc.createColors>;

/**
 * Colours for a stream: on for a TTY unless NO_COLOR is set, or when FORCE_COLOR is set
 * (picocolors' own rules, applied to the stream we actually write to).
 */
export function colorsFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Colors {
  const forced = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0';
  const enabled = forced || (!('NO_COLOR' in env) && stream.isTTY === true && env.TERM !== 'dumb');
  return pc.createColors(enabled);
}
