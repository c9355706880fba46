// `txnchain ledger audit` against real nodes: it passes on a real chain of plaintext and
// enveloped transactions, names the first failed check for a wrong service identity, proves
// with --compare that a copy of the ledger is a prefix of it (and the longer one extends it by
// a consistency proof), catches two copies that forked, and fails on a node whose data on disk
// was tampered with.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEther } from 'viem';
import { startNode, txnchainBin } from '../lib/node.mjs';
import { viemClients, devAccount, loadArtifact } from '../lib/util.mjs';
import { attestedServiceIdentity, bytesToHex, hexToBytes } from '../../../sdk/js/src/index.mjs';
import { confidential } from '../../../sdk/js/src/viem.mjs';

function run(args) {
  return new Promise((resolve) => {
    execFile(txnchainBin(), args, { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

async function audit(url, identity, ...extra) {
  const r = await run(['ledger', 'audit', '--url', url, '--service-identity', identity, '--json', ...extra]);
  assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}: ${r.stderr}`);
  return { code: r.code, out: JSON.parse(r.stdout), stderr: r.stderr };
}

async function transfers(v, n, value = '0.001') {
  const sent = [];
  for (let i = 0; i < n; i++) {
    sent.push(v.wallet(i % 8).sendTransaction({ to: devAccount(9).address, value: parseEther(value) }));
  }
  const hashes = await Promise.all(sent);
  await Promise.all(hashes.map((hash) => v.publicClient.waitForTransactionReceipt({ hash })));
  return hashes;
}

/** Every file under `dir`. */
function files(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe('ledger audit', () => {
  let a, b, v, identity, work;
  let count = 0;
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'txnchain-audit-'));
    a = await startNode({ dataDir: join(work, 'a') });
    v = viemClients(a);
    identity = bytesToHex(await attestedServiceIdentity(a.url));
    count += (await transfers(v, 8)).length;
    count += (await transfers(v, 5)).length;
    const art = loadArtifact('TestToken');
    const conf = confidential({ publicClient: v.publicClient, walletClient: v.wallet(0), serviceIdentity: hexToBytes(identity) });
    const deployed = await conf.deployContract({ abi: art.abi, bytecode: art.bytecode, args: ['Sealed', 'SLD', 1000n] });
    await conf.writeContract({ address: deployed.address, abi: art.abi, functionName: 'transfer', args: [devAccount(2).address, 5n] });
    count += 2;
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('passes on a real chain with plaintext and enveloped transactions', async () => {
    const head = await v.publicClient.getBlockNumber();
    const r = await audit(a.url, identity);
    assert.equal(r.code, 0, JSON.stringify(r.out));
    assert.equal(r.out.passed, true);
    assert.equal(r.out.treeSize, count);
    assert.equal(r.out.enveloped, 2);
    assert.ok(BigInt(r.out.headBlock) >= head);
    const latest = await (await fetch(`${a.url}/v1/ledger/roots/${r.out.headBlock}`)).json();
    assert.equal(r.out.root, latest.root, 'the rebuilt root is the signed one');
    const text = await run(['ledger', 'audit', '--url', a.url, '--service-identity', identity]);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /^audit passed: blocks 0\.\.=\d+ \(\d+ transactions, 2 enveloped\)/);
  });

  it('fails at block 1 for a service identity that did not sign the ledger, 2 for usage', async () => {
    const other = '0x' + 'ab'.repeat(32);
    const r = await audit(a.url, other);
    assert.equal(r.code, 1);
    assert.deepEqual([r.out.passed, r.out.block, r.out.check], [false, 1, 'serviceIdentity']);
    const usage = await run(['ledger', 'audit', '--url', a.url, '--service-identity', '0x12']);
    assert.equal(usage.code, 2);
    const unreachable = await run(['ledger', 'audit', '--url', 'http://127.0.0.1:9', '--service-identity', identity]);
    assert.equal(unreachable.code, 2);
    assert.match(unreachable.stderr, /audit incomplete/);
  });

  it('--compare proves a copy is a prefix, the longer ledger extends it, and catches a fork', async () => {
    // A copy of a's data directory is the same ledger (and unseals the same service identity).
    await a.stop();
    cpSync(join(work, 'a'), join(work, 'b'), { recursive: true });
    a = await startNode({ dataDir: join(work, 'a') });
    b = await startNode({ dataDir: join(work, 'b') });
    v = viemClients(a);
    assert.equal(bytesToHex(await attestedServiceIdentity(b.url)), identity);
    count += (await transfers(v, 6)).length;

    const longer = await audit(a.url, identity, '--compare', b.url);
    assert.equal(longer.code, 0, JSON.stringify(longer.out));
    assert.match(longer.out.compared, /is a prefix of the audited one/);
    const shorter = await audit(b.url, identity, '--compare', a.url);
    assert.equal(shorter.code, 0, JSON.stringify(shorter.out));
    assert.match(shorter.out.compared, /extends the audited one of \d+ \(consistency proof of \d+ hashes verified\)/);

    // b goes its own way: a different transaction after the common prefix.
    const vb = viemClients(b);
    await transfers(vb, 1, '0.002');
    await transfers(vb, 8, '0.003');
    for (const [x, y] of [[a, b], [b, a]]) {
      const forked = await audit(x.url, identity, '--compare', y.url);
      assert.equal(forked.code, 1, JSON.stringify(forked.out));
      assert.equal(forked.out.check, 'consistency');
      assert.match(forked.out.message, /forked|does not extend/);
    }
  });

  it('fails on a node whose stored signed root was tampered with on disk', async () => {
    const block = 2;
    const signed = await (await fetch(`${b.url}/v1/ledger/roots/${block}`)).json();
    assert.equal((await audit(b.url, identity)).code, 0);
    await b.stop();
    const sig = Buffer.from(hexToBytes(signed.signature));
    let flipped = 0;
    for (const file of files(join(work, 'b'))) {
      const data = readFileSync(file);
      let at = data.indexOf(sig);
      if (at < 0) continue;
      while (at >= 0) {
        data[at + 10] ^= 0x01;
        flipped++;
        at = data.indexOf(sig, at + 1);
      }
      writeFileSync(file, data);
    }
    assert.ok(flipped > 0, 'the signature is stored in the data directory');
    b = await startNode({ dataDir: join(work, 'b') });
    const r = await audit(b.url, identity);
    assert.equal(r.code, 1, JSON.stringify(r.out));
    assert.deepEqual([r.out.block, r.out.check], [block, 'signature']);
    assert.match(r.out.message, /signature/);
  });
});
