// The frame every attack runs in:
//
//   const { result, health } = await underAttack(t, node, async () => {
//     … attack from attackerAddress() …; return what the attacker got back;
//   });
//   verdict(health, () => { assert the attack got its clean, specific refusal });
//
// underAttack starts the Probe (eth_blockNumber every 20 ms from 127.0.0.1), samples the
// node's RSS, keeps sending viem transfers from a dev account while the attack runs, then lets
// the probe run `afterMs` longer. verdict() checks the attack's own expectations and the
// node's health together and reports every failure at once:
//
//   - probe p99 ≤ 50 ms during and after the attack, and no probe errors;
//   - node RSS peak − RSS before < 100 MB;
//   - every transfer sent during the attack committed;
//   - no "panicked" in the node's output; the node still runs.
//
// Adding an attack (x402 ones included): write a test that builds its target (see env.mjs:
// startTarget, startNodeTarget, startPaywallTarget), calls underAttack with a function that
// does the attack and returns what came back, and calls verdict with the expectations.
// `probeUrl` points the probe elsewhere; `memoryOf` adds processes whose RSS growth must stay
// under the same limit (e.g. the paywall); `paidProbe` adds a second, paying probe: one whole
// x402 purchase through a paywall (402, sign, paid retry) every ~200 ms, p99 ≤ 150 ms (a paid
// request includes a block commit) and none failed.

import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { sampleRss, MB } from '../../harness/index.mjs';
import { Probe } from './probe.mjs';
import { transferLoop } from './env.mjs';
import { sleep } from './net.mjs';

export const LIMITS = {
  probeP99Ms: 50,
  paidProbeP99Ms: 150,
  rssGrowthBytes: 100 * MB,
};

const results = [];

/**
 * Runs `attack` against `node` under observation.
 * @param {import('node:test').TestContext} t
 * @param {object} node  a harness process object (url, pid, outputLines, running)
 * @param {() => Promise<any>} attack
 * @param {object} [o]
 * @param {string}  [o.name]        label in the summary (default: the test's name)
 * @param {number}  [o.beforeMs]    probe baseline before the attack (default 500)
 * @param {number}  [o.afterMs]     probe time after the attack (default 3000)
 * @param {boolean} [o.transfers]   send transfers during the attack (default true)
 * @param {object}  [o.transferFrom] viem account that sends them (default dev account #0)
 * @param {number}  [o.chainId]     the chain's id (default the dev chain's)
 * @param {string}  [o.probeUrl]    what the probe asks (default node.url)
 * @param {object[]} [o.watch]      more processes whose output must not contain "panicked"
 * @param {object[]} [o.memoryOf]   more processes whose RSS is sampled (growth < 100 MB each)
 * @param {object}  [o.paidProbe]   { url (paywall), path, privateKey }: the paying probe
 */
export async function underAttack(t, node, attack, o = {}) {
  const name = o.name ?? t.name;
  const watched = [node, ...(o.watch ?? [])];
  const panicsBefore = watched.map((p) => p.outputLines(/panicked/).length);
  const probe = await Probe.start(o.probeUrl ?? node.url);
  let paid = null;
  if (o.paidProbe) {
    try {
      paid = await Probe.paid(o.paidProbe.url, o.paidProbe);
    } catch (e) {
      await probe.stop();
      throw new Error(`paid probe did not start: ${e.message}`);
    }
  }
  const probes = [probe, paid].filter(Boolean);
  for (const pr of probes) pr.phase('before');
  await sleep(o.beforeMs ?? 500);
  const rss = sampleRss(node.pid, { intervalMs: 50 });
  const others = (o.memoryOf ?? []).map((proc) => [proc.name, sampleRss(proc.pid, { intervalMs: 50 })]);
  for (const pr of probes) pr.phase('during');
  const txs = o.transfers === false ? null : transferLoop(node.url, { account: o.transferFrom, chainId: o.chainId });
  const started = performance.now();
  let result;
  let attackError = null;
  try {
    result = await attack();
  } catch (e) {
    attackError = e;
  }
  const attackMs = performance.now() - started;
  const tx = txs ? await txs.stop() : null;
  for (const pr of probes) pr.phase('after');
  await sleep(o.afterMs ?? 3000);
  const p = await probe.stop();
  const pp = paid ? await paid.stop() : null;
  const mem = rss.stop();
  const otherMem = others.map(([n, sampler]) => [n, sampler.stop()]);
  const panics = watched.flatMap((proc, i) => proc.outputLines(/panicked/).slice(panicsBefore[i]));
  const health = {
    name,
    attackMs,
    attackError,
    probe: p.phases,
    probeSockets: p.sockets,
    paidProbe: pp?.phases ?? null,
    paidProbeTransactions: pp?.transactions ?? [],
    rss: mem,
    otherRss: otherMem,
    tx,
    panics,
    running: watched.map((proc) => [proc.name, proc.running]),
  };
  record(t, health);
  return { result, health };
}

const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

function summaryLine(h) {
  const ph = (k) => h.probe[k] ?? { n: 0 };
  const d = ph('during');
  const a = ph('after');
  const b = ph('before');
  const pp = (k) => h.paidProbe?.[k] ?? { n: 0 };
  return (
    `${h.name}: attack ${fmt(h.attackMs / 1000, 2)} s | probe before p50/p99 ${fmt(b.p50)}/${fmt(b.p99)} ms; ` +
    `during p50/p99/max ${fmt(d.p50)}/${fmt(d.p99)}/${fmt(d.max)} ms (n=${d.n}, errors ${d.errors}); ` +
    `after ${fmt(a.p50)}/${fmt(a.p99)}/${fmt(a.max)} ms (n=${a.n}, errors ${a.errors}) | ` +
    `RSS ${fmt(h.rss.base / MB)} MB → peak ${fmt(h.rss.peak / MB)} MB (+${fmt(h.rss.growth / MB)} MB), end ${fmt(h.rss.last / MB)} MB | ` +
    (h.tx ? `transfers ${h.tx.committed}/${h.tx.sent} committed, max ${fmt(h.tx.maxMs, 0)} ms` : 'no transfers') +
    (h.paidProbe ? ` | paid probe during p50/p99/max ${fmt(pp('during').p50)}/${fmt(pp('during').p99)}/${fmt(pp('during').max)} ms (n=${pp('during').n}, errors ${pp('during').errors}), after ${fmt(pp('after').p50)}/${fmt(pp('after').p99)} ms (n=${pp('after').n}, errors ${pp('after').errors})` : '') +
    (h.otherRss?.length ? ` | ${h.otherRss.map(([n, m]) => `${n} RSS ${fmt(m.base / MB)} → ${fmt(m.peak / MB)} MB (+${fmt(m.growth / MB)})`).join(', ')}` : '')
  );
}

function record(t, h) {
  results.push(h);
  const line = summaryLine(h);
  t.diagnostic(line);
  if (process.env.ADVERSARIAL_REPORT) {
    const { attackError, ...rest } = h;
    appendFileSync(process.env.ADVERSARIAL_REPORT, JSON.stringify({ ...rest, attackError: attackError?.message ?? null, line }) + '\n');
  }
}

/** Every attack's summary line so far (print them in an `after` hook). */
export function summary() {
  return results.map(summaryLine);
}

/** Health assertions of one attack, as a list of failure messages. */
export function healthFailures(h) {
  const fails = [];
  for (const phase of ['during', 'after']) {
    const s = h.probe[phase];
    if (!s || s.n === 0) {
      fails.push(`probe: no samples ${phase} the attack`);
      continue;
    }
    if (!(s.p99 <= LIMITS.probeP99Ms)) fails.push(`probe p99 ${phase} the attack ${fmt(s.p99)} ms > ${LIMITS.probeP99Ms} ms (p50 ${fmt(s.p50)}, max ${fmt(s.max)}, n ${s.n})`);
    if (s.errors) fails.push(`probe saw ${s.errors} errors ${phase} the attack: ${s.errorSamples.join(' | ')}`);
  }
  if (h.paidProbe) {
    for (const phase of ['during', 'after']) {
      const s = h.paidProbe[phase];
      if (!s || s.n === 0) {
        fails.push(`paid probe: no purchases ${phase} the attack`);
        continue;
      }
      if (!(s.p99 <= LIMITS.paidProbeP99Ms)) fails.push(`paid probe p99 ${phase} the attack ${fmt(s.p99)} ms > ${LIMITS.paidProbeP99Ms} ms (p50 ${fmt(s.p50)}, max ${fmt(s.max)}, n ${s.n})`);
      if (s.errors) fails.push(`paid probe: ${s.errors} purchases failed ${phase} the attack: ${s.errorSamples.join(' | ')}`);
    }
  }
  if (!(h.rss.growth < LIMITS.rssGrowthBytes)) fails.push(`node RSS grew by ${fmt(h.rss.growth / MB)} MB (${fmt(h.rss.base / MB)} → ${fmt(h.rss.peak / MB)} MB), limit ${LIMITS.rssGrowthBytes / MB} MB`);
  for (const [n, m] of h.otherRss ?? []) {
    if (!(m.growth < LIMITS.rssGrowthBytes)) fails.push(`${n} RSS grew by ${fmt(m.growth / MB)} MB (${fmt(m.base / MB)} → ${fmt(m.peak / MB)} MB), limit ${LIMITS.rssGrowthBytes / MB} MB`);
  }
  if (h.tx) {
    if (h.tx.sent === 0 || h.tx.committed !== h.tx.sent) fails.push(`transfers during the attack: ${h.tx.committed}/${h.tx.sent} committed; errors: ${h.tx.errors.join(' | ')}`);
  }
  if (h.panics.length) fails.push(`"panicked" in the output: ${h.panics.slice(0, 3).join(' | ')}`);
  for (const [n, running] of h.running) if (!running) fails.push(`${n} is no longer running`);
  return fails;
}

/**
 * Checks the attack's expectations (`expect`, may throw assertion errors; it receives the
 * attack's result) and the node's health, and fails with every broken expectation at once.
 */
export function verdict({ result, health }, expect) {
  const fails = [];
  if (health.attackError) fails.push(`the attack itself failed: ${health.attackError.stack ?? health.attackError}`);
  else if (expect) {
    try {
      expect(result);
    } catch (e) {
      fails.push(`expectation: ${e.message}`);
    }
  }
  fails.push(...healthFailures(health));
  if (fails.length) assert.fail(`${health.name}:\n  - ${fails.join('\n  - ')}`);
}

// ------------------------------------------------------------------ JSON-RPC expectations

/** Asserts a JSON-RPC error with `code` whose message starts with `prefix`. */
export function assertRpcError(resp, code, prefix, what = 'response') {
  assert.ok(resp && resp.error, `${what}: expected error ${code} "${prefix}…", got ${JSON.stringify(resp)?.slice(0, 300)}`);
  assert.equal(resp.error.code, code, `${what}: expected code ${code}, got ${JSON.stringify(resp.error).slice(0, 300)}`);
  assert.ok(
    typeof resp.error.message === 'string' && resp.error.message.startsWith(prefix),
    `${what}: expected message starting "${prefix}", got ${JSON.stringify(resp.error.message).slice(0, 300)}`,
  );
}

/** Counts responses by `code: message-prefix` (first `n` chars), for summaries and exact checks. */
export function tally(responses, n = 60) {
  const out = {};
  for (const r of responses) {
    const k = !r ? 'missing' : r.error ? `${r.error.code}: ${String(r.error.message).slice(0, n)}` : 'result';
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
