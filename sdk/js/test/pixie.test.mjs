// Pixie DEX helpers: the order id the Rust engine computes (docs/vectors/pixie-order-v1.json)
// reproduced here, the vector's signature recovering to its trader, and the SDK's ABI equal
// to the compiled IPixieDex interface.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { recoverTypedDataAddress, toFunctionSelector } from 'viem';
import { ORDER_TYPES, PIXIE, PIXIE_ABI, orderId, pixieDomain } from '../src/pixie.mjs';

const v = JSON.parse(readFileSync(new URL('../../../docs/vectors/pixie-order-v1.json', import.meta.url)));
const order = {
  ...v.order,
  price: BigInt(v.order.price),
  lots: BigInt(v.order.lots),
  expiry: BigInt(v.order.expiry),
  clientId: BigInt(v.order.clientId),
  nonce: BigInt(v.order.nonce),
};

test('the order id is the engine\'s, byte for byte', () => {
  assert.equal(v.verifyingContract.toLowerCase(), PIXIE);
  assert.equal(orderId(v.chainId, order), v.id);
  // One field changed: another id.
  assert.notEqual(orderId(v.chainId, { ...order, nonce: order.nonce + 1n }), v.id);
  assert.notEqual(orderId(v.chainId + 1, order), v.id);
});

test('the vector\'s signature recovers to its trader', async () => {
  const signer = await recoverTypedDataAddress({
    domain: pixieDomain(v.chainId), types: ORDER_TYPES, primaryType: 'Order', message: order, signature: v.signature,
  });
  assert.equal(signer, v.order.trader);
});

test('the SDK\'s ABI is the compiled interface', () => {
  const artifact = JSON.parse(readFileSync(new URL('../../../contracts/artifacts/IPixieDex.json', import.meta.url)));
  // Every function but depositWithPermit, which the node does not run yet (docs/pixie.md).
  const compiled = artifact.abi.filter((e) => e.type === 'function' && e.name !== 'depositWithPermit');
  const selectors = (abi) => abi.filter((e) => e.type === 'function').map((f) => toFunctionSelector(f)).sort();
  assert.deepEqual(selectors(PIXIE_ABI), selectors(compiled));
  const outputs = (abi) => Object.fromEntries(abi.filter((e) => e.type === 'function').map((f) => [f.name, JSON.stringify(f.outputs.map((o) => [o.type, o.components?.map((c) => c.type)]))]));
  assert.deepEqual(outputs(PIXIE_ABI), outputs(compiled));
});
