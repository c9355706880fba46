// cast (Foundry's CLI, npm @foundry-rs/cast, exact version in package.json) against a real
// `txnchain dev`: chain reads, a deploy signed locally from a keystore (ETH_KEYSTORE /
// ETH_PASSWORD; cast has no environment variable for a raw key), sends through the node's dev
// signer (--unlocked), receipts, logs (also past 10,000 blocks), traces and `cast run`,
// proofs, `cast logs --subscribe` over WebSocket, snapshots and revert reasons.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeAbiParameters, encodeErrorResult, encodeFunctionData, getAddress, getContractAddress, keccak256, pad, parseEther, toHex } from 'viem';
import { startNode } from '../lib/node.mjs';
import { CHAIN_ID, BASE_FEE, DEV_ADDRESSES, DEV_BALANCE, ZERO_HASH, loadArtifact, randomAddress, rpc, waitFor } from '../lib/util.mjs';

// The platform binary (an optional dependency of @foundry-rs/cast), not node_modules/.bin/cast:
// that is a node wrapper (bin.mjs) which exits 0 whatever cast exits with.
const CAST = createRequire(import.meta.url).resolve(
  `@foundry-rs/cast-${process.platform}-${{ x64: 'amd64', arm64: 'arm64' }[process.arch]}/bin/cast${process.platform === 'win32' ? '.exe' : ''}`,
);
const TIMEOUT_MS = 30_000;
const ART = loadArtifact('TestToken');
const SUPPLY = 10n ** 24n;
const TRANSFER_SIG = 'Transfer(address indexed,address indexed,uint256)';
const TRANSFER_TOPIC = keccak256(Buffer.from('Transfer(address,address,uint256)'));
const EMPTY_TRIE_ROOT = '0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421';
const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000';
const [, DEV1, DEV2] = DEV_ADDRESSES;
const lc = (a) => a.toLowerCase();
const word = (v) => pad(toHex(v)); // uint256 as a 32-byte word
const topic = (a) => pad(lc(a)); // address as an indexed topic
const transferData = (to, value) => encodeFunctionData({ abi: ART.abi, functionName: 'transfer', args: [to, value] });

describe('cast (Foundry CLI) against txnchain dev', () => {
  let node, dir, sub;
  let keystore, deployer, token, deployHash, transferHash, holder;
  const transferHashes = []; // every Transfer event's transaction, in chain order

  // The environment cast sees: none of the caller's ETH_* / FOUNDRY_* settings, the node's URL.
  const castEnv = (extra = {}) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(ETH_|FOUNDRY_|CAST_|TARGET_TOOL$|CHAIN$)/.test(k)));
    return { ...env, NO_COLOR: '1', ETH_RPC_URL: node.url, ...extra };
  };
  /** Runs cast (no shell); resolves {code, stdout, stderr} whatever the exit code. */
  const run = (args, { env, timeout = TIMEOUT_MS } = {}) =>
    new Promise((resolve) => {
      execFile(CAST, args, { env: castEnv(env), timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const code = err ? (err.killed ? `killed after ${timeout} ms` : err.code) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  /** Runs cast, which must succeed; returns its trimmed stdout. */
  const cast = async (args, opts) => {
    const r = await run(args, opts);
    assert.equal(r.code, 0, `cast ${args.join(' ').slice(0, 200)} failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim();
  };
  const castJson = async (args, opts) => JSON.parse(await cast(args, opts));
  const castUint = async (args) => BigInt((await cast(args)).split(' ')[0]); // "1000 [1e3]" -> 1000n
  const metric = async (name) => {
    const text = await (await fetch(`${node.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    assert.ok(line, `no ${name} in /metrics`);
    return Number(line.slice(name.length + 1));
  };

  before(async () => {
    node = await startNode();
    dir = mkdtempSync(join(tmpdir(), 'txnchain-cast-'));
  });
  after(async () => {
    if (sub && sub.exitCode === null && sub.signalCode === null) sub.kill('SIGTERM');
    await node?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('chain-id, block-number, client, balance, nonce, gas-price, block latest --json', async () => {
    assert.equal(await cast(['chain-id']), String(CHAIN_ID));
    assert.equal(await cast(['block-number']), '0');
    assert.match(await cast(['client']), /^txnchain\/v\d+\.\d+\.\d+/);
    assert.equal(await cast(['balance', DEV_ADDRESSES[9]]), DEV_BALANCE.toString());
    assert.equal(await cast(['balance', DEV_ADDRESSES[9], '--ether']), '10000.000000000000000000');
    assert.equal(await cast(['nonce', DEV_ADDRESSES[9]]), '0');
    const gasPrice = BigInt(await cast(['gas-price']));
    assert.equal(gasPrice, BigInt(await rpc(node.url, 'eth_gasPrice')));
    assert.ok(gasPrice >= BASE_FEE, `gas price ${gasPrice}`);
    const block = await castJson(['block', 'latest', '--json']);
    const raw = await rpc(node.url, 'eth_getBlockByNumber', ['0x0', false]);
    assert.equal(block.number, '0x0');
    assert.equal(block.hash, raw.hash);
    assert.equal(block.stateRoot, raw.stateRoot);
    assert.equal(block.parentHash, ZERO_HASH);
    assert.equal(BigInt(block.baseFeePerGas), BASE_FEE);
    assert.equal(block.gasLimit, raw.gasLimit);
    assert.deepEqual(block.transactions, []);
  });

  it('send --create: deploys TestToken signed locally with a keystore (ETH_KEYSTORE / ETH_PASSWORD); code, call, tx', async () => {
    const [wallet] = await castJson(['wallet', 'new', dir, '--json'], { env: { CAST_PASSWORD: 'cast-test' } });
    writeFileSync(join(dir, 'password'), 'cast-test');
    keystore = { ETH_KEYSTORE: wallet.path, ETH_PASSWORD: join(dir, 'password') };
    deployer = getAddress(wallet.address);
    assert.equal(await cast(['rpc', 'anvil_setBalance', deployer, toHex(parseEther('10'))]), 'null');
    assert.equal(await cast(['balance', deployer, '--ether']), '10.000000000000000000');

    const args = ['send', '--create', ART.bytecode, 'constructor(string,string,uint256)', 'Test Token', 'TT', SUPPLY.toString(), '--json'];
    const receipt = await castJson(args, { env: keystore });
    assert.equal(receipt.status, '0x1');
    assert.equal(receipt.from, lc(deployer));
    assert.equal(receipt.to, null);
    token = getContractAddress({ from: deployer, nonce: 0n });
    assert.equal(receipt.contractAddress, lc(token));
    assert.equal(await cast(['compute-address', deployer, '--nonce', '0']), `Computed Address: ${token}`);
    assert.equal(receipt.logs.length, 1);
    assert.deepEqual(receipt.logs[0].topics, [TRANSFER_TOPIC, ZERO_HASH, topic(deployer)]);
    assert.equal(receipt.logs[0].data, word(SUPPLY));
    deployHash = receipt.transactionHash;
    transferHashes.push(deployHash);

    assert.equal(await cast(['code', token]), ART.deployedBytecode);
    assert.equal(await cast(['call', token, 'name()(string)']), '"Test Token"');
    assert.equal(await castUint(['call', token, 'balanceOf(address)(uint256)', deployer]), SUPPLY);
    const tx = await castJson(['tx', deployHash, '--json']);
    assert.equal(tx.from, lc(deployer));
    assert.equal(tx.to, null);
    assert.equal(tx.nonce, '0x0');
    assert.equal(BigInt(tx.chainId), BigInt(CHAIN_ID));
    assert.ok(tx.input.startsWith(ART.bytecode), 'tx input = creation code + constructor args');
  });

  it('send: a keystore transfer, then one with --unlocked --from (eth_sendTransaction); receipt --json, tx --json', async () => {
    const first = await castJson(['send', token, 'transfer(address,uint256)', DEV1, '5000', '--json'], { env: keystore });
    assert.equal(first.status, '0x1');
    transferHashes.push(first.transactionHash);

    holder = randomAddress();
    const sent = await castJson(['send', '--unlocked', '--from', DEV1, token, 'transfer(address,uint256)', holder, '1234', '--json']);
    transferHash = sent.transactionHash;
    transferHashes.push(transferHash);
    const receipt = await castJson(['receipt', transferHash, '--json']);
    assert.equal(receipt.status, '0x1');
    assert.equal(receipt.from, lc(DEV1));
    assert.equal(receipt.to, lc(token));
    assert.equal(receipt.gasUsed, sent.gasUsed);
    assert.equal(receipt.logs.length, 1);
    assert.deepEqual(receipt.logs[0].topics, [TRANSFER_TOPIC, topic(DEV1), topic(holder)]);
    assert.equal(receipt.logs[0].data, word(1234n));
    assert.deepEqual(receipt.logs, sent.logs);

    const tx = await castJson(['tx', transferHash, '--json']);
    assert.equal(tx.from, lc(DEV1));
    assert.equal(tx.to, lc(token));
    assert.equal(tx.nonce, '0x0');
    assert.equal(tx.input, transferData(holder, 1234n));
    assert.equal(tx.input, await cast(['calldata', 'transfer(address,uint256)', holder, '1234']));
    assert.equal(tx.blockHash, receipt.blockHash);
    assert.equal(await castUint(['call', token, 'balanceOf(address)(uint256)', holder]), 1234n);
    assert.equal(await castUint(['call', token, 'balanceOf(address)(uint256)', DEV1]), 5000n - 1234n);
    assert.equal(await cast(['nonce', DEV1]), '1');
  });

  it('logs --from-block 0 by event signature, and by an indexed argument', async () => {
    const logs = await castJson(['logs', '--from-block', '0', '--address', token, TRANSFER_SIG, '--json']);
    assert.deepEqual(logs.map((l) => l.transactionHash), transferHashes);
    assert.deepEqual(logs.map((l) => l.topics), [
      [TRANSFER_TOPIC, ZERO_HASH, topic(deployer)],
      [TRANSFER_TOPIC, topic(deployer), topic(DEV1)],
      [TRANSFER_TOPIC, topic(DEV1), topic(holder)],
    ]);
    for (const l of logs) assert.equal(l.address, lc(token));
    const toHolder = await castJson(['logs', '--from-block', '0', '--address', token, TRANSFER_SIG, '', holder, '--json']);
    assert.deepEqual(toHolder.map((l) => l.transactionHash), [transferHash]);
  });

  it('rpc debug_traceTransaction (struct logs, callTracer) and `cast run`, also of the second transaction of a block', async () => {
    const gasUsed = BigInt((await castJson(['receipt', transferHash, '--json'])).gasUsed);
    const structs = await castJson(['rpc', 'debug_traceTransaction', transferHash]);
    assert.equal(structs.failed, false);
    assert.equal(BigInt(structs.gas), gasUsed);
    assert.equal(structs.returnValue, word(1n));
    assert.deepEqual([structs.structLogs[0].pc, structs.structLogs[0].op, structs.structLogs[0].depth], [0, 'PUSH1', 1]);
    for (const op of ['SSTORE', 'LOG3', 'RETURN']) assert.ok(structs.structLogs.some((s) => s.op === op), `no ${op} in the trace`);

    const call = await castJson(['rpc', 'debug_traceTransaction', transferHash, '{"tracer":"callTracer"}']);
    const raw = await castJson(['rpc', '--raw', 'debug_traceTransaction', JSON.stringify([transferHash, { tracer: 'callTracer' }])]);
    assert.deepEqual(raw, call);
    assert.equal(call.type, 'CALL');
    assert.equal(call.from, lc(DEV1));
    assert.equal(call.to, lc(token));
    assert.equal(call.input, transferData(holder, 1234n));
    assert.equal(call.output, word(1n));
    assert.equal(BigInt(call.gasUsed), gasUsed);
    assert.equal(call.calls, undefined);

    const replay = await cast(['run', transferHash]);
    assert.match(replay, /Transaction successfully executed\./);
    assert.equal(BigInt(replay.match(/^Gas used: (\d+)$/m)?.[1] ?? -1), gasUsed, replay);
    assert.ok(replay.includes(`${token}::transfer(${getAddress(holder)}, 1234)`), replay);

    // Two mints to a fresh account in one block: the second one's gas (a warm, non-zero slot)
    // comes out right only if cast replays the first transaction before it.
    const fresh = randomAddress();
    const nonce = Number(await cast(['nonce', DEV2]));
    assert.equal(await cast(['rpc', 'evm_setAutomine', 'false']), 'null');
    const hashes = [];
    for (const [i, value] of [1n, 2n].entries()) {
      hashes.push(await cast(['send', '--async', '--unlocked', '--from', DEV2, '--nonce', String(nonce + i), token, 'mint(address,uint256)', fresh, String(value)]));
    }
    assert.equal(await cast(['rpc', 'evm_mine']), '"0x0"');
    assert.equal(await cast(['rpc', 'evm_setAutomine', 'true']), 'null');
    const [r1, r2] = await Promise.all(hashes.map((h) => castJson(['receipt', h, '--json'])));
    assert.deepEqual([r1.blockNumber === r2.blockNumber, r1.transactionIndex, r2.transactionIndex], [true, '0x0', '0x1']);
    assert.ok(BigInt(r2.gasUsed) < BigInt(r1.gasUsed));
    transferHashes.push(...hashes);
    const second = await cast(['run', hashes[1]]);
    assert.match(second, /Executing previous transactions from the block\./);
    assert.match(second, /Transaction successfully executed\./);
    assert.equal(BigInt(second.match(/^Gas used: (\d+)$/m)?.[1] ?? -1), BigInt(r2.gasUsed), second);
  });

  it('proof --json: account fields match balance / nonce / keccak(code), storage proofs match `cast storage`', async () => {
    const balanceSlot = keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [holder, 3n])); // balanceOf is slot 3
    assert.equal(await cast(['index', 'address', holder, '3']), balanceSlot);
    const proof = await castJson(['proof', token, '2', balanceSlot, '--json']);
    const block = await castJson(['block', 'latest', '--json']);
    assert.equal(keccak256(proof.accountProof[0]), block.stateRoot, 'the account proof starts at the latest state root');
    assert.equal(BigInt(proof.balance), BigInt(await cast(['balance', token])));
    assert.equal(BigInt(proof.nonce), BigInt(await cast(['nonce', token])));
    assert.equal(BigInt(proof.nonce), 1n);
    const code = await cast(['code', token]);
    assert.equal(proof.codeHash, keccak256(code));
    assert.equal(proof.codeHash, await cast(['keccak', code]));
    assert.deepEqual(proof.storageProof.map((p) => BigInt(p.key)), [2n, BigInt(balanceSlot)]);
    for (const p of proof.storageProof) {
      assert.equal(keccak256(p.proof[0]), proof.storageHash, 'a storage proof starts at storageHash');
      assert.equal(BigInt(p.value), BigInt(await cast(['storage', token, p.key])));
    }
    assert.equal(BigInt(proof.storageProof[0].value), SUPPLY + 3n, 'totalSupply after the two mints');
    assert.equal(BigInt(proof.storageProof[1].value), 1234n);

    const eoa = await castJson(['proof', DEV1, '--json']);
    assert.equal(BigInt(eoa.balance), BigInt(await cast(['balance', DEV1])));
    assert.equal(BigInt(eoa.nonce), BigInt(await cast(['nonce', DEV1])));
    assert.equal(eoa.codeHash, keccak256('0x'));
    assert.equal(eoa.storageHash, EMPTY_TRIE_ROOT);
    assert.deepEqual(eoa.storageProof, []);
  });

  it('logs --subscribe over WebSocket streams a transfer sent meanwhile; the subscription ends with the process', async () => {
    const active = () => metric('txnchain_rpc_subscriptions_active');
    const base = await active();
    sub = spawn(CAST, ['logs', '--subscribe', '--rpc-url', node.wsUrl, '--address', token, TRANSFER_SIG], { env: castEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    sub.stdout.on('data', (d) => (out += d));
    sub.stderr.on('data', (d) => (err += d));
    await waitFor(async () => (await active()) > base, { what: `cast's eth_subscribe (stderr: ${err})` });
    const to = randomAddress();
    const sent = await castJson(['send', '--unlocked', '--from', DEV1, token, 'transfer(address,uint256)', to, '77', '--json']);
    transferHashes.push(sent.transactionHash);
    await waitFor(() => out.includes(`transactionHash: ${sent.transactionHash}`), { what: `the streamed log (stdout: ${out}, stderr: ${err})` });
    assert.equal(out.match(/^- address: /gm)?.length, 1, out);
    assert.ok(out.includes(`address: ${token}`), out);
    assert.ok(out.includes(`data: ${word(77n)}`), out);
    assert.ok(out.includes(`blockNumber: ${BigInt(sent.blockNumber)}`), out);
    for (const t of [TRANSFER_TOPIC, topic(DEV1), topic(to)]) assert.ok(out.includes(t), `topic ${t} in ${out}`);
    const exited = once(sub, 'exit');
    sub.kill('SIGTERM');
    await exited;
    await waitFor(async () => (await active()) === base, { what: 'the node dropping the subscription' });
  });

  it('rpc evm_snapshot / send / evm_revert puts the balance back; rpc anvil_setBalance', async () => {
    const id = JSON.parse(await cast(['rpc', 'evm_snapshot']));
    assert.match(id, /^0x[0-9a-f]+$/);
    const head = await cast(['block-number']);
    const nonce = await cast(['nonce', DEV2]);
    const who = randomAddress();
    await cast(['send', '--unlocked', '--from', DEV2, who, '--value', '1ether']);
    assert.equal(await cast(['balance', who]), parseEther('1').toString());
    assert.equal(await cast(['rpc', 'evm_revert', id]), 'true');
    assert.equal(await cast(['balance', who]), '0');
    assert.equal(await cast(['nonce', DEV2]), nonce);
    assert.equal(await cast(['block-number']), head);
    assert.equal(await cast(['rpc', 'evm_revert', id]), 'false', 'a snapshot is spent by its revert');
    assert.equal(await cast(['rpc', 'anvil_setBalance', who, '0x2a']), 'null');
    assert.equal(await cast(['balance', who]), '42');
  });

  it('call shows the revert reason (and a custom error\'s data); send of it exits non-zero with the reason, sending nothing', async () => {
    const reason = 'execution reverted: ERC20: transfer to the zero address';
    const call = await run(['call', token, 'transfer(address,uint256)(bool)', ZERO_ADDRESS, '1', '--from', DEV1]);
    assert.notEqual(call.code, 0, call.stdout);
    assert.ok(call.stderr.includes(reason), call.stderr);
    // More than the balance: `InsufficientBalance(from, balance, needed)`, shown as its data.
    const balance = await castUint(['call', token, 'balanceOf(address)(uint256)', DEV1]);
    const over = await run(['call', token, 'transfer(address,uint256)(bool)', holder, String(balance + 1n), '--from', DEV1]);
    assert.notEqual(over.code, 0, over.stdout);
    const data = encodeErrorResult({ abi: ART.abi, errorName: 'InsufficientBalance', args: [DEV1, balance, balance + 1n] });
    assert.ok(over.stderr.includes(`execution reverted, data: "${data}"`), over.stderr);

    const head = await cast(['block-number']);
    const nonce = await cast(['nonce', DEV1]);
    const send = await run(['send', '--unlocked', '--from', DEV1, token, 'transfer(address,uint256)', ZERO_ADDRESS, '1']);
    assert.notEqual(send.code, 0, send.stdout);
    assert.ok(send.stderr.includes(reason), send.stderr);
    assert.equal(await cast(['nonce', DEV1]), nonce);
    assert.equal(await cast(['block-number']), head);
  });

  it('after rpc anvil_mine 0x2710 (+3), logs --from-block 0 still answers at once, in one eth_getLogs', { timeout: 300_000 }, async () => {
    const head = BigInt(await cast(['block-number']));
    assert.equal(await cast(['rpc', 'anvil_mine', '0x2710'], { timeout: 240_000 }), 'null');
    assert.equal(await cast(['rpc', 'anvil_mine', '0x3']), 'null');
    assert.equal(BigInt(await cast(['block-number'])), head + 10_003n);
    const calls = await metric('txnchain_rpc_calls_total{method="eth_getLogs"}');
    const started = Date.now();
    const logs = await castJson(['logs', '--from-block', '0', '--address', token, TRANSFER_SIG, '--json']);
    const elapsed = Date.now() - started;
    assert.deepEqual(logs.map((l) => l.transactionHash), transferHashes);
    assert.ok(elapsed < 10_000, `cast logs took ${elapsed} ms`);
    assert.equal(await metric('txnchain_rpc_calls_total{method="eth_getLogs"}'), calls + 1, 'cast split the range');
  });
});
