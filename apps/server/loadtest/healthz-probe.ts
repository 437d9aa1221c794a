/**
 * Measures GET /healthz latency from its own process (so the load generator's busy event loop
 * does not inflate the figures): one keep-alive connection, a probe every `everyMs`, for
 * `durationMs`; prints the latencies (ms) as JSON on stdout.
 *
 * Usage: node healthz-probe.js <baseUrl> <durationMs> [everyMs=25]
 */
import http from 'node:http';

async function main(): Promise<void> {
  const [url, durationArg, everyArg] = process.argv.slice(2);
  const durationMs = Number(durationArg);
  const everyMs = Number(everyArg ?? 25);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let failures = 0;
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const req = http.get(`${url}/healthz`, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) times.push(performance.now() - t0);
          else failures++;
          resolve();
        });
      });
      req.on('error', () => {
        failures++;
        resolve();
      });
    });
    await new Promise((r) => setTimeout(r, everyMs));
  }
  agent.destroy();
  process.stdout.write(JSON.stringify({ times, failures }));
}

void main();
