// Runs this hardhat project, unchanged, against a real `txnchain dev` — its test suite
// (`hardhat test`) and an ignition deployment with ignition's default configuration — and fails
// if either fails or hangs. With --compare-anvil it does the same against anvil (npm
// @foundry-rs/anvil), on the same machine, and prints the suite's per-transaction time on both.
//
//   TXNCHAIN_BIN=target/checked/txnchain node run.mjs [--compare-anvil]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNode } from '../harness/txnchain.mjs';
import { startProcess } from '../harness/process.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const HARDHAT = join(HERE, 'node_modules', '.bin', 'hardhat');
// The platform binary (an optional dependency of @foundry-rs/anvil), not node_modules/.bin/anvil:
// that is a node wrapper, which would stay between the harness and anvil (signals, exit status).
const ANVIL = createRequire(import.meta.url).resolve(
  `@foundry-rs/anvil-${process.platform}-${{ x64: 'amd64', arm64: 'arm64' }[process.arch]}/bin/anvil`,
);
const CHAIN_ID = 424242;
/** A hung ignition deployment (the failure this guards against) is cut off after this. */
const IGNITION_TIMEOUT_MS = 120_000;
const SUITE_TIMEOUT_MS = 300_000;

function run(cmd, args, { env = {}, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: HERE, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d) => {
      out += d;
      process.stdout.write(d);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}`));
    });
  });
}

async function rpc(url, method, params = []) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = await res.json();
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The suite and the ignition deployment against the chain at `url`; returns the suite's timing. */
async function exercise(label, url) {
  const scratch = mkdtempSync(join(tmpdir(), 'txnchain-hardhat-'));
  const timingFile = join(scratch, 'timing.json');
  const env = { DEVCHAIN_RPC_URL: url, HARDHAT_TIMING_FILE: timingFile };
  // Ignition keeps a journal per chain id under ignition/deployments (also for deployments made
  // in tests on a network other than `hardhat`): each chain this runs against is a fresh one.
  const deployments = join(HERE, 'ignition', 'deployments');
  rmSync(deployments, { recursive: true, force: true });
  try {
    console.log(`\n--- ${label}: hardhat test`);
    await run(HARDHAT, ['test'], { env, timeoutMs: SUITE_TIMEOUT_MS });
    const timing = JSON.parse(readFileSync(timingFile, 'utf8'));

    console.log(`\n--- ${label}: hardhat ignition deploy (default configuration)`);
    rmSync(deployments, { recursive: true, force: true });
    // The confirmation prompt answered as ignition documents for scripts; nothing else is set.
    const out = await run(HARDHAT, ['ignition', 'deploy', 'ignition/modules/Token.js'], {
      env: { ...env, HARDHAT_IGNITION_CONFIRM_DEPLOYMENT: 'true' },
      timeoutMs: IGNITION_TIMEOUT_MS,
    });
    const m = /TokenModule#Token - (0x[0-9a-fA-F]{40})/.exec(out);
    if (!m) throw new Error('ignition did not report the deployed address of TokenModule#Token');
    const code = await rpc(url, 'eth_getCode', [m[1], 'latest']);
    if (code === '0x') throw new Error(`ignition reported ${m[1]}, which holds no code`);
    // totalSupply() == the module's default parameter, 1,000,000
    const supply = await rpc(url, 'eth_call', [{ to: m[1], data: '0x18160ddd' }, 'latest']);
    if (BigInt(supply) !== 1_000_000n) throw new Error(`TokenModule#Token totalSupply is ${BigInt(supply)}`);
    return timing;
  } finally {
    rmSync(deployments, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
}

function report(label, t) {
  const perTx = t.suiteMs / t.sends;
  console.log(
    `${label.padEnd(9)} suite ${(t.suiteMs / 1000).toFixed(2)} s, ${t.sends} transactions, ` +
      `${perTx.toFixed(1)} ms per transaction, send answered in ${(t.sendMs / t.sends).toFixed(1)} ms on average`,
  );
  return perTx;
}

const compare = process.argv.includes('--compare-anvil');
const timings = {};

// hardhat-network-helpers accept a node only if web3_clientVersion starts with "anvil",
// "HardhatNetwork" or "zksync": txnchain dev names itself so (docs/dev-chain.md).
const node = await startNode({ command: 'dev', extraArgs: ['--client-version', 'anvil/txnchain-dev'], dataDirPrefix: 'txnchain-hardhat-' });
try {
  timings.txnchain = await exercise('txnchain dev', node.url);
} finally {
  await node.destroy();
}

if (compare) {
  const port = await freePort();
  const anvil = await startProcess({
    name: 'anvil',
    bin: ANVIL,
    args: () => ['--port', String(port), '--chain-id', String(CHAIN_ID)],
    ready: /Listening on (\S+):(\d+)/,
  });
  try {
    timings.anvil = await exercise('anvil', anvil.url);
  } finally {
    await anvil.destroy();
  }
}

console.log('\n--- timing (the same suite, this machine)');
const ours = report('txnchain', timings.txnchain);
if (compare) {
  const theirs = report('anvil', timings.anvil);
  console.log(`txnchain / anvil per-transaction time: ${(ours / theirs).toFixed(2)}x`);
}
