// What the cpu backend's benchmark scripts share: argument parsing, the median, the read
// bandwidth of apps/bench's streaming-read kernel and the count of experts a plan routes to.

/** The value of `--name=value` on the command line, else `fallback`. */
export const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Read bandwidth on 1 and 2 threads (apps/bench's kernel; undefined when apps/bench is not built). */
export async function readBandwidth() {
  const url = new URL('../../../apps/bench/dist/bandwidth.js', import.meta.url);
  try {
    const { measureReadBandwidth } = await import(url.href);
    return await measureReadBandwidth({ threads: [1, 2] });
  } catch (err) {
    console.error(`(no read bandwidth: build apps/bench first; ${err.message})`);
    return undefined;
  }
}

/** Experts the plan gives at least one row (each one's weights are read once per forward). */
export function distinctExperts(plan) {
  let n = 0;
  for (let e = 0; e < plan.numExperts; e++) if (plan.expertOffsets[e + 1] > plan.expertOffsets[e]) n++;
  return n;
}
