// Confidential execution from viem with the JS SDK (sdk/js): the service identity from the
// node's attestation statement, the epoch key accepted only with its signature, an enveloped
// deployment and transfer sent by a viem wallet, their sealed results opened (return value,
// private logs), an enveloped eth_call, and the node's refusals.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodeDeployData, encodeFunctionData, decodeFunctionResult, toHex } from 'viem';
import { startNode } from '../lib/node.mjs';
import { viemClients, rpc, rpcResponse, loadArtifact, devAccount, MULTICALL3 } from '../lib/util.mjs';
import { verifyServiceStatement, verifyEncryptionKey, seal, openResult, bytesToHex } from '../../../sdk/js/src/index.mjs';

describe('confidential contracts from viem', () => {
  let node;
  before(async () => {
    node = await startNode();
  });
  after(async () => {
    await node?.destroy();
  });

  it('deploys, transacts and calls through envelopes; only the sender reads results', async () => {
    const v = viemClients(node);
    const wallet = v.wallet(0);
    const me = devAccount(0).address;
    const bundle = await (await fetch(`${node.url}/node/attestation`)).json();
    const identity = verifyServiceStatement(bundle);
    const key = await (await fetch(`${node.url}/v1/encryption-key`)).json();
    const { chainId, epoch, publicKey } = verifyEncryptionKey(key, identity);
    assert.throws(() => verifyEncryptionKey({ ...key, publicKey: bytesToHex(new Uint8Array(32).fill(9)) }, identity));

    const art = loadArtifact('TestToken');
    const init = encodeDeployData({ abi: art.abi, bytecode: art.bytecode, args: ['Sealed', 'SLD', 1000n] });
    let nonce = await v.publicClient.getTransactionCount({ address: me, blockTag: 'pending' });
    const deploy = await seal({
      publicKey, chainId, epoch, binding: { kind: 'tx', sender: me, to: null, nonce },
      plaintext: Buffer.from(init.slice(2), 'hex'),
    });
    const hash = await wallet.sendTransaction({ data: bytesToHex(deploy.envelope), gas: 3_000_000n, nonce });
    const receipt = await v.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.logs.length, 0, 'the mint event is private');
    const token = receipt.contractAddress;
    const sealed = await rpc(node.url, 'txnchain_getTransactionResult', [hash]);
    const deployed = openResult(deploy.resultKey, sealed.result);
    assert.equal(deployed.status, 1);
    assert.equal(deployed.logs.length, 1);
    assert.equal(deployed.logs[0].address.toLowerCase(), token.toLowerCase());

    const bob = devAccount(1).address;
    nonce += 1;
    const data = encodeFunctionData({ abi: art.abi, functionName: 'transfer', args: [bob, 7n] });
    const t = await seal({
      publicKey, chainId, epoch, binding: { kind: 'tx', sender: me, to: token, nonce },
      plaintext: Buffer.from(data.slice(2), 'hex'),
    });
    const th = await wallet.sendTransaction({ to: token, data: bytesToHex(t.envelope), gas: 200_000n, nonce });
    const tr = await v.publicClient.waitForTransactionReceipt({ hash: th });
    assert.equal(tr.status, 'success');
    assert.equal(tr.logs.length, 0);
    const res = openResult(t.resultKey, (await rpc(node.url, 'txnchain_getTransactionResult', [th])).result);
    assert.equal(decodeFunctionResult({ abi: art.abi, functionName: 'transfer', data: res.output }), true);
    assert.equal(res.logs.length, 1, 'the Transfer, privately');

    // An enveloped eth_call through viem: the answer is a sealed result.
    const q = encodeFunctionData({ abi: art.abi, functionName: 'balanceOf', args: [bob] });
    const c = await seal({
      publicKey, chainId, epoch, binding: { kind: 'call', from: me, to: token },
      plaintext: Buffer.from(q.slice(2), 'hex'),
    });
    const out = await v.publicClient.call({ account: me, to: token, data: bytesToHex(c.envelope) });
    const opened = openResult(c.resultKey, out.data);
    assert.equal(decodeFunctionResult({ abi: art.abi, functionName: 'balanceOf', data: opened.output }), 7n);

    // Storage is refused; a plaintext read of balanceOf(bob) runs as sender zero but is not
    // gated by this test token, so it answers — a contract must gate its own views.
    await assert.rejects(v.publicClient.getStorageAt({ address: token, slot: toHex(0, { size: 32 }) }),
      /confidential contract .*: eth_getStorageAt is not available/);
    // Nor can the dev chain's setup methods put in code that would read the state out.
    for (const [method, params] of [['anvil_setCode', [token, '0x00']], ['anvil_setStorageAt', [token, '0x0', toHex(1, { size: 32 })]]]) {
      const r = await rpcResponse(node.url, method, params);
      assert.equal(r.error?.code, -32000, `${method}: ${JSON.stringify(r)}`);
      assert.match(r.error.message, new RegExp(`confidential contract .*: ${method} is not available`));
    }
    // eth_simulateV1 answers logs and state effects: refused for a call to the contract, for
    // a state override of it, and for a call that reaches it through another contract.
    const mc = loadArtifact('Multicall3');
    const randomPublic = () => '0x' + [...crypto.getRandomValues(new Uint8Array(20))].map((b) => b.toString(16).padStart(2, '0')).join('');
    const viaMulticall = encodeFunctionData({
      abi: mc.abi, functionName: 'aggregate3', args: [[{ target: token, allowFailure: true, callData: q }]],
    });
    for (const payload of [
      { blockStateCalls: [{ calls: [{ from: me, to: token, data: q }] }] },
      { blockStateCalls: [{ stateOverrides: { [token]: { balance: '0x1' } }, calls: [] }] },
      { blockStateCalls: [{ calls: [{ from: me, to: MULTICALL3, data: viaMulticall }] }] },
    ]) {
      const r = await rpcResponse(node.url, 'eth_simulateV1', [payload, 'latest']);
      assert.equal(r.error?.code, -32000, JSON.stringify(r));
      assert.match(r.error.message, /confidential contract .*: eth_simulateV1 is not available/);
    }
    // Code overridden at an ordinary address (here the sender's own) could call the contract
    // as that address: a call with state overrides that reaches a confidential contract is
    // refused before the contract runs, in eth_call, eth_estimateGas and eth_simulateV1 alike.
    const multicallCode = await rpc(node.url, 'eth_getCode', [MULTICALL3, 'latest']);
    const asMe = { [me]: { code: multicallCode } };
    for (const [method, params] of [
      ['eth_call', [{ from: me, to: me, data: viaMulticall }, 'latest', asMe]],
      ['eth_estimateGas', [{ from: me, to: me, data: viaMulticall }, 'latest', asMe]],
      ['eth_simulateV1', [{ blockStateCalls: [{ stateOverrides: asMe, calls: [{ from: me, to: me, data: viaMulticall }] }] }, 'latest']],
    ]) {
      const r = await rpcResponse(node.url, method, params);
      assert.equal(r.error?.code, -32000, `${method}: ${JSON.stringify(r).slice(0, 300)}`);
      assert.match(r.error.message, new RegExp(`confidential contract .*: ${method} is not available`));
    }
    // Without the override the same eth_call is an ordinary public call.
    assert.ok((await rpcResponse(node.url, 'eth_call', [{ from: me, to: MULTICALL3, data: encodeFunctionData({
      abi: mc.abi, functionName: 'getBlockNumber', args: [] }) }, 'latest', { [randomPublic()]: { balance: '0x1' } }])).result);
    // The same call through Multicall3 to a public contract simulates.
    const ok = await rpc(node.url, 'eth_simulateV1', [{ blockStateCalls: [{ calls: [{ from: me, to: MULTICALL3, data: encodeFunctionData({
      abi: mc.abi, functionName: 'getBlockNumber', args: [] }) }] }] }, 'latest']);
    assert.equal(ok[0].calls[0].status, '0x1');
  });
});
