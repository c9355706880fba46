// Probe: an honest client that keeps asking eth_blockNumber (every ~20 ms, one keep-alive
// connection, from 127.0.0.1) while an attack runs and for a few seconds after, on a worker
// thread so that the attack's own client-side work does not count as probe latency.
//
//   const probe = await Probe.start(node.url);
//   probe.phase('during'); … attack …; probe.phase('after'); await sleep(3000);
//   const report = await probe.stop();   // { phases: { during: {n, p50, p99, max, errors}, … }, sockets }

import { Worker } from 'node:worker_threads';

export const PROBE_ADDRESS = '127.0.0.1';

/** Nearest-rank percentile of a sorted array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** { n, p50, p99, max, errors: count, errorSamples: first few } of a list of [latencyMs, error]. */
export function stats(list) {
  const ok = list.filter(([, e]) => !e).map(([ms]) => ms).sort((a, b) => a - b);
  const all = list.map(([ms]) => ms).sort((a, b) => a - b);
  const errors = list.filter(([, e]) => e).map(([, e]) => e);
  return {
    n: list.length,
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    max: all.length ? all[all.length - 1] : NaN,
    okP99: percentile(ok, 99),
    errors: errors.length,
    errorSamples: [...new Set(errors)].slice(0, 5),
  };
}

export class Probe {
  /**
   * @param {string} url   the node's JSON-RPC URL
   * @param {object} [o]
   * @param {string} [o.localAddress]  default 127.0.0.1
   * @param {number} [o.intervalMs]    default 20
   * @param {number} [o.timeoutMs]     a request without an answer after this is an error (default 2000)
   * @param {URL}    [o.script]        the worker (default ./probe-worker.mjs)
   * @param {object} [o.data]          more workerData for it
   */
  static async start(url, o = {}) {
    const worker = new Worker(o.script ?? new URL('./probe-worker.mjs', import.meta.url), {
      workerData: {
        url,
        localAddress: o.localAddress ?? PROBE_ADDRESS,
        intervalMs: o.intervalMs ?? 20,
        timeoutMs: o.timeoutMs ?? 2000,
        ...(o.data ?? {}),
      },
    });
    const probe = new Probe(worker);
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('probe: no answer from the node within 10 s')), 10_000);
      worker.once('message', (m) => {
        if (m.ready) {
          clearTimeout(t);
          resolve();
        }
      });
      worker.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
    return probe;
  }

  /**
   * The paying probe (paid-probe-worker.mjs): one whole x402 purchase through a paywall —
   * 402, sign, paid retry — every `intervalMs` (default 200), from 127.0.0.1.
   * @param {string} url         the paywall's base URL
   * @param {object} o
   * @param {string} o.path      the priced path to buy
   * @param {string} o.privateKey the payer's key (0x-hex)
   */
  static paid(url, o) {
    return Probe.start(url, {
      intervalMs: 200,
      timeoutMs: 5000,
      ...o,
      script: new URL('./paid-probe-worker.mjs', import.meta.url),
      data: { path: o.path, privateKey: o.privateKey },
    });
  }

  constructor(worker) {
    this.worker = worker;
  }

  /** Tags the samples that start from now on (e.g. 'before', 'during', 'after'). */
  phase(name) {
    this.worker.postMessage({ cmd: 'phase', name });
  }

  /** Stops the probe; per-phase statistics (warm-up samples are left out). */
  async stop() {
    const done = new Promise((resolve) => this.worker.once('message', resolve));
    this.worker.postMessage({ cmd: 'stop' });
    const { samples, sockets } = await done;
    await this.worker.terminate();
    const byPhase = {};
    for (const [phase, , ms, err] of samples) {
      if (phase === 'warmup') continue;
      (byPhase[phase] ??= []).push([ms, err]);
    }
    const phases = {};
    for (const [name, list] of Object.entries(byPhase)) phases[name] = stats(list);
    // The paid probe also reports each purchase's settlement transaction.
    const transactions = samples.map((x) => x[4]).filter(Boolean);
    return { phases, sockets, samples: samples.length, transactions };
  }
}
