// Shared helpers for the interop tests: dev accounts, viem / ethers clients bound to a
// running node, raw JSON-RPC over fetch and WebSocket, artifacts, error assertions.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { createPublicClient, createWalletClient, defineChain, http, webSocket, parseGwei } from 'viem';
import { mnemonicToAccount, privateKeyToAccount, generatePrivateKey } from 'viem/accounts';
import { ethers } from 'ethers';
import { REPO_ROOT } from './node.mjs';

export const CHAIN_ID = 424242;
export const MNEMONIC = 'test test test test test test test test test test test junk';
export const DEV_BALANCE = 10_000n * 10n ** 18n;
export const BASE_FEE = parseGwei('1');
export const MULTICALL3 = '0xcA11bde05977b3631167028862bE2a173976CA11';
export const CREATE2_DEPLOYER = '0x4e59b44847b379578588920cA78FbF26c0B4956C';
export const ZERO_HASH = '0x' + '00'.repeat(32);
/** The well-known addresses of m/44'/60'/0'/0/{0..9} for the test mnemonic. */
export const DEV_ADDRESSES = [
  '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
  '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
  '0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65',
  '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc',
  '0x976EA74026E726554dB657fA54763abd0C3a0aa9',
  '0x14dC79964da2C08b23698B3D3cc7Ca32193d9955',
  '0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f',
  '0xa0Ee7A142d267C1f36714E4a8F75612F20a79720',
];

/** viem local account for dev account #i (m/44'/60'/0'/0/i). */
export function devAccount(i) {
  return mnemonicToAccount(MNEMONIC, { addressIndex: i });
}

/** The private key (0x-hex) of dev account #i. */
export function devPrivateKey(i) {
  const hd = devAccount(i).getHdKey();
  return '0x' + Buffer.from(hd.privateKey).toString('hex');
}

/** A fresh random account (no balance). */
export function randomAccount() {
  return privateKeyToAccount(generatePrivateKey());
}

/** A fresh random address. */
export function randomAddress() {
  return randomAccount().address;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value, or throws after `timeoutMs`. */
export async function waitFor(fn, { timeoutMs = 10_000, intervalMs = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last}`);
    await sleep(intervalMs);
  }
}

// ------------------------------------------------------------------ viem / ethers

/** A viem chain definition for a node at `url`. */
export function txnchainChain(node) {
  return defineChain({
    id: CHAIN_ID,
    name: 'TxnChain dev',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [node.url], webSocket: [node.wsUrl] } },
    contracts: { multicall3: { address: MULTICALL3 } },
  });
}

/** viem clients on HTTP, with a short polling interval (blocks commit within milliseconds). */
export function viemClients(node) {
  const chain = txnchainChain(node);
  const transport = http(node.url, { retryCount: 0, timeout: 30_000 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 });
  const wallet = (i) =>
    createWalletClient({ chain, transport, account: typeof i === 'number' ? devAccount(i) : i, pollingInterval: 50 });
  return { chain, transport, publicClient, wallet };
}

/** viem public client over WebSocket; call `close()` when done. */
export async function viemWsClient(node) {
  const chain = txnchainChain(node);
  const transport = webSocket(node.wsUrl, { retryCount: 0, reconnect: false, keepAlive: false });
  const client = createPublicClient({ chain, transport, pollingInterval: 50 });
  const close = async () => {
    try {
      const rpc = await client.transport.getRpcClient();
      rpc.close();
    } catch {
      /* already closed */
    }
  };
  return { client, close };
}

/** ethers v6 provider with a static network and fast polling. */
export function ethersProvider(node) {
  const network = new ethers.Network('txnchain-dev', CHAIN_ID);
  // cacheTimeout -1: ethers otherwise answers identical calls within 250 ms from a cache
  // (e.g. a nonce read right after a commit), which hides what the node returns.
  const provider = new ethers.JsonRpcProvider(node.url, network, {
    staticNetwork: network,
    pollingInterval: 50,
    cacheTimeout: -1,
  });
  return provider;
}

export function ethersWallet(i, provider) {
  return new ethers.Wallet(devPrivateKey(i), provider);
}

// ------------------------------------------------------------------ raw JSON-RPC

let rpcId = 1;

/** POSTs a raw body; returns {status, headers, text, json}. */
export async function postRaw(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** One JSON-RPC call; returns the whole response object ({result} or {error}). */
export async function rpcResponse(url, method, params = []) {
  const id = rpcId++;
  const { status, json, text } = await postRaw(url, JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  assert.ok(json, `${method}: HTTP ${status}, body is not JSON: ${text.slice(0, 300)}`);
  assert.equal(json.jsonrpc, '2.0', `${method}: response without jsonrpc "2.0": ${text.slice(0, 300)}`);
  assert.equal(json.id, id, `${method}: response id mismatch: ${text.slice(0, 300)}`);
  return json;
}

/** One JSON-RPC call that must succeed; returns `result`. */
export async function rpc(url, method, params = []) {
  const res = await rpcResponse(url, method, params);
  if (res.error) {
    throw new Error(`${method} failed: ${JSON.stringify(res.error)}`);
  }
  return res.result;
}

/**
 * Asserts that a JSON-RPC response is an error with `code` and a message that starts with
 * `prefix` (string) or matches `prefix` (RegExp). Returns the error object.
 */
export function assertRpcError(res, code, prefix, what = '') {
  const label = what ? `${what}: ` : '';
  assert.ok(res.error, `${label}expected an error (code ${code}) but got result ${JSON.stringify(res.result)}`);
  assert.equal(res.error.code, code, `${label}error code: ${JSON.stringify(res.error)}`);
  assert.equal(typeof res.error.message, 'string', `${label}error message must be a string`);
  if (prefix instanceof RegExp) {
    assert.match(res.error.message, prefix, `${label}error message: ${JSON.stringify(res.error)}`);
  } else if (prefix !== undefined) {
    assert.ok(
      res.error.message.startsWith(prefix),
      `${label}error message should start with ${JSON.stringify(prefix)}, got ${JSON.stringify(res.error.message)}`,
    );
  }
  return res.error;
}

/** Calls a method that must fail with `code` / message prefix. */
export async function expectRpcError(url, method, params, code, prefix) {
  return assertRpcError(await rpcResponse(url, method, params), code, prefix, method);
}

/** Finds, in a viem error chain, the first error with a numeric `code` (the RPC error). */
export function viemRpcCode(err) {
  let found;
  if (typeof err?.walk === 'function') {
    err.walk((e) => {
      if (found === undefined && typeof e?.code === 'number') found = e.code;
      return false;
    });
  }
  return found;
}

/** Asserts that `promise` rejects and that viem classified the error as class `Cls`. */
export async function expectViemError(promise, Cls, what = '') {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what}: expected a rejection (${Cls.name})`);
  const match = typeof err.walk === 'function' ? err.walk((e) => e instanceof Cls) : null;
  assert.ok(match, `${what}: expected viem to classify the error as ${Cls.name}, got: ${err.shortMessage ?? err.message}`);
  return err;
}

// ------------------------------------------------------------------ WebSocket (raw)

/**
 * A minimal raw JSON-RPC WebSocket client: `request(method, params)` and
 * `subscription(id)` queues for `eth_subscription` notifications.
 */
export async function wsConnect(url) {
  const ws = new WebSocket(url);
  await new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('error', rej);
  });
  const pending = new Map();
  const notes = new Map(); // subscription id -> { items: [], waiters: [] }
  const queue = (sub) => {
    if (!notes.has(sub)) notes.set(sub, { items: [], waiters: [] });
    return notes.get(sub);
  };
  ws.on('message', (data) => {
    let msg;
    try {
      msg = JSON.parse(data.toString('utf8'));
    } catch {
      return;
    }
    if (msg.method === 'eth_subscription' && msg.params) {
      const q = queue(msg.params.subscription);
      const w = q.waiters.shift();
      if (w) w(msg.params.result);
      else q.items.push(msg.params.result);
      return;
    }
    const p = pending.get(msg.id);
    if (p) {
      pending.delete(msg.id);
      p(msg);
    }
  });
  let nextId = 1;
  return {
    ws,
    /** Sends a request and resolves with the whole response object. */
    requestRaw(method, params = []) {
      const id = nextId++;
      return new Promise((res) => {
        pending.set(id, res);
        ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
      });
    },
    async request(method, params = []) {
      const res = await this.requestRaw(method, params);
      if (res.error) throw new Error(`${method} failed over WebSocket: ${JSON.stringify(res.error)}`);
      return res.result;
    },
    /** Next notification for subscription `sub` (waits up to `timeoutMs`). */
    next(sub, timeoutMs = 10_000) {
      const q = queue(sub);
      if (q.items.length) return Promise.resolve(q.items.shift());
      return new Promise((res, rej) => {
        const t = setTimeout(() => {
          const i = q.waiters.indexOf(done);
          if (i >= 0) q.waiters.splice(i, 1);
          rej(new Error(`no notification on subscription ${sub} within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (v) => {
          clearTimeout(t);
          res(v);
        };
        q.waiters.push(done);
      });
    },
    /** Notifications received so far and not yet consumed. */
    drain(sub) {
      const q = queue(sub);
      return q.items.splice(0, q.items.length);
    },
    close() {
      ws.close();
    },
  };
}

// ------------------------------------------------------------------ artifacts

export function loadArtifact(name) {
  const path = join(REPO_ROOT, 'contracts', 'artifacts', `${name}.json`);
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** Deploys TestToken with viem from `wallet`; returns {address, receipt}. */
export async function deployTestToken(publicClient, wallet, supply = 10n ** 24n) {
  const art = loadArtifact('TestToken');
  const hash = await wallet.deployContract({ abi: art.abi, bytecode: art.bytecode, args: ['Test Token', 'TT', supply] });
  const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: 30_000 });
  assert.equal(receipt.status, 'success', 'TestToken deployment failed');
  assert.ok(receipt.contractAddress, 'deployment receipt has no contractAddress');
  return { address: receipt.contractAddress, receipt, abi: art.abi, artifact: art };
}

export { ethers };
