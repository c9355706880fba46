// Runs Hyperledger Caliper's "simple" benchmark (open / query / transfer, 500 requests) with
// Caliper's own ethereum connector (web3.js 1.x over WebSocket) against a real `txnchain dev`
// and a real `txnchain node`, then checks every request succeeded and the accounts hold what
// the rounds left in them.
//
//   TXNCHAIN_BIN=target/checked/txnchain node run.mjs
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGenesisNode, startNode } from '../harness/txnchain.mjs';

const require = createRequire(import.meta.url);
const HERE = dirname(fileURLToPath(import.meta.url));
const CALIPER = join(HERE, 'node_modules', '.bin', 'caliper');
const RUN_TIMEOUT_MS = 240_000;
// Dev account #0 of the public test mnemonic (`test test … junk`), never a secret.
const DEV0 = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
const DEV0_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const ROUNDS = { open: 200, query: 200, transfer: 100 };

function compileSimple() {
  const solc = require('solc');
  const input = {
    language: 'Solidity',
    sources: { 'Simple.sol': { content: readFileSync(join(HERE, 'contracts', 'Simple.sol'), 'utf8') } },
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'cancun', outputSelection: { '*': { Simple: ['abi', 'evm.bytecode.object'] } } },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  const c = out.contracts['Simple.sol'].Simple;
  // Caliper's contract file: name, abi, bytecode and the deployment's gas limit.
  return { name: 'Simple', abi: c.abi, bytecode: '0x' + c.evm.bytecode.object, gas: 1_000_000 };
}

function run(label, cmd, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: HERE, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d) => {
      out += d;
      process.stdout.write(String(d).replace(/^(?=.)/gm, `[${label}] `));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label}: caliper did not finish within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${label}: caliper exited with ${code ?? signal}`));
    });
  });
}

/** The rows of Caliper's summary table: name → {succ, fail, sendRate, avgLatency, throughput}. */
function summary(out) {
  const rows = {};
  // | Name | Succ | Fail | Send Rate (TPS) | Max Latency (s) | Min Latency (s) | Avg Latency (s) | Throughput (TPS) |
  for (const line of out.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 10 || !(cells[1] in ROUNDS) || !/^\d+$/.test(cells[2])) continue;
    rows[cells[1]] = {
      succ: Number(cells[2]),
      fail: Number(cells[3]),
      sendRate: Number(cells[4]),
      avgLatency: Number(cells[7]),
      throughput: Number(cells[8]),
    };
  }
  return rows;
}

/** The benchmark against a running chain; `key` signs (its address is funded there). */
async function benchmark(label, node, address, key) {
  const scratch = mkdtempSync(join(tmpdir(), 'txnchain-caliper-'));
  try {
    const artifact = compileSimple();
    writeFileSync(join(scratch, 'simple.json'), JSON.stringify(artifact));
    const network = {
      caliper: { blockchain: 'ethereum' },
      ethereum: {
        url: node.wsUrl,
        contractDeployerAddress: address,
        contractDeployerAddressPrivateKey: key,
        fromAddress: address,
        fromAddressPrivateKey: key,
        transactionConfirmationBlocks: 1,
        contracts: { simple: { path: join(scratch, 'simple.json'), estimateGas: true } },
      },
    };
    const networkFile = join(scratch, 'network.json');
    writeFileSync(networkFile, JSON.stringify(network, null, 2), { mode: 0o600 });
    console.log(`\n--- Caliper simple benchmark: ${label}`);
    const out = await run(
      label,
      CALIPER,
      [
        'launch', 'manager',
        '--caliper-workspace', HERE,
        '--caliper-benchconfig', 'benchmarks/simple/config.yaml',
        '--caliper-networkconfig', networkFile,
        '--caliper-report-path', join(scratch, 'report.html'),
      ],
      RUN_TIMEOUT_MS,
    );
    const rows = summary(out);
    for (const [round, n] of Object.entries(ROUNDS)) {
      const r = rows[round];
      if (!r) throw new Error(`${label}: Caliper's report has no row for round ${round}`);
      if (r.succ !== n || r.fail !== 0) throw new Error(`${label}: round ${round}: ${r.succ} succeeded, ${r.fail} failed (of ${n})`);
    }
    // The chain holds what the rounds did: 200 accounts opened with 10,000; transfer i moved
    // 100 from account i to account i + 1 (i < 100).
    const m = /Deployed contract Simple at (0x[0-9a-fA-F]{40})/.exec(out);
    if (!m) throw new Error(`${label}: Caliper did not report the Simple contract address`);
    const Web3 = require('web3');
    const web3 = new Web3(node.url);
    const simple = new web3.eth.Contract(artifact.abi, m[1]);
    const expected = { 0: 9900n, 1: 10000n, 50: 10000n, 100: 10100n, 199: 10000n, 200: 0n };
    for (const [i, want] of Object.entries(expected)) {
      const got = BigInt(await simple.methods.query(`w0-account-${i}`).call());
      if (got !== want) throw new Error(`${label}: account ${i} holds ${got}, expected ${want}`);
    }
    return rows;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

// Both chains at once (each benchmark is light: 100–200 requests per second), since Caliper
// spends most of a run in its fixed waits between rounds.
async function onDev() {
  const dev = await startNode({ command: 'dev', dataDirPrefix: 'txnchain-caliper-' });
  try {
    return await benchmark('txnchain dev', dev, DEV0, DEV0_KEY);
  } finally {
    await dev.destroy();
  }
}

// A `txnchain node` from a genesis file that funds a fresh key (a node refuses the public
// test keys): sends answer at admission there, not at commit.
async function onNode() {
  const Web3 = require('web3');
  const operator = new Web3().eth.accounts.create();
  const node = await startGenesisNode({
    genesis: {
      config: { chainId: 424243 },
      gasLimit: '0x1c9c380',
      alloc: { [operator.address]: { balance: '0x' + (10n ** 22n).toString(16) } },
    },
    dataDirPrefix: 'txnchain-caliper-',
  });
  try {
    return await benchmark('txnchain node', node, operator.address, operator.privateKey);
  } finally {
    await node.destroy();
  }
}

const [dev, node] = await Promise.all([onDev(), onNode()]);
const results = { 'txnchain dev': dev, 'txnchain node': node };
console.log('\n--- Caliper simple benchmark (this machine, 1 worker per chain, both chains at once)');
for (const [label, rows] of Object.entries(results)) {
  for (const [round, r] of Object.entries(rows)) {
    console.log(`${label.padEnd(14)} ${round.padEnd(9)} ${r.succ} ok, send rate ${r.sendRate} TPS, avg latency ${r.avgLatency} s, throughput ${r.throughput} TPS`);
  }
}
