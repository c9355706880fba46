// The dev chain as test suites use it: automine (a send answers once its transaction is
// committed, so the receipt and the new state are there when the hash comes back), manual
// mining (evm_setAutomine(false) + evm_mine), anvil_mine / hardhat_mine, time travel
// (evm_increaseTime, evm_setNextBlockTimestamp), snapshots (evm_snapshot / evm_revert), state
// setup (anvil_setBalance, …), --no-automine and --client-version.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createWalletClient, http, parseEther, toHex } from 'viem';
import { startNode } from '../lib/node.mjs';
import {
  DEV_ADDRESSES,
  viemClients,
  txnchainChain,
  ethersProvider,
  ethersWallet,
  rpc,
  rpcResponse,
  assertRpcError,
  randomAddress,
  deployTestToken,
  waitFor,
  ethers,
} from '../lib/util.mjs';

describe('txnchain dev: automine', () => {
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

  it('answers hardhat_getAutomine and anvil_getAutomine with true', async () => {
    assert.equal(await rpc(node.url, 'hardhat_getAutomine', []), true);
    assert.equal(await rpc(node.url, 'anvil_getAutomine', []), true);
  });

  it('eth_sendRawTransaction (viem, local key): the receipt and the new balance are there when the hash comes back, 20 of 20', async () => {
    const wallet = v.wallet(1);
    for (let i = 0; i < 20; i++) {
      const to = randomAddress();
      const hash = await wallet.sendTransaction({ to, value: BigInt(i + 1) });
      // No waiting: read right after the send.
      const receipt = await rpc(node.url, 'eth_getTransactionReceipt', [hash]);
      assert.ok(receipt, `send ${i}: no receipt right after the hash came back`);
      assert.equal(receipt.status, '0x1');
      assert.equal(await v.publicClient.getBalance({ address: to }), BigInt(i + 1), `send ${i}: old balance`);
    }
  });

  it('eth_sendTransaction (dev account, JSON-RPC signer): committed when it answers', async () => {
    const to = randomAddress();
    const hash = await rpc(node.url, 'eth_sendTransaction', [{ from: DEV_ADDRESSES[2], to, value: toHex(parseEther('1')) }]);
    assert.ok(await rpc(node.url, 'eth_getTransactionReceipt', [hash]), 'no receipt right after eth_sendTransaction');
    assert.equal(await v.publicClient.getBalance({ address: to }), parseEther('1'));
  });

  it("ethers v6: `await token.transfer()` then `balanceOf` sees the new balance, and the receipt is there", async () => {
    const { address, abi } = await deployTestToken(v.publicClient, v.wallet(3));
    const token = new ethers.Contract(address, abi, ethersWallet(3, provider));
    for (let i = 1; i <= 5; i++) {
      const to = randomAddress();
      const tx = await token.transfer(to, i);
      assert.equal(await token.balanceOf(to), BigInt(i), `transfer ${i}: balanceOf right after the send`);
      const receipt = await provider.getTransactionReceipt(tx.hash);
      assert.ok(receipt, `transfer ${i}: receipt should not be null`);
      assert.equal(receipt.logs.length, 1, 'the Transfer event');
    }
  });

  it('a transaction behind a nonce gap answers at once with its hash and stays pending', async () => {
    const wallet = v.wallet(4);
    const nonce = await v.publicClient.getTransactionCount({ address: DEV_ADDRESSES[4] });
    const started = Date.now();
    const hash = await wallet.sendTransaction({ to: randomAddress(), value: 1n, nonce: nonce + 1 });
    assert.ok(Date.now() - started < 5_000, 'a gapped send waited for a block');
    assert.equal(await rpc(node.url, 'eth_getTransactionReceipt', [hash]), null);
    // Filling the gap mines both.
    await wallet.sendTransaction({ to: randomAddress(), value: 1n, nonce });
    await waitFor(async () => (await rpc(node.url, 'eth_getTransactionReceipt', [hash])) !== null, { what: 'the gapped transaction mined' });
  });
});

describe('txnchain dev: manual mining and time travel', () => {
  let node, v;

  before(async () => {
    node = await startNode();
    v = viemClients(node);
  });
  after(async () => {
    await node?.destroy();
  });

  const latest = () => v.publicClient.getBlock({ blockTag: 'latest' });

  it('evm_setAutomine(false): sends answer at admission, nothing is mined until evm_mine, which takes them all in one block', async () => {
    assert.equal(await rpc(node.url, 'evm_setAutomine', [false]), null);
    assert.equal(await rpc(node.url, 'hardhat_getAutomine', []), false);
    const before = await v.publicClient.getBlockNumber();
    const wallet = v.wallet(5);
    const hashes = [];
    for (let i = 0; i < 3; i++) hashes.push(await wallet.sendTransaction({ to: randomAddress(), value: 1n }));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await v.publicClient.getBlockNumber(), before, 'a block was mined with automine off');
    for (const h of hashes) assert.equal(await rpc(node.url, 'eth_getTransactionReceipt', [h]), null);
    assert.equal(await rpc(node.url, 'evm_mine', []), '0x0');
    const block = await latest();
    assert.equal(block.number, before + 1n);
    assert.deepEqual(block.transactions, hashes);
    assert.equal(await rpc(node.url, 'evm_setAutomine', [true]), null);
    assert.equal(await rpc(node.url, 'anvil_getAutomine', []), true);
  });

  it('anvil_mine(n, interval) and hardhat_mine(n) mine n empty blocks, interval seconds apart', async () => {
    const start = await latest();
    assert.equal(await rpc(node.url, 'anvil_mine', ['0x5', '0xc']), null);
    const after5 = await latest();
    assert.equal(after5.number, start.number + 5n);
    let prev = null;
    for (let n = start.number + 1n; n <= after5.number; n++) {
      const b = await v.publicClient.getBlock({ blockNumber: n });
      assert.equal(b.transactions.length, 0);
      if (prev) assert.equal(b.timestamp - prev.timestamp, 12n, `block ${n}`);
      prev = b;
    }
    await rpc(node.url, 'hardhat_mine', ['0x3']);
    assert.equal((await latest()).number, after5.number + 3n);
    // evm_mine with options (ganache's shape): several blocks at once.
    await rpc(node.url, 'evm_mine', [{ blocks: 2 }]);
    assert.equal((await latest()).number, after5.number + 5n);
    assertRpcError(await rpcResponse(node.url, 'anvil_mine', ['0x2711']), -32602, 'too many blocks');
  });

  it('evm_increaseTime moves the next block forward; evm_setNextBlockTimestamp and evm_mine(timestamp) set it exactly', async () => {
    const t0 = (await latest()).timestamp;
    const offset = await rpc(node.url, 'evm_increaseTime', [3600]);
    assert.ok(offset >= 3600, `offset ${offset}`);
    await rpc(node.url, 'evm_mine', []);
    const t1 = (await latest()).timestamp;
    assert.ok(t1 >= t0 + 3600n, `${t1} < ${t0} + 3600`);

    const exact = t1 + 86_400n;
    assert.equal(await rpc(node.url, 'evm_setNextBlockTimestamp', [toHex(exact)]), null);
    // The next block — here mined by a transaction under automine — gets exactly that time.
    const hash = await v.wallet(6).sendTransaction({ to: randomAddress(), value: 1n });
    const receipt = await v.publicClient.getTransactionReceipt({ hash });
    assert.equal((await v.publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp, exact);
    // A call "now" runs in the next block, after the pinned time.
    const next = exact + 1000n;
    await rpc(node.url, 'evm_mine', [Number(next)]);
    assert.equal((await latest()).timestamp, next);
    // Time never goes back.
    assertRpcError(await rpcResponse(node.url, 'evm_setNextBlockTimestamp', [Number(t0)]), -32000, 'Timestamp');
    assertRpcError(await rpcResponse(node.url, 'evm_mine', [Number(t0)]), -32000, 'Timestamp');
    assert.ok((await latest()).timestamp >= next);
  });
});

// The head from the node itself (viem's getBlockNumber answers from a cache for a while).
const blockNumber = async (node) => BigInt(await rpc(node.url, 'eth_blockNumber', []));

describe('txnchain dev: evm_snapshot / evm_revert', () => {
  let node, v;

  before(async () => {
    node = await startNode();
    v = viemClients(node);
  });
  after(async () => {
    await node?.destroy();
  });

  it('a revert brings back blocks, balances, contract storage, nonces and time, and spends the snapshot and the later ones', async () => {
    const wallet = v.wallet(7);
    const { address, abi } = await deployTestToken(v.publicClient, wallet);
    const token = { address, abi };
    const holder = randomAddress();
    const balanceOf = (who) => v.publicClient.readContract({ ...token, functionName: 'balanceOf', args: [who] });
    const head = await v.publicClient.getBlock({ blockTag: 'latest' });
    const nonce = await v.publicClient.getTransactionCount({ address: DEV_ADDRESSES[7] });

    const first = await rpc(node.url, 'evm_snapshot', []);
    assert.match(first, /^0x[0-9a-f]+$/);
    const hash = await wallet.writeContract({ ...token, functionName: 'transfer', args: [holder, 7n] });
    const second = await rpc(node.url, 'evm_snapshot', []);
    assert.notEqual(second, first);
    await rpc(node.url, 'evm_increaseTime', [30 * 86_400]);
    await rpc(node.url, 'anvil_mine', ['0x3']);
    assert.equal(await balanceOf(holder), 7n);

    assert.equal(await rpc(node.url, 'evm_revert', [first]), true);
    assert.equal(await blockNumber(node), head.number);
    assert.equal((await v.publicClient.getBlock({ blockTag: 'latest' })).hash, head.hash);
    assert.equal(await balanceOf(holder), 0n);
    assert.equal(await rpc(node.url, 'eth_getTransactionReceipt', [hash]), null);
    assert.equal(await rpc(node.url, 'eth_getTransactionByHash', [hash]), null);
    assert.equal(await v.publicClient.getTransactionCount({ address: DEV_ADDRESSES[7] }), nonce);
    // Both snapshots are spent.
    assert.equal(await rpc(node.url, 'evm_revert', [second]), false);
    assert.equal(await rpc(node.url, 'evm_revert', [first]), false);
    assert.equal(await rpc(node.url, 'evm_revert', ['0xffff']), false);

    // The chain goes on from there, with the clock's shift undone: the same nonce again.
    const again = await wallet.writeContract({ ...token, functionName: 'transfer', args: [holder, 2n] });
    const receipt = await v.publicClient.getTransactionReceipt({ hash: again });
    assert.equal(receipt.blockNumber, head.number + 1n);
    assert.equal(await balanceOf(holder), 2n);
    const next = await v.publicClient.getBlock({ blockNumber: receipt.blockNumber });
    assert.equal(next.parentHash, head.hash);
    assert.ok(next.timestamp < head.timestamp + 86_400n, 'the time shift survived the revert');
  });

  it('refuses a malformed id with -32602 and changes nothing', async () => {
    const n = await blockNumber(node);
    assertRpcError(await rpcResponse(node.url, 'evm_revert', ['not-an-id']), -32602, 'invalid argument 0');
    assertRpcError(await rpcResponse(node.url, 'evm_revert', []), -32602, 'missing value');
    assert.equal(await blockNumber(node), n);
  });
});

describe('txnchain dev: anvil_setBalance / setNonce / setCode / setStorageAt / impersonateAccount', () => {
  let node, v;

  before(async () => {
    node = await startNode();
    v = viemClients(node);
  });
  after(async () => {
    await node?.destroy();
  });

  it('sets balance, nonce, code and storage, each in a block of its own that a snapshot revert undoes', async () => {
    const who = randomAddress();
    const start = await blockNumber(node);
    const snapshot = await rpc(node.url, 'evm_snapshot', []);
    assert.equal(await rpc(node.url, 'anvil_setBalance', [who, toHex(parseEther('123'))]), null);
    assert.equal(await v.publicClient.getBalance({ address: who }), parseEther('123'));
    assert.equal(await rpc(node.url, 'hardhat_setBalance', [who, '0x2a']), null);
    assert.equal(await v.publicClient.getBalance({ address: who }), 42n);
    assert.equal(await blockNumber(node), start + 2n, 'one block per change');
    // The header commits to the patched state: the proof of the balance verifies against it.
    const proof = await rpc(node.url, 'eth_getProof', [who, [], 'latest']);
    assert.equal(BigInt(proof.balance), 42n);

    // Code that returns 42: PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN.
    const code = '0x602a60005260206000f3';
    assert.equal(await rpc(node.url, 'anvil_setCode', [who, code]), null);
    assert.equal(await v.publicClient.getCode({ address: who }), code);
    assert.equal(BigInt(await v.publicClient.call({ to: who }).then((r) => r.data)), 42n);
    const value = '0x' + 'ab'.repeat(32);
    assert.equal(await rpc(node.url, 'anvil_setStorageAt', [who, '0x3', value]), null);
    assert.equal(await v.publicClient.getStorageAt({ address: who, slot: '0x3' }), value);
    assert.equal(await v.publicClient.getBalance({ address: who }), 42n, 'code and storage kept the balance');

    // A dev account's nonce moved forward: the next send uses it.
    const account = DEV_ADDRESSES[8];
    const nonce = await v.publicClient.getTransactionCount({ address: account });
    assert.equal(await rpc(node.url, 'anvil_setNonce', [account, toHex(nonce + 5)]), null);
    assert.equal(await v.publicClient.getTransactionCount({ address: account }), nonce + 5);
    const hash = await v.wallet(8).sendTransaction({ to: randomAddress(), value: 1n });
    assert.equal((await v.publicClient.getTransaction({ hash })).nonce, nonce + 5);

    assert.equal(await rpc(node.url, 'evm_revert', [snapshot]), true);
    assert.equal(await v.publicClient.getBalance({ address: who }), 0n);
    assert.equal(await v.publicClient.getCode({ address: who }), undefined);
    assert.equal(await v.publicClient.getTransactionCount({ address: account }), nonce);
  });

  it('anvil_impersonateAccount: eth_sendTransaction sends from an account without its key, until stopped', async () => {
    const whale = randomAddress();
    await rpc(node.url, 'anvil_setBalance', [whale, toHex(parseEther('10'))]);
    const to = randomAddress();
    const tx = { from: whale, to, value: toHex(parseEther('1')) };
    assertRpcError(await rpcResponse(node.url, 'eth_sendTransaction', [tx]), -32000, 'unknown account', 'before impersonation');
    const listed = async () => (await rpc(node.url, 'eth_accounts')).map((a) => a.toLowerCase());
    assert.ok(!(await listed()).includes(whale.toLowerCase()));
    assert.equal(await rpc(node.url, 'anvil_impersonateAccount', [whale]), null);
    // As on anvil, eth_accounts lists it after the dev accounts (ethers' getSigner looks there).
    assert.deepEqual(await listed(), [...DEV_ADDRESSES.map((a) => a.toLowerCase()), whale.toLowerCase()]);
    const hash = await rpc(node.url, 'eth_sendTransaction', [tx]);
    const receipt = await rpc(node.url, 'eth_getTransactionReceipt', [hash]);
    assert.ok(receipt, 'automine: the receipt is there');
    assert.equal(receipt.status, '0x1');
    assert.equal(receipt.from, whale.toLowerCase());
    assert.equal((await rpc(node.url, 'eth_getTransactionByHash', [hash])).from, whale.toLowerCase());
    assert.equal(await v.publicClient.getBalance({ address: to }), parseEther('1'));
    assert.equal(await v.publicClient.getTransactionCount({ address: whale }), 1);
    // The hardhat name, and the stop.
    assert.equal(await rpc(node.url, 'hardhat_stopImpersonatingAccount', [whale]), null);
    assert.ok(!(await listed()).includes(whale.toLowerCase()));
    assertRpcError(await rpcResponse(node.url, 'eth_sendTransaction', [tx]), -32000, 'unknown account', 'after the stop');
  });

  it('refuses malformed setup with -32602 and mines nothing', async () => {
    const n = await blockNumber(node);
    const who = randomAddress();
    assertRpcError(await rpcResponse(node.url, 'anvil_setStorageAt', [who, '0x0', '0x01']), -32602, 'invalid argument 2');
    assertRpcError(await rpcResponse(node.url, 'anvil_setBalance', ['0x1234', '0x1']), -32602, 'invalid argument 0');
    assertRpcError(await rpcResponse(node.url, 'anvil_setCode', [who, '0x' + '00'.repeat(128 * 1024 + 1)]), -32602, 'code too large');
    assertRpcError(await rpcResponse(node.url, 'anvil_setNonce', [who]), -32602, 'missing value');
    assert.equal(await blockNumber(node), n);
  });
});

describe('txnchain dev --no-automine --client-version', () => {
  let node, v;

  before(async () => {
    node = await startNode({ extraArgs: ['--no-automine', '--client-version', 'anvil/txnchain-dev'] });
    v = viemClients(node);
  });
  after(async () => {
    await node?.destroy();
  });

  it('reports automine off, still cuts blocks on demand, and answers web3_clientVersion as told', async () => {
    assert.equal(await rpc(node.url, 'hardhat_getAutomine', []), false);
    assert.equal(await rpc(node.url, 'web3_clientVersion', []), 'anvil/txnchain-dev');
    const wallet = createWalletClient({ chain: txnchainChain(node), transport: http(node.url), account: DEV_ADDRESSES[7] });
    const to = randomAddress();
    const hash = await wallet.sendTransaction({ to, value: 5n });
    const receipt = await v.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    assert.equal(await v.publicClient.getBalance({ address: to }), 5n);
  });
});

describe('txnchain dev --rpc-max-logs 3: too many results', () => {
  let node, v;

  before(async () => {
    node = await startNode({ extraArgs: ['--rpc-max-logs', '3'] });
    v = viemClients(node);
  });
  after(async () => {
    await node?.destroy();
  });

  it('answers -32000 (not -32005, which cast and alloy retry as a rate limit) and serves a range within the limit', async () => {
    const wallet = v.wallet(9);
    const { address, abi } = await deployTestToken(v.publicClient, wallet);
    for (let i = 0; i < 4; i++) await wallet.writeContract({ address, abi, functionName: 'transfer', args: [randomAddress(), 1n] });
    const res = await rpcResponse(node.url, 'eth_getLogs', [{ address, fromBlock: '0x0', toBlock: 'latest' }]);
    assertRpcError(res, -32000, 'query returned more than 3 results');
    const head = await rpc(node.url, 'eth_blockNumber', []);
    assert.equal((await rpc(node.url, 'eth_getLogs', [{ address, fromBlock: head, toBlock: head }])).length, 1);
  });
});
