// Oversized and over-quota JSON-RPC requests: fee-history percentiles, log-filter sizes,
// installed-filter quotas, `logs` subscriptions, and a transaction whose cost overflows 256
// bits. Each attack comes from its own loopback address; the probe speaks from 127.0.0.1.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parseAbi, encodeFunctionData, toHex } from 'viem';
import { startTarget, devAccount, freshAccount, randomAddress, clients, CHAIN_ID, BASE_FEE, TUSD } from '../lib/env.mjs';
import { underAttack, verdict, assertRpcError, tally, summary } from '../lib/attack.mjs';
import { attackerAddress, rpcFrom, postRpc, batchFrom, call, agentFrom, pool, openWs, wsRpc, describeWs, sleep } from '../lib/net.mjs';

/** `n` distinct-looking addresses (random bytes: deriving keys would take minutes), `first` ones first. */
const addresses = (n, ...first) => [...first, ...Array.from({ length: n - first.length }, () => '0x' + randomBytes(20).toString('hex'))];

let node;

before(async () => {
  node = await startTarget();
});

after(async () => {
  for (const line of summary()) console.log(`# ${line}`);
  await node?.destroy();
});

describe('eth_feeHistory', () => {
  it('100,000 reward percentiles: -32602 over the query limit 100', async (t) => {
    const from = attackerAddress();
    const agent = agentFrom(from, { maxSockets: 8 });
    const many = Array.from({ length: 100_000 }, (_, i) => Number(((i * 100) / 100_000).toFixed(3)));
    const body = JSON.stringify(call('eth_feeHistory', ['0xa', 'latest', many]));
    const run = await underAttack(t, node, async () => {
      // 200 requests of ~600 KB each, 8 at a time, on keep-alive connections.
      const answers = await pool(200, 8, () => postRpc(node.url, body, { agent }));
      // The limit itself: 100 percentiles are served, 101 are not.
      const at100 = await rpcFrom(node.url, 'eth_feeHistory', ['0x4', 'latest', many.slice(0, 100).map((_, i) => i)], { from });
      const at101 = await rpcFrom(node.url, 'eth_feeHistory', ['0x4', 'latest', [...Array(101).keys()].map((i) => i * 0.99)], { from });
      return { answers, at100, at101, bodyBytes: body.length };
    });
    agent.destroy();
    verdict(run, ({ answers, at100, at101 }) => {
      assert.equal(answers.length, 200);
      for (const [i, a] of answers.entries()) assertRpcError(a, -32602, 'invalid reward percentile: over the query limit 100', `request ${i}`);
      assert.ok(at100.result, `100 percentiles must be served: ${JSON.stringify(at100).slice(0, 300)}`);
      assert.ok(at100.result.reward.every((r) => r.length === 100), 'one reward per percentile');
      assertRpcError(at101, -32602, 'invalid reward percentile: over the query limit 100', '101 percentiles');
    });
  });
});

describe('log filters', () => {
  it('eth_newFilter / eth_getLogs / logs subscribe with 90,000 addresses: -32602 exceed max addresses', async (t) => {
    const from = attackerAddress();
    const agent = agentFrom(from, { maxSockets: 4 });
    const huge = addresses(90_000);
    const newFilterBody = JSON.stringify(call('eth_newFilter', [{ address: huge }]));
    const getLogsBody = JSON.stringify(call('eth_getLogs', [{ fromBlock: '0x0', address: huge }]));
    const run = await underAttack(t, node, async () => {
      // 48 requests of ~4 MB each (under the 5 MiB body limit), 4 at a time.
      const newFilter = await pool(40, 4, () => postRpc(node.url, newFilterBody, { agent }));
      const getLogs = await pool(8, 4, () => postRpc(node.url, getLogsBody, { agent }));
      const topics = await rpcFrom(node.url, 'eth_newFilter', [{ topics: [addresses(1001).map((a) => '0x' + a.slice(2).padStart(64, '0'))] }], { from });
      // The limits themselves: 1,000 addresses and 1,000 values per topic position are fine.
      const at1000 = await rpcFrom(node.url, 'eth_newFilter', [{ address: addresses(1000) }], { from });
      const topics1000 = await rpcFrom(node.url, 'eth_newFilter', [{ topics: [addresses(1000).map((a) => '0x' + a.slice(2).padStart(64, '0'))] }], { from });
      // The same over WebSocket.
      const o = await openWs(node.wsUrl, { from });
      assert.ok(o.ok, `WebSocket refused: ${describeWs(o)}`);
      const sub = await wsRpc(o.ws).request('eth_subscribe', ['logs', { address: huge }]);
      const sub1001 = await wsRpc(o.ws).request('eth_subscribe', ['logs', { address: addresses(1001) }]);
      o.ws.close();
      return { newFilter, getLogs, topics, at1000, topics1000, sub, sub1001 };
    });
    agent.destroy();
    verdict(run, (r) => {
      for (const [i, a] of r.newFilter.entries()) assertRpcError(a, -32602, 'exceed max addresses', `eth_newFilter ${i}`);
      for (const [i, a] of r.getLogs.entries()) assertRpcError(a, -32602, 'exceed max addresses', `eth_getLogs ${i}`);
      assertRpcError(r.topics, -32602, 'exceed max sub topics', 'eth_newFilter with 1,001 topic values');
      assert.match(r.at1000.result ?? '', /^0x[0-9a-f]+$/, `1,000 addresses must be accepted: ${JSON.stringify(r.at1000)}`);
      assert.match(r.topics1000.result ?? '', /^0x[0-9a-f]+$/, `1,000 topic values must be accepted: ${JSON.stringify(r.topics1000)}`);
      assertRpcError(r.sub, -32602, 'exceed max addresses', 'eth_subscribe logs with 90,000 addresses');
      assertRpcError(r.sub1001, -32602, 'exceed max addresses', 'eth_subscribe logs with 1,001 addresses');
    });
  });

  it('one client installs filters until refused (512); another client still installs', async (t) => {
    const greedy = attackerAddress();
    const other = attackerAddress();
    const run = await underAttack(t, node, async () => {
      // 600 eth_newFilter of 1,000 addresses each, in batches of 50 (~2.3 MB per batch).
      const answers = [];
      for (let b = 0; b < 12; b++) {
        const calls = Array.from({ length: 50 }, () => call('eth_newFilter', [{ address: addresses(1000) }]));
        answers.push(...(await batchFrom(node.url, calls, { from: greedy })).responses);
      }
      const afterRefusal = await rpcFrom(node.url, 'eth_newBlockFilter', [], { from: greedy });
      const otherClient = await rpcFrom(node.url, 'eth_newFilter', [{ address: addresses(1000) }], { from: other });
      const otherBlock = await rpcFrom(node.url, 'eth_newBlockFilter', [], { from: other });
      const probeClient = await rpcFrom(node.url, 'eth_newBlockFilter', [], { from: '127.0.0.1' });
      // A filter the greedy client holds still works.
      const firstId = answers.find((a) => a.result)?.result;
      const changes = firstId ? await rpcFrom(node.url, 'eth_getFilterChanges', [firstId], { from: greedy }) : null;
      return { answers, afterRefusal, otherClient, otherBlock, probeClient, changes };
    });
    verdict(run, (r) => {
      const ok = r.answers.filter((a) => typeof a?.result === 'string');
      const refused = r.answers.filter((a) => a?.error);
      assert.equal(ok.length, 512, `filters installed by one client: ${JSON.stringify(tally(r.answers))}`);
      assert.equal(refused.length, 600 - 512, JSON.stringify(tally(r.answers)));
      for (const a of refused) assertRpcError(a, -32000, 'too many filters from this client (limit 512)', 'filter 513+');
      assertRpcError(r.afterRefusal, -32000, 'too many filters from this client (limit 512)', 'eth_newBlockFilter after refusal');
      assert.match(r.otherClient.result ?? '', /^0x[0-9a-f]+$/, `another client's eth_newFilter: ${JSON.stringify(r.otherClient)}`);
      assert.match(r.otherBlock.result ?? '', /^0x[0-9a-f]+$/, `another client's eth_newBlockFilter: ${JSON.stringify(r.otherBlock)}`);
      assert.match(r.probeClient.result ?? '', /^0x[0-9a-f]+$/, `the probe client's eth_newBlockFilter: ${JSON.stringify(r.probeClient)}`);
      assert.ok(Array.isArray(r.changes?.result), `eth_getFilterChanges on an installed filter: ${JSON.stringify(r.changes)}`);
    });
  });
});

const TOKEN_ABI = parseAbi(['function transfer(address,uint256) returns (bool)']);

describe('logs subscriptions', () => {
  it('10 logs subscriptions with 1,000-address filters while blocks with logs are produced', async (t) => {
    const from = attackerAddress();
    const c = clients(node.url);
    const sender = devAccount(3);
    let notifications = 0;
    const perSub = new Map();
    const o = await openWs(node.wsUrl, { from });
    assert.ok(o.ok, `WebSocket refused: ${describeWs(o)}`);
    const rpc = wsRpc(o.ws, {
      onNotification: ({ subscription }) => {
        notifications += 1;
        perSub.set(subscription, (perSub.get(subscription) ?? 0) + 1);
      },
    });
    const TOKEN_TRANSFERS = 30;
    const run = await underAttack(t, node, async () => {
      const subs = [];
      for (let i = 0; i < 10; i++) subs.push(await rpc.request('eth_subscribe', ['logs', { address: addresses(1000, TUSD) }]));
      // Blocks with logs: tUSD transfers (one Transfer event each), every one matching every subscription.
      const receipts = [];
      for (let i = 0; i < TOKEN_TRANSFERS; i++) {
        const hash = await c.wallet(sender).sendTransaction({
          to: TUSD,
          data: encodeFunctionData({ abi: TOKEN_ABI, functionName: 'transfer', args: [randomAddress(), 1n] }),
          gas: 100_000n,
          maxFeePerGas: 2n * BASE_FEE,
          maxPriorityFeePerGas: 0n,
        });
        receipts.push(await c.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 25 }));
      }
      // Let the last notifications arrive.
      const deadline = Date.now() + 5000;
      while (notifications < 10 * TOKEN_TRANSFERS && Date.now() < deadline) await sleep(25);
      return { subs, receipts };
    });
    o.ws.close();
    verdict(run, ({ subs, receipts }) => {
      for (const [i, s] of subs.entries()) assert.match(s.result ?? '', /^0x[0-9a-f]+$/, `subscription ${i}: ${JSON.stringify(s)}`);
      assert.ok(receipts.every((r) => r.status === 'success' && r.logs.length === 1), 'token transfers succeed with one log each');
      for (const s of subs) assert.equal(perSub.get(s.result), TOKEN_TRANSFERS, `notifications of ${s.result}`);
    });
  });

  it('subscriptions per connection (128) and logs subscriptions per client (256) are capped', async (t) => {
    const from = attackerAddress();
    const conns = [];
    const run = await underAttack(t, node, async () => {
      const answers = [];
      for (let c = 0; c < 3; c++) {
        const o = await openWs(node.wsUrl, { from });
        assert.ok(o.ok, `WebSocket ${c} refused: ${describeWs(o)}`);
        conns.push(o.ws);
        const rpc = wsRpc(o.ws);
        // One at a time, so that which limit answers is deterministic.
        const mine = [];
        for (let i = 0; i < 130; i++) mine.push(await rpc.request('eth_subscribe', ['logs', { address: addresses(10) }]));
        answers.push(mine);
      }
      // newHeads is not a logs subscription: a fresh connection may still open one.
      const o = await openWs(node.wsUrl, { from });
      conns.push(o.ws);
      const heads = await wsRpc(o.ws).request('eth_subscribe', ['newHeads']);
      const logs = await wsRpc(o.ws).request('eth_subscribe', ['logs', {}]);
      return { answers, heads, logs };
    });
    for (const ws of conns) ws.close();
    verdict(run, ({ answers, heads, logs }) => {
      const [a, b, c] = answers;
      const count = (list) => list.filter((x) => typeof x.result === 'string').length;
      assert.equal(count(a), 128, `connection 1: ${JSON.stringify(tally(a))}`);
      for (const x of a.filter((y) => y.error)) assertRpcError(x, -32000, 'too many subscriptions (limit 128)', 'connection 1, subscription 129+');
      assert.equal(count(b), 128, `connection 2: ${JSON.stringify(tally(b))}`);
      assert.equal(count(c), 0, `connection 3 (client already holds 256 logs subscriptions): ${JSON.stringify(tally(c))}`);
      for (const x of c) assertRpcError(x, -32000, 'too many logs subscriptions from this client (limit 256)', 'logs subscription 257+');
      assert.match(heads.result ?? '', /^0x[0-9a-f]+$/, `newHeads on a fourth connection: ${JSON.stringify(heads)}`);
      assertRpcError(logs, -32000, 'too many logs subscriptions from this client (limit 256)', 'logs on a fourth connection');
    });
  });
});

describe('transaction cost overflow', () => {
  it('value = 2^256 − gas·maxFee from an empty key: insufficient funds, never pooled', async (t) => {
    const from = attackerAddress();
    const key = freshAccount();
    const gas = 21_000n;
    const maxFeePerGas = BASE_FEE;
    const U256 = 1n << 256n;
    const sign = (o) =>
      key.signTransaction({ type: 'eip1559', chainId: CHAIN_ID, nonce: 0, to: randomAddress(), gas, maxFeePerGas, maxPriorityFeePerGas: 0n, value: 0n, ...o });
    const wraps = await sign({ value: U256 - gas * maxFeePerGas }); // gas·fee + value = 2^256 ≡ 0
    const wrapsPlus1 = await sign({ value: U256 - gas * maxFeePerGas + 1n }); // ≡ 1
    const maxValue = await sign({ value: U256 - 1n });
    // The largest fee a transaction can carry (fees are 128-bit), with the value that wraps the sum.
    const maxFee = (1n << 128n) - 1n;
    const feeWraps = await sign({ maxFeePerGas: maxFee, value: U256 - gas * maxFee });
    const run = await underAttack(t, node, async () => {
      const answers = {};
      for (const [name, raw] of Object.entries({ wraps, wrapsPlus1, maxValue, feeWraps })) {
        answers[name] = await rpcFrom(node.url, 'eth_sendRawTransaction', [raw], { from });
        answers[`${name}Sync`] = await rpcFrom(node.url, 'eth_sendRawTransactionSync', [raw], { from });
      }
      const content = await rpcFrom(node.url, 'txpool_content', [], { from });
      const nonce = await rpcFrom(node.url, 'eth_getTransactionCount', [key.address, 'pending'], { from });
      const balance = await rpcFrom(node.url, 'eth_getBalance', [key.address, 'latest'], { from });
      return { answers, content, nonce, balance };
    });
    // The honest transfers sent during the attack have all committed by now: the pool is empty.
    const status = await rpcFrom(node.url, 'txpool_status', [], { from });
    verdict(run, ({ answers, content, nonce, balance }) => {
      for (const [name, a] of Object.entries(answers)) assertRpcError(a, -32000, 'insufficient funds for gas * price + value', name);
      assert.deepEqual(status.result, { pending: '0x0', queued: '0x0' }, `txpool_status: ${JSON.stringify(status)}`);
      assert.deepEqual(content.result?.pending?.[key.address] ?? content.result?.pending?.[key.address.toLowerCase()], undefined, 'not in txpool_content');
      assert.equal(nonce.result, '0x0');
      assert.equal(balance.result, toHex(0n));
    });
  });
});
