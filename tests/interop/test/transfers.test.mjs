// Native transfers with viem (EIP-1559, EIP-2930) and ethers v6 (legacy type 0 with
// EIP-155, type 2): receipts, exact balance changes, nonces, eth_sendRawTransactionSync.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseEther, parseGwei, keccak256, getAddress } from 'viem';
import { startNode } from '../lib/node.mjs';
import {
  CHAIN_ID,
  BASE_FEE,
  viemClients,
  ethersProvider,
  ethersWallet,
  devAccount,
  rpc,
  randomAddress,
  ethers,
} from '../lib/util.mjs';

describe('native transfers', () => {
  let node, v, provider;

  before(async () => {
    node = await startNode();
    v = viemClients(node);
    provider = ethersProvider(node);
  });
  after(async () => {
    provider?.destroy();
    await node?.destroy();
  });

  /** Asserts exact balance accounting for a mined transfer `receipt` of `value` from `from` to `to`. */
  async function assertAccounting({ receipt, from, to, value, fromBefore, toBefore }) {
    const block = await v.publicClient.getBlock({ blockNumber: receipt.blockNumber });
    const fee = receipt.gasUsed * receipt.effectiveGasPrice;
    // If the sender happens to be the fee beneficiary it gets the priority part back.
    const tipBack = getAddress(block.miner) === getAddress(from) ? receipt.gasUsed * (receipt.effectiveGasPrice - block.baseFeePerGas) : 0n;
    const fromAfter = await v.publicClient.getBalance({ address: from, blockNumber: receipt.blockNumber });
    const toAfter = await v.publicClient.getBalance({ address: to, blockNumber: receipt.blockNumber });
    assert.equal(fromBefore - fromAfter, value + fee - tipBack, 'sender pays value + gasUsed * effectiveGasPrice');
    assert.equal(toAfter - toBefore, value, 'recipient receives value');
  }

  it('viem EIP-1559 transfer: receipt, effective gas price, exact balances, nonce', async () => {
    const from = devAccount(1).address;
    const to = randomAddress();
    const value = parseEther('1.5');
    const nonceBefore = await v.publicClient.getTransactionCount({ address: from });
    const fromBefore = await v.publicClient.getBalance({ address: from });
    const hash = await v.wallet(1).sendTransaction({
      to,
      value,
      maxFeePerGas: parseGwei('3'),
      maxPriorityFeePerGas: parseGwei('1'),
    });
    const receipt = await v.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.type, 'eip1559');
    assert.equal(receipt.gasUsed, 21000n);
    assert.equal(receipt.cumulativeGasUsed >= receipt.gasUsed, true);
    assert.equal(receipt.effectiveGasPrice, BASE_FEE + parseGwei('1'), 'min(maxFee, baseFee + tip)');
    assert.equal(getAddress(receipt.from), from);
    assert.equal(getAddress(receipt.to), to);
    assert.equal(receipt.contractAddress, null);
    assert.equal(receipt.logs.length, 0);
    await assertAccounting({ receipt, from, to, value, fromBefore, toBefore: 0n });
    assert.equal(await v.publicClient.getTransactionCount({ address: from }), nonceBefore + 1);

    const tx = await v.publicClient.getTransaction({ hash });
    assert.equal(tx.type, 'eip1559');
    assert.equal(tx.nonce, nonceBefore);
    assert.equal(tx.value, value);
    assert.equal(tx.chainId, CHAIN_ID);
    assert.equal(tx.blockHash, receipt.blockHash);
    assert.equal(tx.transactionIndex, receipt.transactionIndex);
  });

  it('viem EIP-2930 transfer with an access list', async () => {
    const to = randomAddress();
    const hash = await v.wallet(1).sendTransaction({
      type: 'eip2930',
      to,
      value: 1n,
      gasPrice: parseGwei('2'),
      accessList: [],
    });
    const receipt = await v.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.type, 'eip2930');
    assert.equal(receipt.effectiveGasPrice, parseGwei('2'));
    assert.equal(await v.publicClient.getBalance({ address: to }), 1n);
  });

  it('ethers legacy (type 0, EIP-155) transfer', async () => {
    const wallet = ethersWallet(2, provider);
    const to = randomAddress();
    const value = ethers.parseEther('0.25');
    const fromBefore = await provider.getBalance(wallet.address);
    const nonceBefore = await provider.getTransactionCount(wallet.address);
    const sent = await wallet.sendTransaction({ type: 0, to, value, gasPrice: parseGwei('2') });
    const receipt = await sent.wait(1, 30_000);
    assert.equal(receipt.status, 1);
    assert.equal(receipt.type, 0);
    assert.equal(receipt.gasUsed, 21000n);
    assert.equal(receipt.gasPrice, parseGwei('2'), 'legacy effective gas price = gasPrice');
    const raw = await rpc(node.url, 'eth_getTransactionByHash', [sent.hash]);
    assert.equal(raw.type, '0x0');
    assert.equal(BigInt(raw.chainId), BigInt(CHAIN_ID));
    const v155 = BigInt(raw.v);
    assert.ok(v155 === BigInt(CHAIN_ID) * 2n + 35n || v155 === BigInt(CHAIN_ID) * 2n + 36n, `EIP-155 v, got ${raw.v}`);
    await assertAccounting({
      receipt: { blockNumber: BigInt(receipt.blockNumber), gasUsed: receipt.gasUsed, effectiveGasPrice: receipt.gasPrice },
      from: wallet.address,
      to,
      value,
      fromBefore,
      toBefore: 0n,
    });
    assert.equal(await provider.getTransactionCount(wallet.address), nonceBefore + 1);
  });

  it('ethers type 2 transfer', async () => {
    const wallet = ethersWallet(2, provider);
    const to = randomAddress();
    const sent = await wallet.sendTransaction({ to, value: 12345n });
    assert.equal(sent.type, 2);
    const receipt = await sent.wait(1, 30_000);
    assert.equal(receipt.status, 1);
    assert.equal(receipt.type, 2);
    assert.ok(receipt.gasPrice >= BASE_FEE);
    assert.equal(await provider.getBalance(to), 12345n);
    const fetched = await provider.getTransaction(sent.hash);
    assert.equal(fetched.hash, sent.hash);
    assert.equal(fetched.blockNumber, receipt.blockNumber);
  });

  it('nonces: latest and pending counts, sequential sends from one account', async () => {
    const acct = devAccount(3);
    const start = await v.publicClient.getTransactionCount({ address: acct.address });
    const hashes = [];
    for (let i = 0; i < 5; i++) {
      const raw = await acct.signTransaction({
        chainId: CHAIN_ID,
        type: 'eip1559',
        nonce: start + i,
        to: randomAddress(),
        value: 1n,
        gas: 21000n,
        maxFeePerGas: parseGwei('2'),
        maxPriorityFeePerGas: 0n,
      });
      hashes.push(await rpc(node.url, 'eth_sendRawTransaction', [raw]));
      assert.equal(hashes[i], keccak256(raw), 'eth_sendRawTransaction returns the transaction hash');
    }
    const pending = await v.publicClient.getTransactionCount({ address: acct.address, blockTag: 'pending' });
    assert.ok(pending >= start + 5, `pending nonce ${pending} counts pooled transactions`);
    for (const hash of hashes) {
      const r = await v.publicClient.waitForTransactionReceipt({ hash });
      assert.equal(r.status, 'success');
    }
    assert.equal(await v.publicClient.getTransactionCount({ address: acct.address }), start + 5);
    assert.equal(await v.publicClient.getTransactionCount({ address: acct.address, blockTag: 'pending' }), start + 5);
  });

  it('eth_sendRawTransactionSync returns the receipt of the committed transaction', async () => {
    const acct = devAccount(4);
    const to = randomAddress();
    const nonce = await v.publicClient.getTransactionCount({ address: acct.address });
    const raw = await acct.signTransaction({
      chainId: CHAIN_ID,
      type: 'eip1559',
      nonce,
      to,
      value: 777n,
      gas: 21000n,
      maxFeePerGas: parseGwei('2'),
      maxPriorityFeePerGas: parseGwei('1'),
    });
    const t0 = Date.now();
    const receipt = await rpc(node.url, 'eth_sendRawTransactionSync', [raw]);
    const elapsed = Date.now() - t0;
    assert.equal(receipt.transactionHash, keccak256(raw));
    assert.equal(receipt.status, '0x1');
    assert.ok(BigInt(receipt.blockNumber) > 0n);
    assert.match(receipt.blockHash, /^0x[0-9a-f]{64}$/);
    assert.equal(BigInt(receipt.gasUsed), 21000n);
    // The receipt is already committed: the standard lookups agree with it.
    const again = await rpc(node.url, 'eth_getTransactionReceipt', [receipt.transactionHash]);
    assert.equal(again.blockHash, receipt.blockHash);
    assert.equal(await v.publicClient.getBalance({ address: to }), 777n);
    assert.ok(elapsed < 5000, `sync send took ${elapsed} ms`);

    // viem's own action for EIP-7966.
    const raw2 = await acct.signTransaction({
      chainId: CHAIN_ID,
      type: 'eip1559',
      nonce: nonce + 1,
      to,
      value: 1n,
      gas: 21000n,
      maxFeePerGas: parseGwei('2'),
      maxPriorityFeePerGas: 0n,
    });
    const r2 = await v.wallet(4).sendRawTransactionSync({ serializedTransaction: raw2 });
    assert.equal(r2.status, 'success');
    assert.equal(r2.transactionHash, keccak256(raw2));
  });
});
