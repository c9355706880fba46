// GET /metrics is valid Prometheus text: every sample belongs to the family whose TYPE line
// precedes it, a family's samples are contiguous and no family appears twice (Prometheus
// rejects a scrape otherwise). Covers the node, JSON-RPC and x402 facilitator metrics.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from '../lib/node.mjs';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { rpc, randomAddress, viemClients } from '../lib/util.mjs';

const DASHBOARD = fileURLToPath(new URL('../../../deploy/grafana/txnchain-node.json', import.meta.url));

/** Sample names on a /metrics page (with their `_sum` / `_count` suffixes as written). */
async function sampleNames(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const names = new Map();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m) names.set(m[1], Number(m[3]));
  }
  return names;
}

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

  it('serves every metric the Grafana dashboard in deploy/ queries, and counts committed work', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    const queried = new Set();
    for (const panel of dashboard.panels) {
      if (panel.type === 'row') continue;
      assert.ok(panel.targets?.length > 0, `panel ${panel.title} has no query`);
      for (const t of panel.targets) for (const m of t.expr.matchAll(/txnchain_[a-z0-9_]+/g)) queried.add(m[0]);
    }
    assert.ok(queried.size >= 15, `the dashboard queries ${queried.size} metrics`);
    const { wallet } = viemClients(node);
    await wallet(1).sendTransaction({ to: randomAddress(), value: 1n });
    await wallet(1).sendTransaction({ to: randomAddress(), value: 1n });
    const names = await sampleNames(node.url);
    for (const name of queried) assert.ok(names.has(name), `the dashboard queries ${name}, which /metrics does not serve`);
    assert.ok(names.get('txnchain_transactions_committed_total') >= 2, 'committed transactions counted');
    assert.ok(names.get('txnchain_blocks_applied_total') >= 1);
    assert.ok(names.get('txnchain_gas_used_total') >= 42_000);
    assert.ok(names.get('txnchain_block_apply_seconds_total') > 0);
    const head = await rpc(node.url, 'eth_getBlockByNumber', ['latest', false]);
    assert.equal(names.get('txnchain_block_timestamp_seconds'), Number(BigInt(head.timestamp)));
  });
});
