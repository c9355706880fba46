// eth_call state overrides (geth's third parameter): code, balance, nonce, state and stateDiff.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFunctionData, decodeFunctionResult, toHex } from 'viem';
import { startNode } from '../lib/node.mjs';
import { rpc, rpcResponse, assertRpcError, randomAddress, loadArtifact, MULTICALL3 } from '../lib/util.mjs';

// Returns storage slot 0: PUSH1 0 SLOAD PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
const RETURN_SLOT0 = '0x60005460005260206000f3';
const slot = (n) => toHex(n, { size: 32 });

describe('eth_call state overrides', () => {
  let node;
  before(async () => {
    node = await startNode();
  });
  after(async () => {
    await node?.destroy();
  });

  it('code + stateDiff: the call sees the overridden code and slot, and nothing is written', async () => {
    const target = randomAddress();
    const call = { to: target, data: '0x' };
    const out = await rpc(node.url, 'eth_call', [call, 'latest', { [target]: { code: RETURN_SLOT0, stateDiff: { [slot(0)]: slot(42) } } }]);
    assert.equal(BigInt(out), 42n);
    assert.equal(await rpc(node.url, 'eth_getCode', [target, 'latest']), '0x');
    assert.equal(await rpc(node.url, 'eth_call', [call, 'latest']), '0x');
  });

  it('balance override is visible to contracts', async () => {
    const mc = loadArtifact('Multicall3');
    const who = randomAddress();
    const data = encodeFunctionData({ abi: mc.abi, functionName: 'getEthBalance', args: [who] });
    const out = await rpc(node.url, 'eth_call', [{ to: MULTICALL3, data }, 'latest', { [who]: { balance: '0x1234' } }]);
    assert.equal(decodeFunctionResult({ abi: mc.abi, functionName: 'getEthBalance', data: out }), 0x1234n);
  });

  it('state replaces all storage; state together with stateDiff is refused', async () => {
    const target = randomAddress();
    const out = await rpc(node.url, 'eth_call', [{ to: target }, 'latest', { [target]: { code: RETURN_SLOT0, state: { [slot(0)]: slot(7) } } }]);
    assert.equal(BigInt(out), 7n);
    assertRpcError(
      await rpcResponse(node.url, 'eth_call', [
        { to: target },
        'latest',
        { [target]: { code: RETURN_SLOT0, state: { [slot(0)]: slot(1) }, stateDiff: { [slot(0)]: slot(2) } } },
      ]),
      -32000,
      'account',
    );
  });
});
