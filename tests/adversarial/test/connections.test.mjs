// Connection-level attacks: idle WebSockets, slowloris (half a request header), idle
// keep-alive connections, and a request body that never completes. The attacker's per-client
// caps fill up; the probe (another client) must not notice.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { startTarget } from '../lib/env.mjs';
import { underAttack, verdict, summary } from '../lib/attack.mjs';
import { attackerAddress, rpcFrom, openWs, wsRpc, connectFrom, watchSocket, pool, sleep } from '../lib/net.mjs';

const WS_PER_CLIENT = 64;
const CONNECTIONS_PER_CLIENT = 256;
const HEADER_TIMEOUT_MS = 20_000;
const BODY_TIMEOUT_MS = 30_000;

let node;

before(async () => {
  node = await startTarget();
});

after(async () => {
  for (const line of summary()) console.log(`# ${line}`);
  await node?.destroy();
});

/** Parses a raw HTTP/1.1 response: { status, headers, body } (or null if not one). */
function parseHttp(text) {
  const m = /^HTTP\/1\.1 (\d{3})[^\r\n]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
  if (!m) return null;
  const headers = {};
  for (const line of m[2].split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(m[1]), headers, body: m[3] };
}

/** Whether `text` holds a whole HTTP response (head and Content-Length bytes of body). */
function complete(text) {
  const res = parseHttp(text);
  if (!res) return false;
  const len = Number(res.headers['content-length'] ?? NaN);
  return Number.isFinite(len) ? Buffer.byteLength(res.body) >= len : false;
}

describe('WebSocket', () => {
  it(`1,024 idle WebSockets from one client: ${WS_PER_CLIENT} open, the rest HTTP 429; others unaffected`, async (t) => {
    const from = attackerAddress();
    const held = [];
    const run = await underAttack(t, node, async () => {
      // 32 handshakes at a time; refused ones close at once, open ones stay open and idle.
      const outcomes = await pool(1024, 32, async () => {
        const o = await openWs(node.wsUrl, { from });
        if (o.ok) held.push(o.ws);
        return o.ok ? { ok: true } : o;
      });
      // Another client still gets a WebSocket while the attacker holds its share.
      const mineWs = await openWs(node.wsUrl, { from: '127.0.0.1' });
      const mineAnswer = mineWs.ok ? await wsRpc(mineWs.ws).request('eth_blockNumber') : null;
      mineWs.ws?.close();
      const { ws: _m, ...mine } = mineWs;
      // The attacker's open sockets still work (idle, not dead).
      const heldAnswer = held.length ? await wsRpc(held[0]).request('eth_chainId') : null;
      return { outcomes, mine, mineAnswer, heldAnswer };
    });
    for (const ws of held) ws.close();
    // Closing gives the units back: the attacker may open one again.
    await sleep(500);
    const { ws: againWs, ...again } = await openWs(node.wsUrl, { from });
    againWs?.close();
    verdict(run, ({ outcomes, mine, mineAnswer, heldAnswer }) => {
      const open = outcomes.filter((o) => o.ok).length;
      const refused = outcomes.filter((o) => !o.ok);
      const kinds = {};
      for (const o of refused) {
        const k = o.status ? `HTTP ${o.status}: ${o.body.trim()}` : `error ${o.error}`;
        kinds[k] = (kinds[k] ?? 0) + 1;
      }
      assert.equal(open, WS_PER_CLIENT, `open WebSockets: ${open}; refusals: ${JSON.stringify(kinds)}`);
      assert.equal(refused.length, 1024 - WS_PER_CLIENT);
      for (const o of refused) {
        assert.equal(o.status, 429, `refusal: ${JSON.stringify(kinds)}`);
        assert.ok(o.body.startsWith(`too many WebSocket connections from this client (limit ${WS_PER_CLIENT})`), `429 body: ${JSON.stringify(o.body)}`);
      }
      assert.ok(mine.ok, `another client's WebSocket: ${JSON.stringify(mine)}`);
      assert.match(mineAnswer?.result ?? '', /^0x[0-9a-f]+$/);
      assert.equal(heldAnswer?.result, '0x67932');
      assert.ok(again.ok, `after closing, the attacker opens a WebSocket again: ${JSON.stringify(again)}`);
    });
  });
});

describe('slow clients', () => {
  it(`slowloris: 300 connections with half a header; beyond ${CONNECTIONS_PER_CLIENT} a 503, the rest closed by the header deadline`, async (t) => {
    const from = attackerAddress();
    const idleFrom = attackerAddress();
    const run = await underAttack(t, node, async () => {
      const conns = await pool(300, 50, async () => {
        const s = await connectFrom(node.url, { from });
        const w = watchSocket(s);
        const sentAt = performance.now();
        s.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applica');
        return { s, w, sentAt };
      });
      // Meanwhile, idle keep-alive connections (one complete request each, then nothing) from another client.
      const idle = await pool(10, 10, async () => {
        const s = await connectFrom(node.url, { from: idleFrom });
        const w = watchSocket(s);
        const body = '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}';
        s.write(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        return { s, w, sentAt: performance.now() };
      });
      const limit = HEADER_TIMEOUT_MS + 10_000;
      const settle = (c) =>
        Promise.race([c.w.closed, sleep(limit).then(() => null)]).then((closed) => {
          if (!closed) c.s.destroy();
          return closed ? { ...closed, afterMs: closed.at - c.sentAt } : { open: true, data: c.w.data() };
        });
      const [results, idleResults] = await Promise.all([Promise.all(conns.map(settle)), Promise.all(idle.map(settle))]);
      // Once they are gone, the attacker's address is served again.
      const afterwards = await rpcFrom(node.url, 'eth_chainId', [], { from });
      return { results, idleResults, afterwards };
    });
    const r = run.result;
    if (r) {
      const held = r.results.filter((x) => !x.data?.startsWith('HTTP/1.1 503'));
      const times = held.map((x) => x.afterMs ?? Infinity).sort((a, b) => a - b);
      const what = [...new Set(held.map((x) => JSON.stringify((x.data ?? '').slice(0, 60))))].slice(0, 3);
      t.diagnostic(`held ${held.length}, closed after ${(times[0] / 1000).toFixed(1)}–${(times.at(-1) / 1000).toFixed(1)} s, server sent ${what.join(' | ')}; idle keep-alive closed after ${r.idleResults.map((x) => ((x.afterMs ?? NaN) / 1000).toFixed(1)).join(',')} s`);
    }
    verdict(run, ({ results, idleResults, afterwards }) => {
      const refused = results.filter((x) => x.data?.startsWith('HTTP/1.1 503'));
      const held = results.filter((x) => !x.data?.startsWith('HTTP/1.1 503'));
      const other = results.filter((x) => x.open || (!x.data && x.error));
      assert.equal(refused.length, 300 - CONNECTIONS_PER_CLIENT, `503 refusals: ${refused.length}; held: ${held.length}; without any answer: ${other.length} (${[...new Set(other.map((x) => x.error ?? 'open'))].join(',')})`);
      for (const x of refused) {
        const res = parseHttp(x.data);
        assert.ok(res, `refusal is an HTTP response: ${JSON.stringify(x.data.slice(0, 200))}`);
        assert.equal(res.status, 503);
        const body = JSON.parse(res.body);
        assert.equal(body.error?.code, 'too_many_connections', `503 body: ${res.body}`);
        assert.ok(String(body.error?.message).startsWith(`too many connections from this client (limit ${CONNECTIONS_PER_CLIENT})`), `503 body: ${res.body}`);
      }
      for (const x of held) {
        assert.ok(!x.open, `a half-header connection still open after ${(HEADER_TIMEOUT_MS + 10_000) / 1000} s`);
        assert.ok(x.afterMs <= HEADER_TIMEOUT_MS + 5_000, `half-header connection closed after ${(x.afterMs / 1000).toFixed(1)} s`);
      }
      for (const x of idleResults) {
        assert.ok(!x.open, 'an idle keep-alive connection is still open');
        assert.ok(x.data.startsWith('HTTP/1.1 200'), `the idle connection's request was answered: ${JSON.stringify(x.data.slice(0, 100))}`);
        assert.ok(x.afterMs <= HEADER_TIMEOUT_MS + 5_000, `idle keep-alive connection closed after ${(x.afterMs / 1000).toFixed(1)} s`);
      }
      assert.equal(afterwards.result, '0x67932', `the attacker's address is served again: ${JSON.stringify(afterwards)}`);
    });
  });

  it('a body that never completes (Content-Length 1000, 10 bytes sent): HTTP 408 within ~35 s', async (t) => {
    const from = attackerAddress();
    const run = await underAttack(t, node, async () => {
      const conns = await pool(20, 20, async () => {
        const s = await connectFrom(node.url, { from });
        const w = watchSocket(s);
        s.write('POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"jsonrpc"');
        return { s, w, sentAt: performance.now() };
      });
      const limit = BODY_TIMEOUT_MS + 10_000;
      return Promise.all(
        conns.map(async (c) => {
          // The answer, or the close, whichever comes first.
          const deadline = performance.now() + limit;
          while (!complete(c.w.data()) && performance.now() < deadline) {
            const closed = await Promise.race([c.w.closed, sleep(50).then(() => null)]);
            if (closed) break;
          }
          const at = performance.now();
          const data = c.w.data();
          c.s.destroy();
          return { data, afterMs: at - c.sentAt };
        }),
      );
    });
    if (run.result) t.diagnostic(`answers after ${run.result.map((x) => (x.afterMs / 1000).toFixed(1)).join(',')} s: ${[...new Set(run.result.map((x) => JSON.stringify(x.data.slice(0, 120))))].join(' | ')}`);
    verdict(run, (answers) => {
      for (const a of answers) {
        const res = parseHttp(a.data);
        assert.ok(res, `an HTTP answer: ${JSON.stringify(a.data.slice(0, 200))} after ${(a.afterMs / 1000).toFixed(1)} s`);
        assert.equal(res.status, 408, `status: ${JSON.stringify(a.data.slice(0, 200))}`);
        assert.ok(a.afterMs >= BODY_TIMEOUT_MS - 1_000 && a.afterMs <= BODY_TIMEOUT_MS + 5_000, `408 after ${(a.afterMs / 1000).toFixed(1)} s`);
        assert.ok(res.body.startsWith('request body not received within 30s'), `408 body: ${JSON.stringify(res.body)}`);
      }
    });
  });
});
