// Per-client limits of the node's HTTP listener beside JSON-RPC: fresh attestation reports
// (each reaches the secure processor) and HTTP requests in flight. A paywall in front of the
// node's facilitator lets the paying probe buy every ~200 ms meanwhile.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { parseEther, parseGwei } from 'viem';
import { startPaywallTarget, devAccount, devKeyHex, freshAccount, clients, randomAddress, CHAIN_ID } from '../lib/env.mjs';
import { underAttack, verdict, summary } from '../lib/attack.mjs';
import { attackerAddress, httpRequest, agentFrom, rpcFrom, sleep } from '../lib/net.mjs';

const REQUESTS_PER_CLIENT = 128;

let target;
let paidProbe;

before(async () => {
  target = await startPaywallTarget();
  paidProbe = { url: target.paywall.url, path: '/paid-probe', privateKey: devKeyHex(8) };
});

after(async () => {
  for (const line of summary()) console.log(`# ${line}`);
  await target?.destroy();
});

const freshNonce = () => '0x' + randomBytes(16).toString('hex');

describe('attestation', () => {
  it('60 fresh-report requests from one client within 1 s: 429 with Retry-After after the first few; another client is still served', async (t) => {
    const from = attackerAddress();
    const other = attackerAddress();
    const { node } = target;
    const get = async (addr) => {
      try {
        const r = await httpRequest(`${node.url}/node/attestation?nonce=${freshNonce()}`, { method: 'GET', from: addr });
        return { status: r.status, retryAfter: r.headers['retry-after'], json: r.json, text: r.text.slice(0, 200), ms: r.ms };
      } catch (e) {
        return { error: e.code ?? e.message };
      }
    };
    const run = await underAttack(
      t,
      node,
      async () => {
        const started = performance.now();
        // One every 16 ms, without waiting for the answers: 60 within ~1 s.
        const burst = Array.from({ length: 60 }, async (_, i) => {
          await sleep(Math.max(0, started + i * 16 - performance.now()));
          return get(from);
        });
        // Half-way through, another client's first request.
        await sleep(500);
        const otherFirst = await get(other);
        const answers = await Promise.all(burst);
        return { answers, otherFirst, spanMs: performance.now() - started };
      },
      { paidProbe, watch: [target.paywall] },
    );
    if (run.result) {
      const kinds = {};
      for (const a of run.result.answers) {
        const k = a.error ? `error ${a.error}` : `${a.status}${a.status === 429 ? ` retry-after ${a.retryAfter} ${a.json?.error?.code}` : ''}`;
        kinds[k] = (kinds[k] ?? 0) + 1;
      }
      t.diagnostic(`attacker: ${JSON.stringify(kinds)} (order: ${run.result.answers.map((a) => a.status ?? 'x').join(',')}); other client: ${run.result.otherFirst.status} ${run.result.otherFirst.text?.slice(0, 60)}`);
    }
    verdict(run, ({ answers, otherFirst }) => {
      for (const a of answers) assert.ok(!a.error, `attestation request: ${a.error}`);
      assert.equal(answers[0].status, 200, `the first request: HTTP ${answers[0].status} ${answers[0].text}`);
      const ok = answers.filter((a) => a.status === 200).length;
      assert.ok(ok <= 7, `${ok} of 60 fresh reports served within ~1 s to one client (5 at once, 1/s)`);
      for (const a of answers.filter((x) => x.status !== 200)) {
        assert.equal(a.status, 429, `refusal: HTTP ${a.status} ${a.text}`);
        assert.ok(/^\d+$/.test(a.retryAfter ?? '') && Number(a.retryAfter) >= 1, `429 Retry-After: ${JSON.stringify(a.retryAfter)}`);
        assert.equal(a.json?.error?.code, 'rate_limited', `429 body: ${a.text}`);
        assert.equal(typeof a.json?.error?.message, 'string', `429 body: ${a.text}`);
      }
      // Refusals come only after the first few.
      const firstRefused = answers.findIndex((a) => a.status === 429);
      assert.ok(firstRefused >= 1, 'a refusal among the first requests');
      assert.equal(otherFirst.status, 200, `another client's first request: HTTP ${otherFirst.status} ${otherFirst.text}`);
      assert.equal(typeof otherFirst.json?.evidence, 'string', `another client's first request: ${otherFirst.text}`);
    });
  });
});

describe('HTTP requests in flight', () => {
  it(`200 keep-alive connections from one client, each with a 10 s eth_sendRawTransactionSync: ${REQUESTS_PER_CLIENT} held, the rest 429 with connection: close`, async (t) => {
    const from = attackerAddress();
    const { node } = target;
    const c = clients(node.url);
    // A funded fresh key whose transactions all have a nonce gap (nonce 0 is never sent): each
    // Sync call waits its whole timeout.
    const key = freshAccount();
    const fund = await c.wallet(devAccount(1)).sendTransaction({ to: key.address, value: parseEther('1'), gas: 21_000n, maxFeePerGas: parseGwei('2'), maxPriorityFeePerGas: 0n });
    await c.publicClient.waitForTransactionReceipt({ hash: fund, pollingInterval: 25 });
    const raws = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        key.signTransaction({ chainId: CHAIN_ID, type: 'eip1559', nonce: i + 1, to: randomAddress(), value: 1n, gas: 21_000n, maxFeePerGas: parseGwei('2'), maxPriorityFeePerGas: 0n }),
      ),
    );
    const run = await underAttack(
      t,
      node,
      async () => {
        const agent = agentFrom(from, { maxSockets: 200 });
        const answers = await Promise.all(
          raws.map(async (raw, i) => {
            try {
              const r = await httpRequest(node.url, { agent, body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_sendRawTransactionSync', params: [raw, '0x2710'] }), timeoutMs: 30_000 });
              return { status: r.status, connection: r.headers.connection, retryAfter: r.headers['retry-after'], json: r.json, text: r.text.slice(0, 300), ms: r.ms };
            } catch (e) {
              return { error: e.code ?? e.message };
            }
          }),
        );
        const sockets = Object.values(agent.sockets).flat().length + Object.values(agent.freeSockets).flat().length;
        agent.destroy();
        // Once they are answered, the attacker is served again.
        const afterwards = await rpcFrom(node.url, 'eth_chainId', [], { from });
        return { answers, afterwards, sockets };
      },
      { paidProbe, watch: [target.paywall] },
    );
    if (run.result) {
      const kinds = {};
      for (const a of run.result.answers) {
        const k = a.error
          ? `error ${a.error}`
          : a.status === 200
            ? `200 ${a.json?.error ? `${a.json.error.code} ${a.json.error.message}` : 'result'}`
            : `${a.status} ${JSON.stringify(a.text)} connection: ${a.connection}, retry-after: ${a.retryAfter}`;
        kinds[k] = (kinds[k] ?? 0) + 1;
      }
      const slow = run.result.answers.filter((a) => a.status === 200).map((a) => a.ms);
      const fast = run.result.answers.filter((a) => a.status === 429).map((a) => a.ms);
      t.diagnostic(`${JSON.stringify(kinds)}; held answered after ${(Math.min(...slow) / 1000).toFixed(1)}–${(Math.max(...slow) / 1000).toFixed(1)} s, 429s after ≤ ${Math.max(...fast).toFixed(0)} ms`);
    }
    verdict(run, ({ answers, afterwards }) => {
      for (const a of answers) assert.ok(!a.error, `request: ${a.error}`);
      const refused = answers.filter((a) => a.status === 429);
      const held = answers.filter((a) => a.status !== 429);
      assert.equal(refused.length, 200 - REQUESTS_PER_CLIENT, `${refused.length} refused, ${held.length} held`);
      for (const a of refused) {
        assert.ok(a.text.startsWith(`too many concurrent requests from this client (limit ${REQUESTS_PER_CLIENT})`), `429 body: ${JSON.stringify(a.text)}`);
        assert.equal(a.connection, 'close', `429 connection header: ${JSON.stringify(a.connection)}`);
        assert.equal(a.retryAfter, '1', `429 Retry-After: ${JSON.stringify(a.retryAfter)}`);
      }
      for (const a of held) {
        assert.equal(a.status, 200, `held request: HTTP ${a.status} ${a.text}`);
        assert.equal(a.json?.error?.code, 4, `held request: ${a.text}`);
        assert.ok(a.json.error.message.startsWith("The transaction was added to the mempool but wasn't processed in 10000ms"), `held request: ${a.text}`);
        assert.ok(a.ms >= 9_500, `held request answered after ${a.ms.toFixed(0)} ms`);
      }
      assert.equal(afterwards.result, '0x67932', `the attacker's address is served again: ${JSON.stringify(afterwards)}`);
    });
  });
});
