// x402 plumbing for the attacks: tUSD and ETH balances, requirements from a paywall's 402,
// facilitator requests, a whole purchase through a paywall, contract deployment from an
// unlocked dev account, and a `txnchain node` serving the facilitator on the dev genesis.

import { chmodSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeFunctionResult, encodeFunctionData, parseAbi, toHex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { runTxnchain, onExitCleanup } from '../../harness/index.mjs';
import { MNEMONIC, bin, startNodeTarget } from './env.mjs';
import { httpRequest, rpcFrom, sleep } from './net.mjs';
import { TUSD, makePayment, unb64, facilitatorBody } from './eip3009.mjs';

export * from './eip3009.mjs';

export const TOKEN_ABI = parseAbi([
  'function balanceOf(address) view returns (uint256)',
  'function authorizationState(address,bytes32) view returns (bool)',
]);

/** tUSD balance of `address` (atomic units), read over JSON-RPC from 127.0.0.1. */
export async function tusdBalance(url, address, token = TUSD) {
  const data = encodeFunctionData({ abi: TOKEN_ABI, functionName: 'balanceOf', args: [address] });
  const r = await rpcFrom(url, 'eth_call', [{ to: token, data }, 'latest']);
  if (r.error) throw new Error(`balanceOf: ${JSON.stringify(r.error)}`);
  return decodeFunctionResult({ abi: TOKEN_ABI, functionName: 'balanceOf', data: r.result });
}

/** ETH balance (wei). */
export async function ethBalance(url, address) {
  const r = await rpcFrom(url, 'eth_getBalance', [address, 'latest']);
  if (r.error) throw new Error(`eth_getBalance: ${JSON.stringify(r.error)}`);
  return BigInt(r.result);
}

/** Waits for the receipt of `hash` (polling every 25 ms). */
export async function receiptOf(url, hash, timeoutMs = 15_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const r = await rpcFrom(url, 'eth_getTransactionReceipt', [hash]);
    if (r.result) return r.result;
    await sleep(25);
  }
  throw new Error(`no receipt for ${hash} within ${timeoutMs} ms`);
}

/** Deploys `initCode` from the unlocked dev account `from` (eth_sendTransaction); the contract address. */
export async function deploy(url, from, initCode) {
  const sent = await rpcFrom(url, 'eth_sendTransaction', [{ from, data: initCode, gas: toHex(200_000) }]);
  if (sent.error) throw new Error(`eth_sendTransaction: ${JSON.stringify(sent.error)}`);
  const receipt = await receiptOf(url, sent.result);
  if (receipt.status !== '0x1' || !receipt.contractAddress) throw new Error(`deployment failed: ${JSON.stringify(receipt)}`);
  return receipt.contractAddress;
}

/**
 * GET `path` (verbatim) from a paywall, unpaid. Returns the response and, for a 402, the
 * decoded PAYMENT-REQUIRED as `required`.
 */
export async function unpaid(base, path, opts = {}) {
  const r = await httpRequest(base, { method: 'GET', path, ...opts });
  const header = r.headers['payment-required'];
  return { ...r, required: header ? unb64(header) : undefined };
}

/** The decoded PAYMENT-RESPONSE / PAYMENT-REQUIRED of a paid retry. */
export function paidOutcome(r) {
  return {
    status: r.status,
    receipt: r.headers['payment-response'] ? unb64(r.headers['payment-response']) : undefined,
    required: r.headers['payment-required'] ? unb64(r.headers['payment-required']) : undefined,
    text: r.text,
  };
}

/** GET `path` (verbatim) with a PAYMENT-SIGNATURE header. */
export async function paid(base, path, header, opts = {}) {
  const r = await httpRequest(base, { method: 'GET', path, headers: { 'payment-signature': header }, ...opts });
  return { ...r, ...paidOutcome(r) };
}

/** A whole purchase: unpaid GET → 402 → sign for accepts[0] → paid GET. */
export async function purchase(base, path, account, opts = {}) {
  const u = await unpaid(base, path, opts);
  if (u.status !== 402 || !u.required) throw new Error(`${path}: expected 402, got ${u.status}: ${u.text.slice(0, 200)}`);
  const { header, authorization } = await makePayment(account, u.required);
  return { unpaid: u, authorization, ...(await paid(base, path, header, opts)) };
}

/** POSTs a facilitator request (`endpoint` = `${node.url}/x402/settle` …); body = facilitatorBody(…) text or an object. */
export async function facilitatorPost(endpoint, body, opts = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return httpRequest(endpoint, { method: 'POST', body: text, ...opts });
}

/** /verify or /settle for `payload` against `requirements` (default: payload.accepted). */
export function x402Call(base, what, payload, requirements = payload.accepted, opts = {}) {
  return facilitatorPost(`${base}/${what}`, facilitatorBody(payload, requirements), opts);
}

/** The private key (0x-hex) at `index` of the test mnemonic. */
export function mnemonicKey(index) {
  return toHex(mnemonicToAccount(MNEMONIC, { addressIndex: index }).getHdKey().privateKey);
}

/**
 * `txnchain node` on the dev chain's genesis (`txnchain genesis`) serving the facilitator at
 * /x402: `--x402-facilitator --x402-key-file FILE --x402-allow-pay-to <payTo>
 * --allow-dev-keys`, settlement key = test mnemonic index 100 (funded by that genesis).
 * Returns the node process object plus { settlementKey, settlementAddress, keyFile }.
 */
export async function startNodeFacilitator({ payTo, keyIndex = 100, extraArgs = [] }) {
  const gen = await runTxnchain(['genesis'], { bin: bin() });
  if (gen.code !== 0) throw new Error(`txnchain genesis: exit ${gen.code}: ${gen.stderr}`);
  const dir = mkdtempSync(join(tmpdir(), 'txnchain-adversarial-x402-'));
  const unregister = onExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const genesisFile = join(dir, 'genesis.json');
  writeFileSync(genesisFile, gen.stdout);
  const settlementKey = mnemonicKey(keyIndex);
  const keyFile = join(dir, 'x402-keys');
  writeFileSync(keyFile, `${settlementKey}\n`, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  const node = await startNodeTarget(genesisFile, {
    extraArgs: ['--allow-dev-keys', '--x402-facilitator', '--x402-key-file', keyFile, '--x402-allow-pay-to', payTo, ...extraArgs],
  });
  const destroy = node.destroy.bind(node);
  node.destroy = async () => {
    try {
      await destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      unregister();
    }
  };
  node.settlementKey = settlementKey;
  node.settlementAddress = mnemonicToAccount(MNEMONIC, { addressIndex: keyIndex }).address;
  node.keyFile = keyFile;
  return node;
}
