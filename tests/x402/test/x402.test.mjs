// x402 interop with the reference SDK (@x402/* 2.27.0) against real txnchain processes:
// `txnchain dev` (chain + in-process facilitator at /x402), `txnchain paywall` (our tower
// middleware in front of an upstream), `txnchain pay` (our Rust client), `txnchain
// facilitator` (standalone, JSON-RPC). Every paid case asserts on chain that tUSD moved
// exactly once; every failure asserts the reason code and that nothing moved.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } from '@x402/fetch';
import { ExactEvmScheme as ExactEvmClient } from '@x402/evm/exact/client';
import { ExactEvmScheme as ExactEvmServer } from '@x402/evm/exact/server';
import { HTTPFacilitatorClient, x402ResourceServer } from '@x402/core/server';
import { paymentMiddleware } from '@x402/express';
import {
  NETWORK, TUSD, TOKEN_NAME, TOKEN_VERSION,
  startNode, spawnTxnchain, runTxnchain, startUpstream, clients, tusd, tokenTx,
  devAccount, devKeyHex, freshAccount, requirementsOf, makePayment, unb64, b64,
} from '../lib/env.mjs';
import { attestedServiceIdentity, bytesToHex, verifyReceipt } from '../../../sdk/js/src/index.mjs';

const PRICE = 10_000n; // 0.01 tUSD

let node, c, upstream, paywall, paywall2, payTo, payTo2, identity;

before(async () => {
  node = await startNode();
  c = clients(node);
  identity = bytesToHex(await attestedServiceIdentity(node.url));
  upstream = await startUpstream();
  payTo = devAccount(7).address;
  payTo2 = devAccount(8).address;
  const common = ['--upstream', upstream.url, '--price', '0.01', '--facilitator', `${node.url}/x402`, '--listen', '127.0.0.1:0'];
  paywall = await spawnTxnchain(['paywall', ...common, '--pay-to', payTo, '--route', '/premium=0.05', '--settle-first', '/side-effect']);
  paywall2 = await spawnTxnchain(['paywall', ...common, '--pay-to', payTo]);
});

after(async () => {
  await paywall?.stop();
  await paywall2?.stop();
  await upstream?.close();
  await node?.destroy();
});

function referenceFetch(account) {
  const client = new x402Client().register(NETWORK, new ExactEvmClient(account));
  client.setSpendControls({ allowedAssets: [{ network: NETWORK, asset: TUSD }] });
  return wrapFetchWithPayment(fetch, client);
}

async function balances(...addrs) {
  return Promise.all(addrs.map((a) => tusd(c.publicClient, a)));
}

describe('reference client → our paywall / middleware', () => {
  test('@x402/fetch pays our paywall; tUSD moves exactly once', async () => {
    const payer = devAccount(1);
    const [p0, r0] = await balances(payer.address, payTo);
    const hits0 = upstream.hits.count;
    const res = await referenceFetch(payer)(`${paywall.url}/report`);
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { report: 42, path: '/report' });
    const receipt = decodePaymentResponseHeader(res.headers.get('payment-response'));
    assert.equal(receipt.success, true);
    assert.equal(receipt.network, NETWORK);
    assert.match(receipt.transaction, /^0x[0-9a-f]{64}$/);
    const tx = await c.publicClient.getTransactionReceipt({ hash: receipt.transaction });
    assert.equal(tx.status, 'success');
    // The settlement's ledger receipt, named in the reference SDK's `extra`, proves the
    // payment offline to anyone who trusts the service identity.
    assert.equal(receipt.extra.receipt, `${node.url}/v1/transactions/${receipt.transaction}/receipt`);
    const ledgerReceipt = await (await fetch(receipt.extra.receipt)).json();
    const proven = verifyReceipt(ledgerReceipt, identity);
    assert.equal(proven.transactionHash, receipt.transaction);
    assert.equal(BigInt(proven.blockNumber), tx.blockNumber);
    const [p1, r1] = await balances(payer.address, payTo);
    assert.equal(p0 - p1, PRICE);
    assert.equal(r1 - r0, PRICE);
    assert.equal(upstream.hits.count - hits0, 1);
  });

  test('@x402/fetch pays a per-route price and a settle-first route', async () => {
    const payer = devAccount(1);
    const [p0] = await balances(payer.address);
    const res = await referenceFetch(payer)(`${paywall.url}/premium`);
    assert.equal(res.status, 200);
    const res2 = await referenceFetch(payer)(`${paywall.url}/side-effect`);
    assert.equal(res2.status, 200);
    const [p1] = await balances(payer.address);
    assert.equal(p0 - p1, 50_000n + PRICE);
  });

  test('an upstream error is not charged', async () => {
    const payer = devAccount(1);
    const [p0] = await balances(payer.address);
    const res = await referenceFetch(payer)(`${paywall.url}/fail`);
    assert.equal(res.status, 500);
    assert.equal(res.headers.get('payment-response'), null);
    const [p1] = await balances(payer.address);
    assert.equal(p1, p0);
  });

  test('unpaid request: 402, PAYMENT-REQUIRED v2, body {}, CORS exposes the headers', async () => {
    const res = await fetch(`${paywall.url}/report`, { headers: { origin: 'http://example.test' } });
    assert.equal(res.status, 402);
    assert.deepEqual(await res.json(), {});
    const req = unb64(res.headers.get('payment-required'));
    assert.equal(req.x402Version, 2);
    assert.equal(req.error, 'Payment required');
    assert.deepEqual(req.accepts[0].extra, { name: TOKEN_NAME, version: TOKEN_VERSION });
    assert.equal(req.accepts[0].amount, '10000');
    assert.equal(req.accepts[0].asset, TUSD);
    assert.match(res.headers.get('access-control-expose-headers').toLowerCase(), /payment-required.*payment-response|payment-response.*payment-required/);
  });
});

describe('reference server ← our facilitator and our client', () => {
  let server, url, hits = 0;
  before(async () => {
    const facilitator = new HTTPFacilitatorClient({ url: `${node.url}/x402` });
    const resourceServer = new x402ResourceServer(facilitator).register(NETWORK, new ExactEvmServer());
    // (c) the reference server's start-up check against our /supported.
    await resourceServer.initialize();
    const app = express();
    app.use(paymentMiddleware({
      'GET /weather': {
        accepts: { scheme: 'exact', network: NETWORK, payTo: payTo2, price: { amount: '20000', asset: TUSD, extra: { name: TOKEN_NAME, version: TOKEN_VERSION } } },
        description: 'weather',
      },
    }, resourceServer));
    app.get('/weather', (_req, res) => { hits += 1; res.json({ weather: 'sunny' }); });
    server = await new Promise((r) => { const s = app.listen(0, '127.0.0.1', () => r(s)); });
    url = `http://127.0.0.1:${server.address().port}`;
  });
  after(() => new Promise((r) => server?.close(r)));

  test('(c) @x402/express start-up check against our /x402/supported passes', async () => {
    const s = await (await fetch(`${node.url}/x402/supported`)).json();
    assert.ok(s.kinds.some((k) => k.x402Version === 2 && k.scheme === 'exact' && k.network === NETWORK));
    assert.equal(s.kinds[0].extra.asset, TUSD);
    const res = await fetch(`${url}/weather`);
    assert.equal(res.status, 402);
  });

  test('(b) our Rust client (txnchain pay) buys from @x402/express settling through our facilitator', async () => {
    const payer = devAccount(2);
    const [p0, r0] = await balances(payer.address, payTo2);
    const saved = `${node.dataDir}/payment.receipt.json`;
    const out = await runTxnchain(['pay', '--ledger', `${node.dataDir}/spend.json`, '--save-receipt', saved, `${url}/weather`], {
      env: { TXNCHAIN_PAY_KEY: devKeyHex(2), TXNCHAIN_SERVICE_IDENTITY: identity },
    });
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(JSON.parse(out.stdout), { weather: 'sunny' });
    assert.match(out.stderr, /"success": true/);
    // The reference server passed our facilitator's `extra.receipt` through; the client
    // verified the receipt and that it proves this transfer.
    const m = out.stderr.match(/receipt verified: block (\d+), leaf (\d+) \(tree size \d+; transaction (0x[0-9a-f]{64})\)/);
    assert.ok(m, out.stderr);
    const onChain = await c.publicClient.getTransactionReceipt({ hash: m[3] });
    assert.equal(onChain.blockNumber, BigInt(m[1]));
    const again = await runTxnchain(['receipt', 'verify', saved, '--service-identity', identity]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    const [p1, r1] = await balances(payer.address, payTo2);
    assert.equal(p0 - p1, 20_000n);
    assert.equal(r1 - r0, 20_000n);
    assert.equal(hits, 1);
  });

  test('(b) our client pays but reports a receipt that does not verify (exit 3)', async () => {
    const payer = devAccount(2);
    const [p0] = await balances(payer.address);
    const wrong = '0x' + '11'.repeat(32);
    const out = await runTxnchain(['pay', '--ledger', `${node.dataDir}/spend.json`, '--service-identity', wrong, `${url}/weather`], {
      env: { TXNCHAIN_PAY_KEY: devKeyHex(2) },
    });
    assert.equal(out.code, 3, out.stderr);
    assert.deepEqual(JSON.parse(out.stdout), { weather: 'sunny' });
    assert.match(out.stderr, /receipt INVALID: serviceIdentity/);
    const [p1] = await balances(payer.address);
    assert.equal(p0 - p1, 20_000n);
  });

  test('(b) our client refuses over its spend policy without signing', async () => {
    const payer = devAccount(2);
    const [p0] = await balances(payer.address);
    const out = await runTxnchain(['pay', '--max', '0.01', '--ledger', `${node.dataDir}/spend.json`, `${url}/weather`], { env: { TXNCHAIN_PAY_KEY: devKeyHex(2) } });
    assert.equal(out.code, 2);
    assert.match(out.stderr, /exceeds the maximum per request/);
    assert.deepEqual(await balances(payer.address), [p0]);
  });
});

describe('failures: right reason, nothing moves twice', () => {
  const payer = devAccount(3);
  let required;
  before(async () => {
    required = await requirementsOf(`${paywall.url}/report`);
  });

  async function expectRefused(header, reason, { url = `${paywall.url}/report` } = {}) {
    const [p0, r0] = await balances(payer.address, payTo);
    const res = await fetch(url, { headers: { 'PAYMENT-SIGNATURE': header } });
    assert.equal(res.status, 402);
    const pr = unb64(res.headers.get('payment-required'));
    assert.ok(pr.error.startsWith(reason), `expected ${reason}, got ${pr.error}`);
    assert.deepEqual(await balances(payer.address, payTo), [p0, r0]);
    return pr;
  }

  const now = () => Math.floor(Date.now() / 1000);

  test('expired', async () => {
    const { header } = await makePayment(payer, required, { authorization: { validBefore: String(now() - 1) } });
    await expectRefused(header, 'invalid_exact_evm_payload_authorization_valid_before');
  });
  test('expires too soon (< 6 s)', async () => {
    const { header } = await makePayment(payer, required, { authorization: { validBefore: String(now() + 3) } });
    await expectRefused(header, 'invalid_exact_evm_payload_authorization_valid_before');
  });
  test('not yet valid (beyond maxTimeoutSeconds)', async () => {
    const { header } = await makePayment(payer, required, { authorization: { validAfter: String(now() + 3600) } });
    await expectRefused(header, 'invalid_exact_evm_payload_authorization_valid_after');
  });
  test('wrong recipient', async () => {
    const { header } = await makePayment(payer, required, { authorization: { to: devAccount(9).address } });
    await expectRefused(header, 'invalid_exact_evm_recipient_mismatch');
  });
  test('wrong amount', async () => {
    const { header } = await makePayment(payer, required, { authorization: { value: '9999' } });
    await expectRefused(header, 'invalid_exact_evm_payload_authorization_value_mismatch');
  });
  test('wrong network', async () => {
    const { header } = await makePayment(payer, required, { accepted: { network: 'eip155:1' }, chainId: 1 });
    await expectRefused(header, 'invalid_exact_evm_network_mismatch');
  });
  test('wrong token name / version (direct to the facilitator)', async () => {
    for (const [extra, reason] of [
      [{ name: 'USD Coin', version: '1' }, 'invalid_exact_evm_token_name_mismatch'],
      [{ name: TOKEN_NAME, version: '2' }, 'invalid_exact_evm_token_version_mismatch'],
    ]) {
      const reqs = { ...required.accepts[0], extra };
      const { payload } = await makePayment(payer, { ...required, accepts: [reqs] });
      const r = await (await fetch(`${node.url}/x402/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ x402Version: 2, paymentPayload: payload, paymentRequirements: reqs }) })).json();
      assert.equal(r.isValid, false);
      assert.equal(r.invalidReason, reason);
    }
  });
  test('signed over the wrong domain', async () => {
    const { header } = await makePayment(payer, required, { domain: { name: 'USD Coin', version: '2' } });
    await expectRefused(header, 'invalid_exact_evm_signature');
  });
  test('bad signature (another key)', async () => {
    const { header } = await makePayment(payer, required, { signer: freshAccount() });
    await expectRefused(header, 'invalid_exact_evm_signature');
  });
  test('insufficient balance', async () => {
    const poor = freshAccount();
    const { header } = await makePayment(poor, required);
    const res = await fetch(`${paywall.url}/report`, { headers: { 'PAYMENT-SIGNATURE': header } });
    assert.equal(res.status, 402);
    assert.equal(unb64(res.headers.get('payment-required')).error, 'invalid_exact_evm_insufficient_balance');
  });
  test('malformed base64 and JSON', async () => {
    await expectRefused('%%%not-base64%%%', 'invalid_payload');
    await expectRefused(Buffer.from('{not json').toString('base64'), 'invalid_payload');
    await expectRefused(b64({ x402Version: 2, accepted: 'x' }), 'invalid_payload');
  });
  test('x402 v1 payload gets invalid_x402_version', async () => {
    const res = await fetch(`${paywall.url}/report`, { headers: { 'X-PAYMENT': b64({ x402Version: 1, scheme: 'exact', network: 'base', payload: {} }) } });
    assert.equal(res.status, 402);
    const pr = unb64(res.headers.get('payment-required'));
    assert.match(pr.error, /^invalid_x402_version: x402 v1 can only name networks/);
    const r = await (await fetch(`${node.url}/x402/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ x402Version: 1, paymentPayload: { x402Version: 1, scheme: 'exact', network: 'base-sepolia', payload: {} }, paymentRequirements: {} }) })).json();
    assert.equal(r.isValid, false);
    assert.equal(r.invalidReason, 'invalid_x402_version');
  });
  test('the same header replayed on a second request pays once', async () => {
    const { header } = await makePayment(payer, required);
    const [p0] = await balances(payer.address);
    const first = await fetch(`${paywall.url}/report`, { headers: { 'PAYMENT-SIGNATURE': header } });
    assert.equal(first.status, 200);
    const tx = unb64(first.headers.get('payment-response')).transaction;
    const second = await fetch(`${paywall.url}/report`, { headers: { 'PAYMENT-SIGNATURE': header } });
    assert.equal(second.status, 402);
    assert.equal(unb64(second.headers.get('payment-required')).error, 'invalid_exact_evm_nonce_already_used');
    const [p1] = await balances(payer.address);
    assert.equal(p0 - p1, PRICE);
    // The facilitator answers a repeated settle with the original transaction.
    const s = await (await fetch(`${node.url}/x402/settle`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ x402Version: 2, paymentPayload: unb64(header), paymentRequirements: required.accepts[0] }) })).json();
    assert.equal(s.success, false);
    assert.equal(s.errorReason, 'invalid_exact_evm_nonce_already_used');
    assert.equal(s.transaction, tx);
  });
  test('one authorization raced to two servers at once pays once', async () => {
    const { header } = await makePayment(payer, required);
    const [p0] = await balances(payer.address);
    const rs = await Promise.all([paywall, paywall2, paywall].map((p) => fetch(`${p.url}/report`, { headers: { 'PAYMENT-SIGNATURE': header } })));
    const statuses = rs.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 402, 402]);
    const [p1] = await balances(payer.address);
    assert.equal(p0 - p1, PRICE);
  });
  test('cancelled nonce', async () => {
    const { header, authorization } = await makePayment(payer, required);
    const cancelSig = await payer.signTypedData({
      domain: { name: TOKEN_NAME, version: TOKEN_VERSION, chainId: 424242, verifyingContract: TUSD },
      types: { CancelAuthorization: [{ name: 'authorizer', type: 'address' }, { name: 'nonce', type: 'bytes32' }] },
      primaryType: 'CancelAuthorization',
      message: { authorizer: payer.address, nonce: authorization.nonce },
    });
    await tokenTx(c, devAccount(0), 'cancelAuthorization', [payer.address, authorization.nonce, cancelSig]);
    await expectRefused(header, 'invalid_exact_evm_nonce_already_used');
  });
  test('blocklisted payer', async () => {
    const owner = devAccount(0);
    await tokenTx(c, owner, 'blacklist', [payer.address]);
    try {
      const { header } = await makePayment(payer, required);
      await expectRefused(header, 'invalid_exact_evm_transaction_simulation_failed');
    } finally {
      await tokenTx(c, owner, 'unBlacklist', [payer.address]);
    }
  });
  test('a settle for a payee the facilitator does not serve', async () => {
    const fac = await spawnTxnchain(['facilitator', '--rpc', node.url, '--listen', '127.0.0.1:0', '--allow-pay-to', devAccount(6).address], { env: { TXNCHAIN_FACILITATOR_KEYS: devKeyHex(9) } });
    try {
      const { payload } = await makePayment(payer, required);
      const [p0, r0] = await balances(payer.address, payTo);
      const res = await fetch(`${fac.url}/settle`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ x402Version: 2, paymentPayload: payload, paymentRequirements: required.accepts[0] }) });
      assert.equal(res.status, 403);
      const s = await res.json();
      assert.equal(s.success, false);
      assert.equal(s.errorReason, 'unauthorized_payee');
      assert.deepEqual(await balances(payer.address, payTo), [p0, r0]);
      // The same facilitator settles for a served payee (standalone, over JSON-RPC).
      const served = { ...required.accepts[0], payTo: devAccount(6).address };
      const { payload: p2 } = await makePayment(payer, { ...required, accepts: [served] });
      const ok = await (await fetch(`${fac.url}/settle`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ x402Version: 2, paymentPayload: p2, paymentRequirements: served }) })).json();
      assert.equal(ok.success, true, JSON.stringify(ok));
    } finally {
      await fac.stop();
    }
  });
});
