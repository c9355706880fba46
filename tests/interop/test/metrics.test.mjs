// GET /metrics is valid Prometheus text: every sample belongs to the family whose TYPE line
// precedes it, a family's samples are contiguous and no family appears twice (Prometheus
// rejects a scrape otherwise). Covers the node, JSON-RPC and x402 facilitator metrics.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from '../lib/node.mjs';
import { rpc } from '../lib/util.mjs';

describe('/metrics', () => {
  let node;
  before(async () => {
    node = await startNode();
  });
  after(async () => {
    await node?.destroy();
  });

  it('is well-formed exposition text with the expected families', async () => {
    await rpc(node.url, 'eth_blockNumber', []);
    const res = await fetch(`${node.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain/);
    const lines = (await res.text()).split('\n').filter((l) => l.length > 0);
    const seen = new Set();
    let current = null;
    for (const line of lines) {
      const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (type) {
        assert.ok(!seen.has(type[1]), `family ${type[1]} appears twice`);
        seen.add(type[1]);
        current = type[1];
        continue;
      }
      if (line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
      assert.ok(m, `malformed sample line: ${line}`);
      assert.ok(current && m[1].startsWith(current), `sample ${m[1]} is not under its family's TYPE (current: ${current})`);
      assert.ok(!Number.isNaN(Number(m[3])), `value of ${m[1]} is a number`);
    }
    for (const f of ['txnchain_block_height', 'txnchain_txpool_transactions', 'txnchain_x402_settle_total', 'txnchain_x402_settlement_key_low_balance']) {
      assert.ok(seen.has(f), `has ${f}`);
    }
  });
});
