/** The tfjs engines this backend can run on, best first. */
export type TfjsEngine = 'tensorflow' | 'wasm' | 'cpu';

/** Every engine, in the order `auto` tries them. */
export const TFJS_ENGINES: readonly TfjsEngine[] = ['tensorflow', 'wasm', 'cpu'];
