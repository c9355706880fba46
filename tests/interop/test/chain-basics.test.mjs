// Chain basics: chain id, block number, dev accounts and balances, blocks (full and
// hashes only), block tags, fee history, gas price.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseEther, getAddress, createWalletClient, keccak256 } from 'viem';
import { startNode } from '../lib/node.mjs';
import {
  CHAIN_ID,
  BASE_FEE,
  DEV_ADDRESSES,
  DEV_BALANCE,
  ZERO_HASH,
  viemClients,
  ethersProvider,
  rpc,
  randomAddress,
} from '../lib/util.mjs';

// Roots of empty structures, as Ethereum defines them.
const EMPTY_TRIE_ROOT = '0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421';
const EMPTY_REQUESTS_HASH = '0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('chain basics', () => {
  let node, v, provider, txHash, txBlock;

  before(async () => {
    node = await startNode();
    v = viemClients(node);
    provider = ethersProvider(node);
    // One transaction so that there is a non-genesis block with a transaction in it.
    txHash = await v.wallet(1).sendTransaction({ to: randomAddress(), value: parseEther('1') });
    const r = await v.publicClient.waitForTransactionReceipt({ hash: txHash });
    txBlock = r.blockNumber;
  });
  after(async () => {
    provider?.destroy();
    await node?.destroy();
  });

  it('eth_chainId / net_version / web3_clientVersion / eth_syncing', async () => {
    assert.equal(await rpc(node.url, 'eth_chainId'), '0x' + CHAIN_ID.toString(16));
    assert.equal(await v.publicClient.getChainId(), CHAIN_ID);
    assert.equal((await provider.getNetwork()).chainId, BigInt(CHAIN_ID));
    assert.equal(await rpc(node.url, 'net_version'), String(CHAIN_ID));
    const cv = await rpc(node.url, 'web3_clientVersion');
    assert.equal(typeof cv, 'string');
    assert.ok(cv.length > 0);
    assert.equal(await rpc(node.url, 'eth_syncing'), false);
    assert.equal(await rpc(node.url, 'net_listening'), true);
    assert.equal(
      await rpc(node.url, 'web3_sha3', ['0x68656c6c6f20776f726c64']),
      '0x47173285a8d7341e5e972fc677286384f802f8ef42a5ec5f03bbfa254cb01fad',
    );
  });

  it('eth_blockNumber advances with a transaction', async () => {
    const n = await v.publicClient.getBlockNumber({ cacheTime: 0 });
    assert.ok(n >= txBlock && txBlock >= 1n, `blockNumber ${n}, tx block ${txBlock}`);
    assert.equal(BigInt(await provider.getBlockNumber()), n);
  });

  it('eth_accounts returns the 10 dev accounts in derivation order', async () => {
    const accounts = await rpc(node.url, 'eth_accounts');
    assert.equal(accounts.length, 10);
    assert.deepEqual(accounts.map((a) => getAddress(a)), DEV_ADDRESSES);
    assert.equal(getAddress(accounts[0]), '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
    // viem's getAddresses on a wallet client without a local account asks eth_accounts.
    const jsonRpcWallet = createWalletClient({ chain: v.chain, transport: v.transport });
    assert.deepEqual((await jsonRpcWallet.getAddresses()).map((a) => getAddress(a)), DEV_ADDRESSES);
  });

  it('every dev account holds 10,000 ETH at genesis', async () => {
    for (const a of DEV_ADDRESSES) {
      assert.equal(await v.publicClient.getBalance({ address: a, blockNumber: 0n }), DEV_BALANCE, a);
      assert.equal(await provider.getBalance(a, 0), DEV_BALANCE, a);
      assert.equal(await v.publicClient.getBalance({ address: a, blockTag: 'earliest' }), DEV_BALANCE, a);
    }
    // Accounts that have not transacted still hold it at latest.
    assert.equal(await v.publicClient.getBalance({ address: DEV_ADDRESSES[9] }), DEV_BALANCE);
    assert.equal(await v.publicClient.getTransactionCount({ address: DEV_ADDRESSES[9] }), 0);
    assert.equal(await v.publicClient.getBalance({ address: randomAddress() }), 0n);
  });

  it('genesis block', async () => {
    const g = await v.publicClient.getBlock({ blockNumber: 0n });
    assert.equal(g.number, 0n);
    assert.equal(g.parentHash, ZERO_HASH);
    assert.equal(g.transactions.length, 0);
    assert.match(g.hash, /^0x[0-9a-f]{64}$/);
    assert.match(g.stateRoot, /^0x[0-9a-f]{64}$/);
    const byHash = await v.publicClient.getBlock({ blockHash: g.hash });
    assert.equal(byHash.number, 0n);
  });

  it('eth_getBlockByNumber: hashes only and full transactions; Prague header fields', async () => {
    const hashesOnly = await rpc(node.url, 'eth_getBlockByNumber', ['0x' + txBlock.toString(16), false]);
    assert.ok(hashesOnly, 'block not found');
    assert.ok(hashesOnly.transactions.includes(txHash), 'hashes-only block lists the transaction hash');
    assert.ok(hashesOnly.transactions.every((t) => typeof t === 'string'));
    const full = await rpc(node.url, 'eth_getBlockByNumber', ['0x' + txBlock.toString(16), true]);
    const tx = full.transactions.find((t) => t.hash === txHash);
    assert.ok(tx, 'full block contains the transaction object');
    assert.equal(tx.blockHash, full.hash);
    assert.equal(BigInt(tx.blockNumber), txBlock);
    assert.equal(tx.from.toLowerCase(), DEV_ADDRESSES[1].toLowerCase());
    assert.equal(full.hash, hashesOnly.hash);

    for (const f of ['hash', 'parentHash', 'stateRoot', 'transactionsRoot', 'receiptsRoot', 'mixHash', 'sha3Uncles']) {
      assert.match(full[f], /^0x[0-9a-f]{64}$/, f);
    }
    assert.match(full.logsBloom, /^0x[0-9a-f]{512}$/);
    assert.notEqual(full.transactionsRoot, EMPTY_TRIE_ROOT, 'a block with a transaction has a non-empty transactionsRoot');
    assert.equal(BigInt(full.baseFeePerGas), BASE_FEE, 'fixed base fee of 1 gwei');
    assert.ok(BigInt(full.gasLimit) > 0n);
    assert.ok(BigInt(full.gasUsed) >= 21000n);
    assert.equal(full.withdrawalsRoot, EMPTY_TRIE_ROOT);
    assert.equal(BigInt(full.blobGasUsed), 0n);
    assert.equal(BigInt(full.excessBlobGas), 0n);
    assert.equal(full.parentBeaconBlockRoot, ZERO_HASH);
    assert.equal(full.requestsHash, EMPTY_REQUESTS_HASH);

    const parent = await rpc(node.url, 'eth_getBlockByNumber', ['0x' + (txBlock - 1n).toString(16), false]);
    assert.equal(full.parentHash, parent.hash);
    assert.ok(BigInt(full.timestamp) >= BigInt(parent.timestamp));

    // viem and ethers parse the same block.
    const vb = await v.publicClient.getBlock({ blockNumber: txBlock, includeTransactions: true });
    assert.equal(vb.hash, full.hash);
    assert.equal(vb.transactions[0].hash, full.transactions[0].hash);
    const eb = await provider.getBlock(Number(txBlock), true);
    assert.equal(eb.hash, full.hash);
    assert.equal(eb.prefetchedTransactions.length, full.transactions.length);
  });

  it('block lookups by hash, transaction count, transaction by index, block receipts', async () => {
    const b = await v.publicClient.getBlock({ blockNumber: txBlock });
    const byHash = await rpc(node.url, 'eth_getBlockByHash', [b.hash, false]);
    assert.equal(BigInt(byHash.number), txBlock);
    assert.equal(BigInt(await rpc(node.url, 'eth_getBlockTransactionCountByNumber', ['0x' + txBlock.toString(16)])), BigInt(b.transactions.length));
    assert.equal(BigInt(await rpc(node.url, 'eth_getBlockTransactionCountByHash', [b.hash])), BigInt(b.transactions.length));
    const idx = b.transactions.indexOf(txHash);
    const t1 = await rpc(node.url, 'eth_getTransactionByBlockNumberAndIndex', ['0x' + txBlock.toString(16), '0x' + idx.toString(16)]);
    const t2 = await rpc(node.url, 'eth_getTransactionByBlockHashAndIndex', [b.hash, '0x' + idx.toString(16)]);
    assert.equal(t1.hash, txHash);
    assert.equal(t2.hash, txHash);
    // The raw forms: the EIP-2718 bytes, which hash to the transaction's hash.
    const raw = await rpc(node.url, 'eth_getRawTransactionByHash', [txHash]);
    assert.equal(keccak256(raw), txHash);
    assert.equal(await rpc(node.url, 'eth_getRawTransactionByBlockNumberAndIndex', ['0x' + txBlock.toString(16), '0x' + idx.toString(16)]), raw);
    assert.equal(await rpc(node.url, 'eth_getRawTransactionByBlockHashAndIndex', [b.hash, '0x' + idx.toString(16)]), raw);
    assert.equal(await rpc(node.url, 'eth_getRawTransactionByBlockNumberAndIndex', ['0x' + txBlock.toString(16), '0x99']), null);
    assert.equal(await rpc(node.url, 'eth_getRawTransactionByBlockHashAndIndex', ['0x' + '12'.repeat(32), '0x0']), null);
    const receipts = await rpc(node.url, 'eth_getBlockReceipts', ['0x' + txBlock.toString(16)]);
    assert.equal(receipts.length, b.transactions.length);
    assert.equal(receipts[idx].transactionHash, txHash);
    assert.equal(receipts[idx].status, '0x1');
    // Unknown block → null, as geth.
    assert.equal(await rpc(node.url, 'eth_getBlockByNumber', ['0xffffffff', false]), null);
    assert.equal(await rpc(node.url, 'eth_getBlockByHash', ['0x' + '12'.repeat(32), false]), null);
    assert.equal(await rpc(node.url, 'eth_getTransactionByHash', ['0x' + '34'.repeat(32)]), null);
    assert.equal(await rpc(node.url, 'eth_getTransactionReceipt', ['0x' + '34'.repeat(32)]), null);
  });

  it('latest = safe = finalized (every committed block is final)', async () => {
    const [latest, safe, finalized] = await Promise.all(
      ['latest', 'safe', 'finalized'].map((t) => rpc(node.url, 'eth_getBlockByNumber', [t, false])),
    );
    // A block could commit between the three reads only if something sends transactions; nothing does here.
    assert.equal(safe.hash, latest.hash);
    assert.equal(finalized.hash, latest.hash);
    const earliest = await rpc(node.url, 'eth_getBlockByNumber', ['earliest', false]);
    assert.equal(BigInt(earliest.number), 0n);
    const pending = await rpc(node.url, 'eth_getBlockByNumber', ['pending', false]);
    assert.ok(pending === null || BigInt(pending.number) >= BigInt(latest.number));
  });

  it('eth_feeHistory: fixed base fee, ratios and rewards', async () => {
    const head = await v.publicClient.getBlockNumber({ cacheTime: 0 });
    const count = Number(head < 4n ? head : 4n);
    const fh = await rpc(node.url, 'eth_feeHistory', ['0x' + count.toString(16), 'latest', [25, 75]]);
    assert.equal(BigInt(fh.oldestBlock), head - BigInt(count) + 1n);
    assert.equal(fh.baseFeePerGas.length, count + 1, 'baseFeePerGas has blockCount + 1 entries');
    for (const b of fh.baseFeePerGas) assert.equal(BigInt(b), BASE_FEE);
    assert.equal(fh.gasUsedRatio.length, count);
    for (const r of fh.gasUsedRatio) assert.ok(r >= 0 && r <= 1);
    assert.equal(fh.reward.length, count);
    for (const r of fh.reward) assert.equal(r.length, 2);
    // viem's fee estimation works on top of it.
    const fees = await v.publicClient.estimateFeesPerGas();
    assert.ok(fees.maxFeePerGas >= BASE_FEE);
    const efh = await v.publicClient.getFeeHistory({ blockCount: 1, rewardPercentiles: [50] });
    assert.equal(efh.baseFeePerGas.length, 2);
  });

  it('eth_gasPrice and eth_maxPriorityFeePerGas', async () => {
    const gp = BigInt(await rpc(node.url, 'eth_gasPrice'));
    assert.ok(gp >= BASE_FEE, `gasPrice ${gp} must cover the base fee`);
    const tip = BigInt(await rpc(node.url, 'eth_maxPriorityFeePerGas'));
    assert.ok(tip >= 0n);
    const fd = await provider.getFeeData();
    assert.ok(fd.gasPrice >= BASE_FEE);
    assert.ok(fd.maxFeePerGas >= BASE_FEE);
  });
});
