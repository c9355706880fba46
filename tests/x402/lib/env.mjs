// Helpers for the x402 interop tests: a real `txnchain dev` (via ../interop/lib/node.mjs),
// real `txnchain paywall` / `txnchain facilitator` processes, an upstream HTTP service, viem
// clients, tUSD balance reads and hand-made EIP-3009 payloads for the failure tests.

import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  parseAbi,
} from 'viem';
import { mnemonicToAccount, privateKeyToAccount, generatePrivateKey } from 'viem/accounts';

export { startNode, txnchainBin } from '../../interop/lib/node.mjs';
import { txnchainBin } from '../../interop/lib/node.mjs';

export const CHAIN_ID = 424242;
export const NETWORK = `eip155:${CHAIN_ID}`;
export const TUSD = '0x4020000000000000000000000000000000000402';
export const TOKEN_NAME = 'TxnChain USD';
export const TOKEN_VERSION = '1';
const MNEMONIC = 'test test test test test test test test test test test junk';

export const TOKEN_ABI = parseAbi([
  'function balanceOf(address) view returns (uint256)',
  'function authorizationState(address,bytes32) view returns (bool)',
  'function transfer(address,uint256) returns (bool)',
  'function blacklist(address)',
  'function unBlacklist(address)',
  'function cancelAuthorization(address authorizer, bytes32 nonce, bytes signature)',
]);

export function devAccount(i) {
  return mnemonicToAccount(MNEMONIC, { addressIndex: i });
}

export function freshAccount() {
  return privateKeyToAccount(generatePrivateKey());
}

export function devKeyHex(i) {
  const k = devAccount(i).getHdKey().privateKey;
  return '0x' + Buffer.from(k).toString('hex');
}

export function clients(node) {
  const chain = defineChain({
    id: CHAIN_ID,
    name: 'TxnChain dev',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [node.url] } },
  });
  const publicClient = createPublicClient({ chain, transport: http(node.url) });
  const wallet = (account) => createWalletClient({ chain, account, transport: http(node.url) });
  return { chain, publicClient, wallet };
}

export async function tusd(publicClient, address) {
  return publicClient.readContract({ address: TUSD, abi: TOKEN_ABI, functionName: 'balanceOf', args: [address] });
}

/** Sends a token transaction from `account` and waits for its receipt. */
export async function tokenTx(c, account, functionName, args) {
  const hash = await c.wallet(account).writeContract({ address: TUSD, abi: TOKEN_ABI, functionName, args });
  const receipt = await c.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error(`${functionName} reverted`);
  return receipt;
}

const live = new Set();
process.once('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** Spawns `txnchain <args>` and resolves once it prints `Listening on <addr>`. */
export function spawnTxnchain(args, { timeoutMs = 30_000, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(txnchainBin(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info', ...env } });
    live.add(proc);
    let out = '';
    let done = false;
    const timer = setTimeout(() => {
      if (!done) {
        done = true;
        proc.kill('SIGKILL');
        reject(new Error(`txnchain ${args[0]} did not start:\n${out}`));
      }
    }, timeoutMs);
    const onData = (d) => {
      out += d.toString();
      if (out.length > 256 * 1024) out = out.slice(-128 * 1024);
      const m = /Listening on (\d+\.\d+\.\d+\.\d+:\d+)/.exec(out);
      if (m && !done) {
        done = true;
        clearTimeout(timer);
        resolve({
          proc,
          url: `http://${m[1]}`,
          output: () => out,
          async stop() {
            if (proc.exitCode !== null) return;
            const exited = new Promise((r) => proc.once('exit', r));
            proc.kill('SIGTERM');
            const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
            await exited;
            clearTimeout(t);
            live.delete(proc);
          },
        });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        reject(new Error(`txnchain ${args[0]} exited with ${code}:\n${out}`));
      }
    });
  });
}

/** Runs `txnchain <args>` to completion; secrets go in `env`, never in `args`. */
export function runTxnchain(args, { timeoutMs = 60_000, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(txnchainBin(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_BACKTRACE: '0', ...env } });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d.toString()));
    proc.stderr.on('data', (d) => (stderr += d.toString()));
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    proc.once('error', reject);
  });
}

/** An upstream service on 127.0.0.1: GET /report → JSON, GET /fail → 500. Counts hits. */
export function startUpstream() {
  return new Promise((resolve) => {
    const hits = { count: 0 };
    const server = createServer((req, res) => {
      hits.count += 1;
      if (req.url.startsWith('/fail')) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"error":"boom"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ report: 42, path: req.url }));
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}`, hits, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

export const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64');
export const unb64 = (s) => JSON.parse(Buffer.from(s, 'base64').toString('utf8'));

/** Fetches `url` unpaid and returns the decoded PAYMENT-REQUIRED. */
export async function requirementsOf(url) {
  const r = await fetch(url);
  if (r.status !== 402) throw new Error(`expected 402, got ${r.status}`);
  return unb64(r.headers.get('payment-required'));
}

/**
 * Builds a PAYMENT-SIGNATURE payload for `required.accepts[0]`, signed by `account`, with
 * optional overrides of the authorization, the domain, the accepted requirement.
 */
export async function makePayment(account, required, o = {}) {
  const accepted = { ...required.accepts[0], ...(o.accepted ?? {}) };
  const now = Math.floor(Date.now() / 1000);
  const authorization = {
    from: account.address,
    to: accepted.payTo,
    value: accepted.amount,
    validAfter: '0',
    validBefore: String(now + 300),
    nonce: '0x' + randomBytes(32).toString('hex'),
    ...(o.authorization ?? {}),
  };
  const domain = {
    name: accepted.extra.name,
    version: accepted.extra.version,
    chainId: o.chainId ?? CHAIN_ID,
    verifyingContract: accepted.asset,
    ...(o.domain ?? {}),
  };
  const signer = o.signer ?? account;
  const signature = await signer.signTypedData({
    domain,
    types: {
      TransferWithAuthorization: [
        { name: 'from', type: 'address' },
        { name: 'to', type: 'address' },
        { name: 'value', type: 'uint256' },
        { name: 'validAfter', type: 'uint256' },
        { name: 'validBefore', type: 'uint256' },
        { name: 'nonce', type: 'bytes32' },
      ],
    },
    primaryType: 'TransferWithAuthorization',
    message: {
      ...authorization,
      value: BigInt(authorization.value),
      validAfter: BigInt(authorization.validAfter),
      validBefore: BigInt(authorization.validBefore),
    },
  });
  const payload = { x402Version: 2, resource: required.resource, accepted, payload: { signature, authorization } };
  return { payload, header: b64(payload), authorization, signature };
}
