// Historical state: eth_getBalance / eth_getTransactionCount / eth_getCode / eth_call /
// eth_getStorageAt at an older block number and via EIP-1898 block objects
// ({blockNumber} / {blockHash} / requireCanonical).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFunctionData, decodeFunctionResult, keccak256, encodeAbiParameters, pad, toHex } from 'viem';
import { startNode } from '../lib/node.mjs';
import { viemClients, devAccount, rpc, rpcResponse, deployTestToken, randomAddress, DEV_BALANCE } from '../lib/util.mjs';

const hex = (n) => '0x' + BigInt(n).toString(16);

describe('historical state', () => {
  let node, v, token, abi;
  const who = randomAddress();
  // Block numbers / hashes at three points in time.
  let bEmpty, bDeployed, bSet;

  before(async () => {
    node = await startNode();
    v = viemClients(node);
    // bEmpty: before anything touches `who` or the token.
    const t0 = await v.wallet(1).sendTransaction({ to: randomAddress(), value: 1n });
    const r0 = await v.publicClient.waitForTransactionReceipt({ hash: t0 });
    bEmpty = { number: r0.blockNumber, hash: r0.blockHash };
    const d = await deployTestToken(v.publicClient, v.wallet(1));
    token = d.address;
    abi = d.abi;
    const h1 = await v.wallet(1).writeContract({ address: token, abi, functionName: 'setSlot', args: [7n, 100n] });
    const h1b = await v.wallet(1).sendTransaction({ to: who, value: 1000n });
    await v.publicClient.waitForTransactionReceipt({ hash: h1 });
    const r1 = await v.publicClient.waitForTransactionReceipt({ hash: h1b });
    bDeployed = { number: r1.blockNumber, hash: r1.blockHash };
    const h2 = await v.wallet(1).writeContract({ address: token, abi, functionName: 'setSlot', args: [7n, 200n] });
    const h2b = await v.wallet(1).sendTransaction({ to: who, value: 1000n });
    await v.publicClient.waitForTransactionReceipt({ hash: h2 });
    const r2 = await v.publicClient.waitForTransactionReceipt({ hash: h2b });
    bSet = { number: r2.blockNumber, hash: r2.blockHash };
    assert.ok(bEmpty.number < bDeployed.number && bDeployed.number < bSet.number);
  });
  after(async () => {
    await node?.destroy();
  });

  // slots mapping is at slot 5 of TestToken: slots[7] lives at keccak256(abi.encode(7, 5)).
  const slotKey = () => keccak256(encodeAbiParameters([{ type: 'uint256' }, { type: 'uint256' }], [7n, 5n]));
  const getSlotData = () => encodeFunctionData({ abi, functionName: 'getSlot', args: [7n] });
  const callAt = async (block) => {
    const out = await rpc(node.url, 'eth_call', [{ to: token, data: getSlotData() }, block]);
    return decodeFunctionResult({ abi, functionName: 'getSlot', data: out });
  };

  it('eth_getBalance at older block numbers', async () => {
    assert.equal(BigInt(await rpc(node.url, 'eth_getBalance', [who, hex(bEmpty.number)])), 0n);
    assert.equal(BigInt(await rpc(node.url, 'eth_getBalance', [who, hex(bDeployed.number)])), 1000n);
    assert.equal(BigInt(await rpc(node.url, 'eth_getBalance', [who, hex(bSet.number)])), 2000n);
    assert.equal(BigInt(await rpc(node.url, 'eth_getBalance', [who, 'latest'])), 2000n);
    assert.equal(BigInt(await rpc(node.url, 'eth_getBalance', [devAccount(1).address, '0x0'])), DEV_BALANCE);
    // viem forms
    assert.equal(await v.publicClient.getBalance({ address: who, blockNumber: bDeployed.number }), 1000n);
  });

  it('eth_getTransactionCount and eth_getCode at older blocks', async () => {
    const a = devAccount(1).address;
    const n0 = BigInt(await rpc(node.url, 'eth_getTransactionCount', [a, hex(bEmpty.number)]));
    const n2 = BigInt(await rpc(node.url, 'eth_getTransactionCount', [a, hex(bSet.number)]));
    assert.equal(n0, 1n);
    assert.equal(n2, 6n);
    assert.equal(await rpc(node.url, 'eth_getCode', [token, hex(bEmpty.number)]), '0x');
    assert.notEqual(await rpc(node.url, 'eth_getCode', [token, hex(bDeployed.number)]), '0x');
  });

  it('eth_call at older block numbers', async () => {
    assert.equal(await callAt(hex(bDeployed.number)), 100n);
    assert.equal(await callAt(hex(bSet.number)), 200n);
    assert.equal(await callAt('latest'), 200n);
    // Before the deployment there is no code: the call returns empty data.
    assert.equal(await rpc(node.url, 'eth_call', [{ to: token, data: getSlotData() }, hex(bEmpty.number)]), '0x');
    assert.equal(await v.publicClient.readContract({ address: token, abi, functionName: 'getSlot', args: [7n], blockNumber: bDeployed.number }), 100n);
  });

  it('eth_getStorageAt at older block numbers', async () => {
    const at = async (b) => BigInt(await rpc(node.url, 'eth_getStorageAt', [token, slotKey(), b]));
    assert.equal(await at(hex(bEmpty.number)), 0n);
    assert.equal(await at(hex(bDeployed.number)), 100n);
    assert.equal(await at(hex(bSet.number)), 200n);
    assert.equal(await at('latest'), 200n);
    // Slot 2 is totalSupply; plain slot index as a quantity and as 32 bytes.
    assert.equal(BigInt(await rpc(node.url, 'eth_getStorageAt', [token, '0x2', 'latest'])), 10n ** 24n);
    assert.equal(BigInt(await rpc(node.url, 'eth_getStorageAt', [token, pad(toHex(2n)), 'latest'])), 10n ** 24n);
    const vs = await v.publicClient.getStorageAt({ address: token, slot: slotKey(), blockNumber: bDeployed.number });
    assert.equal(BigInt(vs), 100n);
  });

  it('EIP-1898 block parameters: {blockHash}, {blockNumber}, requireCanonical', async () => {
    assert.equal(BigInt(await rpc(node.url, 'eth_getBalance', [who, { blockHash: bDeployed.hash }])), 1000n);
    assert.equal(BigInt(await rpc(node.url, 'eth_getBalance', [who, { blockNumber: hex(bDeployed.number) }])), 1000n);
    assert.equal(BigInt(await rpc(node.url, 'eth_getBalance', [who, { blockHash: bSet.hash, requireCanonical: true }])), 2000n);
    assert.equal(await callAt({ blockHash: bDeployed.hash }), 100n);
    assert.equal(await callAt({ blockHash: bSet.hash }), 200n);
    assert.equal(BigInt(await rpc(node.url, 'eth_getStorageAt', [token, slotKey(), { blockHash: bDeployed.hash }])), 100n);
    assert.equal(BigInt(await rpc(node.url, 'eth_getTransactionCount', [devAccount(1).address, { blockHash: bEmpty.hash }])), 1n);
    assert.notEqual(await rpc(node.url, 'eth_getCode', [token, { blockHash: bDeployed.hash }]), '0x');
    // viem's blockHash-less API does not expose EIP-1898 for getBalance; ethers accepts a block hash as blockTag.
    const unknown = await rpcResponse(node.url, 'eth_getBalance', [who, { blockHash: '0x' + 'ab'.repeat(32) }]);
    assert.ok(unknown.error, 'an unknown block hash is an error, not a zero balance');
    assert.ok(typeof unknown.error.message === 'string' && unknown.error.message.length > 0);
  });

  it('a block number beyond the head is an error or null, never a stale answer', async () => {
    const head = BigInt(await rpc(node.url, 'eth_blockNumber'));
    const res = await rpcResponse(node.url, 'eth_getBalance', [who, hex(head + 1000n)]);
    assert.ok(res.error, `expected an error for a future block, got ${JSON.stringify(res.result)}`);
  });
});
