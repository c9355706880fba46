// Pixie DEX on a real `txnchain dev` node, driven with viem and the JS SDK the way a trader
// would: approve and deposit real tokens (tUSD, tETH of dev genesis), sign EIP-712 orders, send
// them enveloped, let the batch close (the node cuts the block that closes it on its own),
// read fills and balances with signed queries, withdraw. What is private stays so: no public
// log, no readable storage, nothing for an unsigned call, and the order is not in the
// transaction's calldata.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFunctionData, toHex } from 'viem';
import { execFile } from 'node:child_process';
import { startNode, txnchainBin } from '../lib/node.mjs';
import { viemClients, loadArtifact, waitFor, devPrivateKey, CHAIN_ID } from '../lib/util.mjs';
import { bytesToHex } from '../../../sdk/js/src/index.mjs';
import { attestedServiceIdentity } from '../../../sdk/js/src/index.mjs';
import { confidential } from '../../../sdk/js/src/viem.mjs';
import { pixieTrader } from '../../../sdk/js/src/pixie.mjs';

const PIXIE = '0x0000000000000000000000000000000000000c02';
const TUSD = '0x4020000000000000000000000000000000000402';
const TETH = '0x7e7e7e0000000000000000000000000000000018';
const MAX_U64 = 2n ** 64n - 1n;

const ORDER_TYPES = {
  Order: [
    { name: 'trader', type: 'address' },
    { name: 'market', type: 'uint32' },
    { name: 'buy', type: 'bool' },
    { name: 'price', type: 'uint64' },
    { name: 'lots', type: 'uint64' },
    { name: 'expiry', type: 'uint64' },
    { name: 'clientId', type: 'uint64' },
    { name: 'nonce', type: 'uint64' },
    { name: 'immediateOrCancel', type: 'bool' },
  ],
};

function errorName(err) {
  const cause = err?.walk?.((e) => e.name === 'ContractFunctionRevertedError');
  assert.ok(cause, `expected a contract revert, got: ${err}`);
  return cause.data?.errorName;
}

describe('Pixie DEX', () => {
  let node, v, identity, dex, erc20;
  const as = (i) => confidential({ publicClient: v.publicClient, walletClient: v.wallet(i), serviceIdentity: identity });

  before(async () => {
    node = await startNode();
    v = viemClients(node);
    identity = await attestedServiceIdentity(node.url);
    dex = loadArtifact('IPixieDex').abi;
    erc20 = loadArtifact('TestToken').abi;
  });
  after(async () => {
    await node?.destroy();
  });

  async function approve(i, token, amount) {
    const hash = await v.wallet(i).writeContract({ address: token, abi: erc20, functionName: 'approve', args: [PIXIE, amount] });
    const r = await v.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(r.status, 'success');
  }

  async function signOrder(i, order) {
    const wallet = v.wallet(i);
    const full = { trader: wallet.account.address, market: 1, expiry: MAX_U64, clientId: 0n, immediateOrCancel: false, ...order };
    const signature = await wallet.signTypedData({
      domain: { name: 'Pixie DEX', version: '1', chainId: CHAIN_ID, verifyingContract: PIXIE },
      types: ORDER_TYPES,
      primaryType: 'Order',
      message: full,
    });
    return { order: full, signature };
  }

  it('traders deposit, place sealed orders, trade at one price at the batch close, and withdraw', async () => {
    const [a, b] = [as(1), as(2)];
    const addrA = v.wallet(1).account.address;
    const markets = await v.publicClient.readContract({ address: PIXIE, abi: dex, functionName: 'markets' });
    assert.equal(markets.length, 1);
    assert.deepEqual([markets[0].base.toLowerCase(), markets[0].quote.toLowerCase()], [TETH, TUSD]);
    assert.equal(markets[0].lotSize, 10n ** 15n);

    const tusdBefore = await v.publicClient.readContract({ address: TUSD, abi: erc20, functionName: 'balanceOf', args: [addrA] });
    await approve(1, TUSD, 5_000_000_000n);
    await a.writeContract({ address: PIXIE, abi: dex, functionName: 'deposit', args: [TUSD, 5_000_000_000n] });
    await approve(2, TETH, 10n ** 18n);
    await b.writeContract({ address: PIXIE, abi: dex, functionName: 'deposit', args: [TETH, 10n ** 18n] });
    assert.equal(await v.publicClient.readContract({ address: TUSD, abi: erc20, functionName: 'balanceOf', args: [addrA] }), tusdBefore - 5_000_000_000n);
    assert.equal(await v.publicClient.readContract({ address: TUSD, abi: erc20, functionName: 'balanceOf', args: [PIXIE] }), 5_000_000_000n);

    // 1 tETH (1,000 lots) bought at $3,000.00 at most, sold at $2,990.00 at least.
    const buy = await signOrder(1, { buy: true, price: 300_000n, lots: 1000n, nonce: 1n });
    const sell = await signOrder(2, { buy: false, price: 299_000n, lots: 1000n, nonce: 1n });
    const placed = await a.writeContract({ address: PIXIE, abi: dex, functionName: 'placeOrder', args: [buy.order, buy.signature] });
    assert.match(placed.result, /^0x[0-9a-f]{64}$/, 'the order id, from the sealed result');
    assert.equal(placed.receipt.logs.length, 0, 'no public trace of the order');
    const tx = await v.publicClient.getTransaction({ hash: placed.hash });
    const plain = encodeFunctionData({ abi: dex, functionName: 'placeOrder', args: [buy.order, buy.signature] });
    assert.ok(!tx.input.includes(plain.slice(2, 10)), 'the calldata is an envelope, not the order');
    assert.ok(!tx.input.includes(buy.signature.slice(2, 40)), 'the signature is not in the calldata');
    // The buy locks its funds (whether or not a batch closed meanwhile: alone it rests).
    const locked = await a.readContract({ address: PIXIE, abi: dex, functionName: 'balanceOf', args: [TUSD] });
    assert.equal(locked.locked, 3_000_000_000n);
    // A relayer (dev account 3) submits b's signed order; it learns nothing but pays the gas.
    await as(3).writeContract({ address: PIXIE, abi: dex, functionName: 'placeOrder', args: [sell.order, sell.signature] });

    // Nobody else sees anything.
    const unsigned = await a.readContract({ address: PIXIE, abi: dex, functionName: 'openOrders', signed: false });
    assert.equal(unsigned.length, 0, 'an unsigned call runs as address zero');
    await assert.rejects(v.publicClient.getStorageAt({ address: PIXIE, slot: toHex(0, { size: 32 }) }), /eth_getStorageAt is not available/);

    // The node cuts the block that closes the batch by itself, a second after it opened.
    const fills = await waitFor(async () => {
      const f = await a.readContract({ address: PIXIE, abi: dex, functionName: 'fills' });
      return f.length ? f : null;
    }, { timeoutMs: 15_000, what: 'the batch close' });
    // D = S = 1,000 lots at 299,000 and at 300,000: the lower median, 299,000 ticks ($2,990.00).
    assert.equal(fills.length, 1);
    assert.equal(fills[0].price, 299_000n);
    assert.equal(fills[0].lots, 1000n);
    assert.equal(fills[0].base, 10n ** 18n);
    assert.equal(fills[0].quote, 2_990_000_000n);
    // Public: the batch's price and volume, for anyone.
    const history = await v.publicClient.readContract({ address: PIXIE, abi: dex, functionName: 'clearings', args: [1] });
    assert.equal(history.length, 1);
    assert.deepEqual([history[0].price, history[0].baseVolume], [299_000n, 10n ** 18n]);
    const sellerFills = await b.readContract({ address: PIXIE, abi: dex, functionName: 'fills' });
    assert.equal(sellerFills.length, 1);
    assert.equal(sellerFills[0].buy, false);

    const aQuote = await a.readContract({ address: PIXIE, abi: dex, functionName: 'balanceOf', args: [TUSD] });
    assert.deepEqual([aQuote.free, aQuote.locked], [5_000_000_000n - 2_990_000_000n, 0n]);
    const aBase = await a.readContract({ address: PIXIE, abi: dex, functionName: 'balanceOf', args: [TETH] });
    assert.equal(aBase.free, 10n ** 18n);
    const bQuote = await b.readContract({ address: PIXIE, abi: dex, functionName: 'balanceOf', args: [TUSD] });
    assert.equal(bQuote.free, 2_990_000_000n);

    // Withdrawals move real tokens.
    const tethBefore = await v.publicClient.readContract({ address: TETH, abi: erc20, functionName: 'balanceOf', args: [addrA] });
    await a.writeContract({ address: PIXIE, abi: dex, functionName: 'withdraw', args: [TETH, 10n ** 18n] });
    assert.equal(await v.publicClient.readContract({ address: TETH, abi: erc20, functionName: 'balanceOf', args: [addrA] }), tethBefore + 10n ** 18n);
    const bal = await b.readContract({ address: PIXIE, abi: dex, functionName: 'balanceOf', args: [TETH] });
    assert.deepEqual([bal.free, bal.locked], [0n, 0n]);
  });

  it('refusals are the interface\'s custom errors, raised as viem errors, and change nothing', async () => {
    const a = as(4);
    const order = await signOrder(4, { buy: true, price: 300_000n, lots: 1000n, nonce: 1n });
    // No deposit: the order cannot lock its funds.
    assert.equal(errorName(await a.writeContract({ address: PIXIE, abi: dex, functionName: 'placeOrder', args: [order.order, order.signature] }).catch((e) => e)), 'InsufficientBalance');
    // Signed by someone else for account 4.
    const forged = await signOrder(5, { buy: true, price: 1n, lots: 1n, nonce: 2n });
    const claimed = { ...forged.order, trader: v.wallet(4).account.address };
    assert.equal(errorName(await a.writeContract({ address: PIXIE, abi: dex, functionName: 'placeOrder', args: [claimed, forged.signature] }).catch((e) => e)), 'WrongSigner');
    // A deposit without approval: the token's transferFrom reverts, so the deposit does.
    await assert.rejects(a.writeContract({ address: PIXIE, abi: dex, functionName: 'deposit', args: [TUSD, 1_000n] }));
    const balance = await a.readContract({ address: PIXIE, abi: dex, functionName: 'balanceOf', args: [TUSD] });
    assert.deepEqual([balance.free, balance.locked], [0n, 0n]);
    assert.equal(await a.readContract({ address: PIXIE, abi: dex, functionName: 'nonceUsed', args: [1n] }), false);
  });

  it('the SDK\'s trader helpers: approve-and-deposit, an immediate-or-cancel order that leaves after its batch, a cancel', async () => {
    const t = pixieTrader({ session: as(6), walletClient: v.wallet(6), publicClient: v.publicClient });
    await t.deposit(TUSD, 1_000_000n);
    assert.deepEqual(Object.values(await t.balance(TUSD)).slice(0, 2), [1_000_000n, 0n]);
    // Far below any seller: it does not trade and, being IOC, leaves after its batch.
    await t.place({ buy: true, price: 1n, lots: 10n, nonce: 1n, immediateOrCancel: true });
    assert.equal((await t.openOrders()).length, 1);
    assert.equal((await t.balance(TUSD)).locked, 100n);
    await waitFor(async () => (await t.openOrders()).length === 0, { timeoutMs: 15_000, what: 'the IOC order to leave' });
    assert.deepEqual([(await t.balance(TUSD)).free, (await t.balance(TUSD)).locked], [1_000_000n, 0n]);
    assert.equal(await t.nonceUsed(1n), true);
    // A resting order, cancelled.
    const resting = await t.place({ buy: true, price: 2n, lots: 10n, nonce: 2n });
    assert.deepEqual((await t.openOrders()).map((o) => o.id), [resting.id]);
    await t.cancel(resting.id);
    assert.equal((await t.openOrders()).length, 0);
    assert.equal((await t.balance(TUSD)).locked, 0n);
    // A nonce voided before use.
    await t.cancelNonce(9n);
    assert.equal(await t.nonceUsed(9n), true);
    assert.equal((await t.markets()).length, 1);
  });

  it('the CLI: txnchain dex deposit, order, orders, balance, fills, clearings, with the key in the environment', async () => {
    const pinned = typeof identity === 'string' ? identity : bytesToHex(identity);
    const dexCli = (args, i) => new Promise((resolve) => {
      const env = { ...process.env };
      delete env.TXNCHAIN_KEY;
      if (i !== undefined) env.TXNCHAIN_KEY = devPrivateKey(i);
      execFile(txnchainBin(), ['dex', ...args, '--rpc', node.url], { timeout: 60_000, env },
        (err, stdout, stderr) => resolve({ code: err ? err.code ?? 1 : 0, stdout, stderr }));
    });
    const trust = ['--service-identity', pinned];
    const ok = async (args, i) => {
      const r = await dexCli(args, i);
      assert.equal(r.code, 0, `txnchain dex ${args.join(' ')}: ${r.stderr}\n${r.stdout}`);
      return r.stdout;
    };
    assert.match(await ok(['markets']), /return: \[\(1, 0x7e7e7E0000000000000000000000000000000018, 0x4020000000000000000000000000000000000402, 1000000000000000, 10, 0,/);
    await ok(['deposit', ...trust, TUSD, '1000000'], 7);
    await ok(['deposit', ...trust, TETH, '5000000000000000'], 8);
    const placed = await ok(['order', ...trust, '--buy', '--price', '100', '--lots', '5', '--nonce', '1'], 7);
    const id = placed.match(/return: (0x[0-9a-f]{64})/)?.[1];
    assert.ok(id, placed);
    assert.match(await ok(['orders', ...trust], 7), new RegExp(`return: \\[\\(${id}, `));
    assert.match(await ok(['balance', ...trust, TUSD], 7), /return: \(995000, 5000\)/);
    // Another trader sees none of it.
    assert.match(await ok(['orders', ...trust], 8), /return: \[\]/);
    // A refusal is named, and nothing is sent.
    const refused = await dexCli(['order', ...trust, '--buy', '--price', '100', '--lots', '5000000', '--nonce', '2'], 7);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout, /revert: InsufficientBalance/);
    assert.match(refused.stderr, /nothing was sent/);
    await ok(['order', ...trust, '--sell', '--price', '100', '--lots', '5', '--nonce', '1'], 8);
    const fills = await waitFor(async () => {
      const out = await ok(['fills', ...trust], 7);
      return /return: \[\(/.test(out) ? out : null;
    }, { timeoutMs: 15_000, what: 'the CLI trader\'s fill' });
    assert.match(fills, new RegExp(`, ${id}, true, 100, 5, 5000000000000000, 5000, 0\\)\\]`));
    assert.match(await ok(['clearings', '--market', '1']), /, 100, 5, 5000000000000000\)\]/);
    // Without a key: a clear error, not a panic.
    const keyless = await dexCli(['order', ...trust, '--buy', '--price', '1', '--lots', '1']);
    assert.notEqual(keyless.code, 0);
    assert.match(keyless.stderr, /the trader's key is required/);
  });
});
