// Durability: 50 transfers (plus a contract with storage) committed, `kill -9`, restart
// on the same data dir: every block, receipt, balance, nonce, code and storage slot is
// still there, and the chain continues.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseGwei, keccak256, encodeAbiParameters } from 'viem';
import { startNode } from '../lib/node.mjs';
import { CHAIN_ID, viemClients, devAccount, rpc, deployTestToken, randomAddress } from '../lib/util.mjs';

const N = 50;
const SENDERS = [1, 2, 3, 4, 5];

describe('durability across kill -9', () => {
  let node;
  const recipients = Array.from({ length: 10 }, () => randomAddress());
  const hashes = [];
  const receipts = new Map();
  let token, tokenCode, headBefore, headHashBefore, balancesBefore, noncesBefore, slotBefore;

  before(async () => {
    node = await startNode();
  });
  after(async () => {
    await node?.destroy();
  });

  it('commits 50 transfers and a contract with storage', async () => {
    const v = viemClients(node);
    const d = await deployTestToken(v.publicClient, v.wallet(0));
    token = d.address;
    const sh = await v.wallet(0).writeContract({ address: token, abi: d.abi, functionName: 'setSlot', args: [11n, 0xabcdefn] });
    await v.publicClient.waitForTransactionReceipt({ hash: sh });

    // Pre-sign and submit all transfers (10 per sender) without waiting in between.
    const raws = [];
    for (const s of SENDERS) {
      const acct = devAccount(s);
      const base = await v.publicClient.getTransactionCount({ address: acct.address });
      for (let i = 0; i < N / SENDERS.length; i++) {
        raws.push(
          await acct.signTransaction({
            chainId: CHAIN_ID,
            type: 'eip1559',
            nonce: base + i,
            to: recipients[(raws.length + i) % recipients.length],
            value: BigInt(1000 + raws.length),
            gas: 21000n,
            maxFeePerGas: parseGwei('2'),
            maxPriorityFeePerGas: parseGwei('1'),
          }),
        );
      }
    }
    assert.equal(raws.length, N);
    const sent = await Promise.all(raws.map((raw) => rpc(node.url, 'eth_sendRawTransaction', [raw])));
    for (let i = 0; i < N; i++) assert.equal(sent[i], keccak256(raws[i]));
    hashes.push(...sent);
    for (const hash of hashes) {
      const r = await v.publicClient.waitForTransactionReceipt({ hash, timeout: 30_000 });
      assert.equal(r.status, 'success');
      receipts.set(hash, await rpc(node.url, 'eth_getTransactionReceipt', [hash]));
    }

    const head = await rpc(node.url, 'eth_getBlockByNumber', ['latest', false]);
    headBefore = BigInt(head.number);
    headHashBefore = head.hash;
    balancesBefore = {};
    noncesBefore = {};
    for (const a of [...recipients, ...SENDERS.map((s) => devAccount(s).address)]) {
      balancesBefore[a] = await rpc(node.url, 'eth_getBalance', [a, 'latest']);
      noncesBefore[a] = await rpc(node.url, 'eth_getTransactionCount', [a, 'latest']);
    }
    tokenCode = await rpc(node.url, 'eth_getCode', [token, 'latest']);
    slotBefore = await rpc(node.url, 'eth_getStorageAt', [token, slotKey(11n), 'latest']);
    assert.equal(BigInt(slotBefore), 0xabcdefn);
  });

  it('after kill -9 and restart on the same data dir, everything committed is there', async () => {
    await node.kill9();
    await node.restart();

    const head = BigInt(await rpc(node.url, 'eth_blockNumber'));
    assert.ok(head >= headBefore, `head ${head} went backwards from ${headBefore}`);
    const oldHead = await rpc(node.url, 'eth_getBlockByNumber', ['0x' + headBefore.toString(16), false]);
    assert.equal(oldHead.hash, headHashBefore, 'the committed head block is unchanged');

    for (const hash of hashes) {
      const r = await rpc(node.url, 'eth_getTransactionReceipt', [hash]);
      assert.ok(r, `receipt ${hash} survived`);
      assert.deepEqual(r, receipts.get(hash), `receipt ${hash} is identical`);
      const tx = await rpc(node.url, 'eth_getTransactionByHash', [hash]);
      assert.equal(tx.blockHash, r.blockHash);
      const block = await rpc(node.url, 'eth_getBlockByHash', [r.blockHash, false]);
      assert.ok(block.transactions.includes(hash));
    }
    for (const a of Object.keys(balancesBefore)) {
      assert.equal(await rpc(node.url, 'eth_getBalance', [a, 'latest']), balancesBefore[a], `balance of ${a}`);
      assert.equal(await rpc(node.url, 'eth_getTransactionCount', [a, 'latest']), noncesBefore[a], `nonce of ${a}`);
    }
    assert.equal(await rpc(node.url, 'eth_getCode', [token, 'latest']), tokenCode);
    assert.equal(await rpc(node.url, 'eth_getStorageAt', [token, slotKey(11n), 'latest']), slotBefore);
    // Logs are indexed durably too.
    const logs = await rpc(node.url, 'eth_getLogs', [{ address: token, fromBlock: '0x0', toBlock: 'latest' }]);
    assert.ok(logs.length >= 2, 'mint Transfer + SlotSet');
  });

  it('the chain continues: a new transaction commits on top of the old head', async () => {
    const v = viemClients(node);
    const to = randomAddress();
    const hash = await v.wallet(1).sendTransaction({ to, value: 42n });
    const r = await v.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(r.status, 'success');
    assert.ok(r.blockNumber > headBefore);
    assert.equal(await v.publicClient.getBalance({ address: to }), 42n);
    const b = await rpc(node.url, 'eth_getBlockByNumber', ['0x' + r.blockNumber.toString(16), false]);
    const parent = await rpc(node.url, 'eth_getBlockByNumber', ['0x' + (r.blockNumber - 1n).toString(16), false]);
    assert.equal(b.parentHash, parent.hash);
  });

  it('a graceful stop (SIGTERM) and restart also keeps everything', async () => {
    const headNow = await rpc(node.url, 'eth_getBlockByNumber', ['latest', false]);
    await node.restart(); // stop() sends SIGTERM
    const again = await rpc(node.url, 'eth_getBlockByNumber', [headNow.number, false]);
    assert.equal(again.hash, headNow.hash);
    for (const hash of hashes.slice(0, 5)) assert.ok(await rpc(node.url, 'eth_getTransactionReceipt', [hash]));
  });
});

/** TestToken's `slots` mapping is at storage slot 5. */
function slotKey(k) {
  return keccak256(encodeAbiParameters([{ type: 'uint256' }, { type: 'uint256' }], [k, 5n]));
}
