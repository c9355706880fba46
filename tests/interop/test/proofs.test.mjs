// eth_getProof: account and storage proofs against the latest state root.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { keccak256, toHex } from 'viem';
import { startNode } from '../lib/node.mjs';
import { viemClients, devAccount, deployTestToken, rpcResponse, assertRpcError } from '../lib/util.mjs';

describe('eth_getProof', () => {
  let node, v, token;
  before(async () => {
    node = await startNode();
    v = viemClients(node);
    token = (await deployTestToken(v.publicClient, v.wallet(0))).address;
  });
  after(async () => {
    await node?.destroy();
  });

  it('account proof: values match, the root node hashes to the block stateRoot', async () => {
    const address = devAccount(0).address;
    const block = await v.publicClient.getBlock();
    const proof = await v.publicClient.getProof({ address, storageKeys: [], blockNumber: block.number });
    assert.equal(proof.balance, await v.publicClient.getBalance({ address, blockNumber: block.number }));
    assert.equal(proof.nonce, await v.publicClient.getTransactionCount({ address, blockNumber: block.number }));
    assert.ok(proof.accountProof.length > 0);
    assert.equal(keccak256(proof.accountProof[0]), block.stateRoot);
  });

  it('storage proof of a contract slot hashes up to its storageHash', async () => {
    const block = await v.publicClient.getBlock();
    // TestToken's totalSupply is a non-zero slot; prove slots 0..4 and find it.
    const keys = [0, 1, 2, 3, 4].map((i) => toHex(i, { size: 32 }));
    const proof = await v.publicClient.getProof({ address: token, storageKeys: keys, blockNumber: block.number });
    assert.notEqual(proof.storageHash, '0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421');
    const nonZero = proof.storageProof.filter((p) => p.value !== 0n);
    assert.ok(nonZero.length > 0, 'some slot of the token is set');
    for (const p of proof.storageProof) {
      const onChain = await v.publicClient.getStorageAt({ address: token, slot: p.key });
      assert.equal(BigInt(onChain), p.value);
      assert.equal(keccak256(p.proof[0]), proof.storageHash);
    }
  });

  it('is refused for a past block', async () => {
    assertRpcError(
      await rpcResponse(node.url, 'eth_getProof', [devAccount(0).address, [], '0x0']),
      -32000,
      'eth_getProof is only available for the latest block',
    );
  });
});
