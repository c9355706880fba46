// The target under attack and the honest user's tools: the txnchain binary (release build by
// default), a dev node, dev accounts, viem clients, and a transfer loop that proves blocks are
// still produced while an attack runs.

import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { createPublicClient, createWalletClient, defineChain, http, parseGwei } from 'viem';
import { mnemonicToAccount, privateKeyToAccount, generatePrivateKey } from 'viem/accounts';
import { startDev, startGenesisNode, startPaywall, startFacilitator, startUpstream, txnchainBin } from '../../harness/index.mjs';
import { sleep } from './net.mjs';

export const CHAIN_ID = 424242;
export const MNEMONIC = 'test test test test test test test test test test test junk';
export const BASE_FEE = parseGwei('1');
/** The dev stablecoin (tUSD, 6 decimals): its transfers emit logs. */
export const TUSD = '0x4020000000000000000000000000000000000402';

/** The binary under test: $TXNCHAIN_BIN, else <repo>/target/release/txnchain. */
export function bin() {
  return txnchainBin('release');
}

/** Watched output patterns: a panic anywhere in the node's life is a failure. */
export const WATCH = [/panicked/];

/** A `txnchain dev` node on a free port with a fresh data dir. */
export function startTarget(opts = {}) {
  return startDev({ bin: bin(), watch: WATCH, dataDirPrefix: 'txnchain-adversarial-', ...opts });
}

/** A `txnchain node --genesis` (public port without debug_* and txpool_content; admin listener on a free port). */
export function startNodeTarget(genesis, opts = {}) {
  return startGenesisNode({ bin: bin(), watch: WATCH, genesis, adminListen: '127.0.0.1:0', dataDirPrefix: 'txnchain-adversarial-', ...opts });
}

/**
 * Extension point for the x402 attacks: a dev node, an upstream and a paywall in front of it
 * (paid through the node's in-process facilitator). Options: `node` (startTarget options),
 * `payTo` (default dev account #7), `price` (default 0.01), `routes`, `settleFirst`,
 * `extraArgs` (paywall flags). Returns { node, upstream, paywall, payTo, destroy() }.
 */
export async function startPaywallTarget(opts = {}) {
  const node = await startTarget(opts.node);
  const upstream = await startUpstream();
  const payTo = opts.payTo ?? devAccount(7).address;
  const paywall = await startPaywall({
    bin: bin(),
    watch: WATCH,
    upstream: upstream.url,
    facilitator: `${node.url}/x402`,
    payTo,
    price: opts.price ?? '0.01',
    routes: opts.routes,
    settleFirst: opts.settleFirst,
    extraArgs: opts.extraArgs,
  });
  return {
    node,
    upstream,
    paywall,
    payTo,
    async destroy() {
      await paywall.destroy();
      await upstream.close();
      await node.destroy();
    },
  };
}

/** Extension point for the x402 attacks: a standalone facilitator for `node`. */
export function startFacilitatorTarget(node, opts = {}) {
  return startFacilitator({ bin: bin(), watch: WATCH, rpc: node.url, keys: opts.keys ?? [devKeyHex(9)], ...opts });
}

export function devAccount(i) {
  return mnemonicToAccount(MNEMONIC, { addressIndex: i });
}

export function devKeyHex(i) {
  return '0x' + Buffer.from(devAccount(i).getHdKey().privateKey).toString('hex');
}

export function freshAccount() {
  return privateKeyToAccount(generatePrivateKey());
}

/** A random address (random bytes: deriving a key costs ~1 ms of the main thread each). */
export function randomAddress() {
  return '0x' + randomBytes(20).toString('hex');
}

export function chainOf(url, id = CHAIN_ID) {
  return defineChain({
    id,
    name: 'TxnChain',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [url] } },
  });
}

/** viem clients of the honest user (from 127.0.0.1). */
export function clients(url, id = CHAIN_ID) {
  const chain = chainOf(url, id);
  const transport = http(url, { retryCount: 0, timeout: 30_000 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 25 });
  const wallet = (account) => createWalletClient({ chain, transport, account, pollingInterval: 25 });
  return { chain, publicClient, wallet };
}

/**
 * One value transfer from `account` with viem, waiting for its receipt. Gas and fees are
 * given, so no eth_estimateGas / fee lookups: this measures block production, not the call
 * workers. Returns { ms, status, blockNumber }.
 */
export async function transfer(url, account, { timeoutMs = 10_000, chainId = CHAIN_ID } = {}) {
  const c = clients(url, chainId);
  const started = performance.now();
  const hash = await c.wallet(account).sendTransaction({
    to: randomAddress(),
    value: 1n,
    gas: 21_000n,
    maxFeePerGas: 2n * BASE_FEE,
    maxPriorityFeePerGas: 0n,
  });
  const receipt = await c.publicClient.waitForTransactionReceipt({ hash, timeout: timeoutMs, pollingInterval: 25 });
  return { ms: performance.now() - started, status: receipt.status, blockNumber: receipt.blockNumber };
}

/**
 * Sends a transfer right away and then one every `gapMs` (each after the previous one's
 * receipt) until stop(). stop() waits for the one in flight: every transfer sent during the
 * attack is accounted for. Reports { sent, committed, failed, maxMs, latencies, errors }.
 */
export function transferLoop(url, { account, gapMs = 1000, chainId = CHAIN_ID } = {}) {
  account ??= devAccount(0);
  let stopping = false;
  const latencies = [];
  const errors = [];
  let sent = 0;
  const run = (async () => {
    do {
      sent += 1;
      try {
        const r = await transfer(url, account, { chainId });
        if (r.status === 'success') latencies.push(r.ms);
        else errors.push(`status ${r.status}`);
      } catch (e) {
        errors.push(e.shortMessage ?? e.message);
      }
      for (let waited = 0; waited < gapMs && !stopping; waited += 50) await sleep(50);
    } while (!stopping);
  })();
  return {
    async stop() {
      stopping = true;
      await run;
      return {
        sent,
        committed: latencies.length,
        failed: errors.length,
        maxMs: latencies.length ? Math.max(...latencies) : NaN,
        latencies,
        errors: errors.slice(0, 5),
      };
    },
  };
}
