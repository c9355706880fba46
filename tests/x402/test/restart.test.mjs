// At most one success per authorization survives a restart: the facilitator's memory of
// settled authorizations is gone, and the original transaction hash is recovered from the
// chain (the token's AuthorizationUsed event) — in-process (node receipts) and standalone
// (eth_getLogs).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  NETWORK, TUSD, TOKEN_NAME, TOKEN_VERSION,
  startNode, spawnTxnchain, clients, tusd, devAccount, devKeyHex, makePayment,
} from '../lib/env.mjs';

let node, c;

before(async () => {
  node = await startNode();
  c = clients(node);
});

after(async () => {
  await node?.destroy();
});

function requiredFor(payTo) {
  return {
    x402Version: 2,
    resource: { url: 'http://127.0.0.1/restart', description: 'restart test' },
    accepts: [{
      scheme: 'exact', network: NETWORK, amount: '10000', asset: TUSD, payTo,
      maxTimeoutSeconds: 60, extra: { name: TOKEN_NAME, version: TOKEN_VERSION },
    }],
  };
}

async function settle(base, payload, requirements) {
  const res = await fetch(`${base}/settle`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ x402Version: 2, paymentPayload: payload, paymentRequirements: requirements }),
  });
  return res.json();
}

test('in-process facilitator: replay after a node restart → nonce_already_used + original tx', async () => {
  const payer = devAccount(4);
  const payTo = devAccount(7).address;
  const required = requiredFor(payTo);
  const { payload } = await makePayment(payer, required);
  const first = await settle(`${node.url}/x402`, payload, required.accepts[0]);
  assert.equal(first.success, true, JSON.stringify(first));
  assert.match(first.transaction, /^0x[0-9a-f]{64}$/);

  await node.restart();
  c = clients(node);
  const [p0, r0] = await Promise.all([tusd(c.publicClient, payer.address), tusd(c.publicClient, payTo)]);
  const again = await settle(`${node.url}/x402`, payload, required.accepts[0]);
  assert.equal(again.success, false);
  assert.equal(again.errorReason, 'invalid_exact_evm_nonce_already_used');
  assert.equal(again.transaction, first.transaction);
  // And again (now from the rebuilt in-memory record).
  const third = await settle(`${node.url}/x402`, payload, required.accepts[0]);
  assert.equal(third.errorReason, 'invalid_exact_evm_nonce_already_used');
  assert.equal(third.transaction, first.transaction);
  assert.deepEqual(
    await Promise.all([tusd(c.publicClient, payer.address), tusd(c.publicClient, payTo)]),
    [p0, r0],
  );
});

test('standalone facilitator: replay after its restart → original tx via eth_getLogs', async () => {
  const payer = devAccount(4);
  const payTo = devAccount(6).address;
  const required = requiredFor(payTo);
  const args = ['facilitator', '--rpc', node.url, '--listen', '127.0.0.1:0', '--allow-pay-to', payTo];
  const env = { TXNCHAIN_FACILITATOR_KEYS: devKeyHex(9) };
  const { payload } = await makePayment(payer, required);
  let fac = await spawnTxnchain(args, { env });
  let first;
  try {
    first = await settle(fac.url, payload, required.accepts[0]);
    assert.equal(first.success, true, JSON.stringify(first));
  } finally {
    await fac.stop();
  }
  fac = await spawnTxnchain(args, { env });
  try {
    const again = await settle(fac.url, payload, required.accepts[0]);
    assert.equal(again.success, false);
    assert.equal(again.errorReason, 'invalid_exact_evm_nonce_already_used');
    assert.equal(again.transaction, first.transaction);
  } finally {
    await fac.stop();
  }
});
