// eth_getProof: account and storage proofs against the latest state root and at past blocks.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { keccak256, toHex } from 'viem';
import { startNode } from '../lib/node.mjs';
import { viemClients, devAccount, deployTestToken, rpcResponse, assertRpcError, loadArtifact } from '../lib/util.mjs';

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

  it('at a past block: the proof is of that block\'s tries, with that block\'s values', async () => {
    const me = devAccount(0).address;
    const { abi } = loadArtifact('TestToken');
    const keys = [0, 1, 2, 3, 4, 5].map((i) => toHex(i, { size: 32 }));
    const past = await v.publicClient.getBlock();
    const before = await v.publicClient.getProof({ address: token, storageKeys: keys, blockNumber: past.number });
    // Move the token's state and the sender's account on: the past proof must not follow.
    for (let i = 0; i < 3; i++) {
      const hash = await v.wallet(0).writeContract({ address: token, abi, functionName: 'transfer', args: [devAccount(i + 1).address, 10n] });
      await v.publicClient.waitForTransactionReceipt({ hash });
    }
    const latest = await v.publicClient.getBlock();
    assert.ok(latest.number > past.number);
    for (const [address, storageKeys] of [[me, []], [token, keys], [devAccount(9).address, []]]) {
      const proof = await v.publicClient.getProof({ address, storageKeys, blockNumber: past.number });
      assert.equal(keccak256(proof.accountProof[0]), past.stateRoot, 'the root node is block N\'s state root');
      assert.equal(proof.balance, await v.publicClient.getBalance({ address, blockNumber: past.number }));
      assert.equal(proof.nonce, await v.publicClient.getTransactionCount({ address, blockNumber: past.number }));
      for (const p of proof.storageProof) {
        const then = await v.publicClient.getStorageAt({ address, slot: p.key, blockNumber: past.number });
        assert.equal(p.value, BigInt(then));
        if (p.proof.length > 0) assert.equal(keccak256(p.proof[0]), proof.storageHash);
      }
    }
    const now = await v.publicClient.getProof({ address: token, storageKeys: keys, blockNumber: latest.number });
    assert.equal(keccak256(now.accountProof[0]), latest.stateRoot);
    assert.notEqual(now.storageHash, before.storageHash, 'the token\'s storage moved on since');
    const again = await v.publicClient.getProof({ address: token, storageKeys: keys, blockNumber: past.number });
    assert.deepEqual(again, before, 'a past proof does not change as the chain grows');
  });

  it('a block that does not exist is refused', async () => {
    assertRpcError(
      await rpcResponse(node.url, 'eth_getProof', [devAccount(0).address, [], '0xffffff']),
      -32000,
      'header not found',
    );
  });
});
