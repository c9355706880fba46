// WebSocket on the same port as HTTP: plain requests, eth_subscribe newHeads / logs /
// newPendingTransactions, eth_unsubscribe, and viem's watchBlocks / watchContractEvent.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEventTopics, pad, toHex, getAddress } from 'viem';
import { startNode } from '../lib/node.mjs';
import {
  CHAIN_ID,
  viemClients,
  viemWsClient,
  wsConnect,
  rpc,
  deployTestToken,
  loadArtifact,
  randomAddress,
  devAccount,
  sleep,
} from '../lib/util.mjs';

const abi = loadArtifact('TestToken').abi;
const PING_TOPIC = encodeEventTopics({ abi, eventName: 'Ping' })[0];

describe('WebSocket subscriptions', () => {
  let node, v, token;

  before(async () => {
    node = await startNode();
    v = viemClients(node);
    token = (await deployTestToken(v.publicClient, v.wallet(0))).address;
  });
  after(async () => {
    await node?.destroy();
  });

  it('plain JSON-RPC requests over WebSocket', async () => {
    const ws = await wsConnect(node.wsUrl);
    try {
      assert.equal(await ws.request('eth_chainId'), '0x' + CHAIN_ID.toString(16));
      const n = await ws.request('eth_blockNumber');
      assert.equal(n, await rpc(node.url, 'eth_blockNumber'));
      const err = await ws.requestRaw('foo_bar');
      assert.equal(err.error.code, -32601);
    } finally {
      ws.close();
    }
  });

  it('eth_subscribe newHeads: one header per committed block, then eth_unsubscribe', async () => {
    const ws = await wsConnect(node.wsUrl);
    try {
      const sub = await ws.request('eth_subscribe', ['newHeads']);
      assert.match(sub, /^0x[0-9a-f]+$/);
      const hash = await v.wallet(1).sendTransaction({ to: randomAddress(), value: 1n });
      const receipt = await v.publicClient.waitForTransactionReceipt({ hash });
      // Collect heads until the transaction's block shows up.
      let head;
      for (;;) {
        head = await ws.next(sub, 10_000);
        if (BigInt(head.number) >= receipt.blockNumber) break;
      }
      assert.equal(BigInt(head.number), receipt.blockNumber);
      assert.equal(head.hash, receipt.blockHash);
      for (const f of ['parentHash', 'stateRoot', 'transactionsRoot', 'receiptsRoot', 'logsBloom', 'timestamp', 'gasLimit', 'gasUsed', 'baseFeePerGas']) {
        assert.ok(head[f] !== undefined, `newHeads header has ${f}`);
      }
      assert.equal(await ws.request('eth_unsubscribe', [sub]), true);
      // geth answers an unknown subscription id with -32000 "subscription not found".
      await assert.rejects(ws.request('eth_unsubscribe', [sub]), /subscription not found/);
      // No more notifications after unsubscribing.
      ws.drain(sub);
      const h2 = await v.wallet(1).sendTransaction({ to: randomAddress(), value: 1n });
      await v.publicClient.waitForTransactionReceipt({ hash: h2 });
      await sleep(200);
      assert.deepEqual(ws.drain(sub), []);
    } finally {
      ws.close();
    }
  });

  it('eth_subscribe logs with an address + topic filter', async () => {
    const ws = await wsConnect(node.wsUrl);
    try {
      const sub = await ws.request('eth_subscribe', ['logs', { address: token, topics: [PING_TOPIC, pad(toHex(1n))] }]);
      // A Transfer from the same contract must not match the filter; Ping #1 must.
      const h1 = await v.wallet(0).writeContract({ address: token, abi, functionName: 'transfer', args: [randomAddress(), 1n] });
      await v.publicClient.waitForTransactionReceipt({ hash: h1 });
      const h2 = await v.wallet(0).writeContract({ address: token, abi, functionName: 'emitMany', args: [3n] });
      const r2 = await v.publicClient.waitForTransactionReceipt({ hash: h2 });
      const log = await ws.next(sub, 10_000);
      assert.equal(getAddress(log.address), getAddress(token));
      assert.equal(log.topics[0], PING_TOPIC);
      assert.equal(BigInt(log.topics[1]), 1n);
      assert.equal(log.transactionHash, h2);
      assert.equal(log.blockHash, r2.blockHash);
      assert.equal(log.removed, false);
      await sleep(200);
      assert.deepEqual(ws.drain(sub), [], 'only the matching log is delivered');
      assert.equal(await ws.request('eth_unsubscribe', [sub]), true);
    } finally {
      ws.close();
    }
  });

  it('eth_subscribe newPendingTransactions reports submitted transaction hashes', async () => {
    const ws = await wsConnect(node.wsUrl);
    try {
      const sub = await ws.request('eth_subscribe', ['newPendingTransactions']);
      const hash = await v.wallet(2).sendTransaction({ to: randomAddress(), value: 1n });
      let got;
      for (;;) {
        got = await ws.next(sub, 10_000);
        if (got === hash || got?.hash === hash) break;
      }
      assert.ok(got === hash || got?.hash === hash);
      assert.equal(await ws.request('eth_unsubscribe', [sub]), true);
    } finally {
      ws.close();
    }
  });

  it('invalid subscription kinds are refused', async () => {
    const ws = await wsConnect(node.wsUrl);
    try {
      const res = await ws.requestRaw('eth_subscribe', ['noSuchKind']);
      assert.ok(res.error, 'error for an unknown subscription kind');
      assert.ok([-32602, -32601, -32600, -32000].includes(res.error.code), JSON.stringify(res.error));
    } finally {
      ws.close();
    }
  });

  it('viem watchBlocks and watchContractEvent over WebSocket', async () => {
    const { client, close } = await viemWsClient(node);
    try {
      const blocks = [];
      const events = [];
      let unwatchBlocks, unwatchEvents;
      const sawBlock = new Promise((resolve) => {
        unwatchBlocks = client.watchBlocks({
          onBlock: (b) => {
            blocks.push(b);
            resolve();
          },
          onError: (e) => resolve(e),
        });
      });
      const sawEvent = new Promise((resolve) => {
        unwatchEvents = client.watchContractEvent({
          address: token,
          abi,
          eventName: 'Ping',
          onLogs: (logs) => {
            events.push(...logs);
            resolve();
          },
          onError: (e) => resolve(e),
        });
      });
      await sleep(300); // let the subscriptions register
      const hash = await v.wallet(3).writeContract({
        account: devAccount(3),
        address: token,
        abi,
        functionName: 'emitMany',
        args: [2n],
      });
      const r = await v.publicClient.waitForTransactionReceipt({ hash });
      const timeout = (ms, what) => new Promise((_, rej) => setTimeout(() => rej(new Error(`viem ${what} timed out`)), ms));
      assert.equal(await Promise.race([sawBlock, timeout(10_000, 'watchBlocks')]), undefined);
      assert.equal(await Promise.race([sawEvent, timeout(10_000, 'watchContractEvent')]), undefined);
      assert.ok(blocks.some((b) => b.number <= r.blockNumber));
      assert.ok(events.length >= 1);
      assert.equal(events[0].eventName, 'Ping');
      assert.equal(events[0].transactionHash, hash);
      unwatchBlocks();
      unwatchEvents();
    } finally {
      await close();
    }
  });
});
