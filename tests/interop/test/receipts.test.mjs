// Offline-verifiable receipts (specs/receipts.md) against a real node: receipts of plaintext
// and enveloped transactions fetched over REST and verified by the JS SDK and by
// `txnchain receipt verify`; every kind of tampering rejected with the failed check named;
// signed roots and consistency proofs checked by an independent RFC 9162 implementation in
// this file; REST errors; everything still served after a restart.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, createPublicKey, generateKeyPairSync, verify as cryptoVerify } from 'node:crypto';
import { parseEther, parseTransaction, keccak256 } from 'viem';
import { startNode, txnchainBin } from '../lib/node.mjs';
import { viemClients, devAccount, devPrivateKey, loadArtifact } from '../lib/util.mjs';
import { attestedServiceIdentity, bytesToHex, hexToBytes, verifyReceipt, ReceiptError } from '../../../sdk/js/src/index.mjs';
import { confidential } from '../../../sdk/js/src/viem.mjs';

const sha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const node1 = (l, r) => sha256(Uint8Array.of(1), l, r);

/** Ed25519 verification with node:crypto, independent of the SDK's library. */
function ed25519Verify(signature, message, publicKey) {
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
  return cryptoVerify(null, message, key, signature);
}

function otherIdentity() {
  const { publicKey } = generateKeyPairSync('ed25519');
  return '0x' + Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('hex');
}

/** RFC 9162 §2.1.4.2, written out independently of the SDK and the node. */
function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  if (first === second) return proof.length === 0 && Buffer.from(firstRoot).equals(Buffer.from(secondRoot));
  if (first === 0n) return proof.length === 0;
  if (first > second || proof.length === 0) return false;
  let path = proof;
  if ((first & (first - 1n)) === 0n) path = [firstRoot, ...proof];
  let fn = first - 1n;
  let sn = second - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = node1(c, fr);
      sr = node1(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = node1(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && Buffer.from(fr).equals(Buffer.from(firstRoot)) && Buffer.from(sr).equals(Buffer.from(secondRoot));
}

function rootMessage(r) {
  const b = Buffer.alloc(111);
  b.write('txnchain-ledger-root-v1', 0, 'ascii');
  b.writeBigUInt64BE(BigInt(r.chainId), 23);
  b.writeBigUInt64BE(BigInt(r.blockNumber), 31);
  Buffer.from(hexToBytes(r.blockHash)).copy(b, 39);
  b.writeBigUInt64BE(BigInt(r.treeSize), 71);
  Buffer.from(hexToBytes(r.root)).copy(b, 79);
  return new Uint8Array(b);
}

function run(args) {
  return new Promise((resolve) => {
    execFile(txnchainBin(), args, { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

/** Flips the lowest bit of the last byte of a 0x-hex string. */
function flipHex(h) {
  const last = parseInt(h.slice(-2), 16) ^ 1;
  return h.slice(0, -2) + last.toString(16).padStart(2, '0');
}

describe('receipts: REST, JS SDK and CLI verification', () => {
  let node, v, identity, dir;
  const hashes = [];
  const enveloped = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'txnchain-receipts-'));
    node = await startNode();
    v = viemClients(node);
    identity = bytesToHex(await attestedServiceIdentity(node.url));
    // Plaintext transfers from eight senders at once: several per block, across blocks.
    for (let round = 0; round < 4; round++) {
      const sent = [];
      for (let i = 0; i < 8; i++) {
        sent.push(v.wallet(i).sendTransaction({ to: devAccount(9).address, value: parseEther('0.001') }));
      }
      for (const h of await Promise.all(sent)) hashes.push(h);
      await Promise.all(hashes.slice(-8).map((hash) => v.publicClient.waitForTransactionReceipt({ hash })));
    }
    // Enveloped transactions: a confidential deploy and transfers.
    const art = loadArtifact('TestToken');
    const conf = confidential({ publicClient: v.publicClient, walletClient: v.wallet(0), serviceIdentity: hexToBytes(identity) });
    const deployed = await conf.deployContract({ abi: art.abi, bytecode: art.bytecode, args: ['Sealed', 'SLD', 1000n] });
    enveloped.push(deployed.receipt.transactionHash);
    for (let i = 0; i < 3; i++) {
      const w = await conf.writeContract({ address: deployed.address, abi: art.abi, functionName: 'transfer', args: [devAccount(2).address, 5n] });
      enveloped.push(w.receipt.transactionHash);
    }
    hashes.push(...enveloped);
  });
  after(async () => {
    await node?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const receiptOf = async (hash) => {
    const res = await fetch(`${node.url}/v1/transactions/${hash}/receipt`);
    assert.equal(res.status, 200, `receipt of ${hash}`);
    return res.json();
  };

  it('every receipt verifies in JS, leaves are in ledger order, and they carry the transaction', async () => {
    const seen = new Set();
    for (const hash of hashes) {
      const r = await receiptOf(hash);
      const ok = verifyReceipt(r, identity);
      assert.equal(ok.transactionHash, hash);
      assert.equal(keccak256(r.transaction), hash);
      const tx = parseTransaction(r.transaction);
      assert.equal(BigInt(tx.chainId), BigInt(r.chainId));
      const chainReceipt = await v.publicClient.getTransactionReceipt({ hash });
      assert.equal(BigInt(r.blockNumber), chainReceipt.blockNumber);
      assert.equal(r.blockHash, chainReceipt.blockHash);
      const block = await v.publicClient.getBlock({ blockNumber: chainReceipt.blockNumber });
      assert.equal(r.root, block.extraData, 'the root is the block header extraData');
      assert.ok(!seen.has(r.leafIndex), 'leaf indices are unique');
      seen.add(r.leafIndex);
      const isEnveloped = enveloped.includes(hash);
      assert.equal(r.resultDigest === '0x' + '00'.repeat(32), !isEnveloped, 'resultDigest is set only for envelopes');
      if (isEnveloped) {
        const result = await (await fetch(`${node.url}/v1/transactions/${hash}/result`)).json();
        assert.equal(r.resultDigest, bytesToHex(sha256(hexToBytes(result.result))));
      }
    }
    assert.equal(seen.size, hashes.length);
  });

  it('the CLI saves and verifies receipts (exit 0), and names the failed check (exit 1)', async () => {
    const file = join(dir, 'r.json');
    const got = await run(['receipt', 'get', hashes[3], '--url', node.url, '--out', file]);
    assert.equal(got.code, 0, got.stderr);
    const ok = await run(['receipt', 'verify', file, '--service-identity', identity]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^receipt verified: block \d+, leaf \d+/);
    const env = join(dir, 'e.json');
    assert.equal((await run(['receipt', 'get', enveloped[1], '--url', node.url, '-o', env])).code, 0);
    assert.equal((await run(['receipt', 'verify', env, '--service-identity', identity])).code, 0);
    const usage = await run(['receipt', 'verify', file, '--service-identity', '0x1234']);
    assert.equal(usage.code, 2);
    const missing = await run(['receipt', 'verify', join(dir, 'absent.json'), '--service-identity', identity]);
    assert.equal(missing.code, 2);
  });

  it('rejects every kind of tampering with the right check, in JS and in the CLI', async () => {
    const r = await receiptOf(hashes[10]);
    assert.ok(r.inclusionProof.length > 0);
    const other = otherIdentity();
    // [what, tampered receipt, trusted identity, check the JS SDK names, checks the CLI may
    // name (it decodes the transaction and the receipt before the proof, so a flipped bit
    // can fail decoding first); null: the check named for the SDK]
    const cases = [
      ['transaction', { ...r, transaction: flipHex(r.transaction) }, identity, 'inclusionProof', ['transaction', 'inclusionProof']],
      ['receipt', { ...r, receipt: flipHex(r.receipt) }, identity, 'inclusionProof', ['receipt', 'inclusionProof']],
      ['proof element', { ...r, inclusionProof: [flipHex(r.inclusionProof[0]), ...r.inclusionProof.slice(1)] }, identity, 'inclusionProof'],
      ['index', { ...r, leafIndex: r.leafIndex ^ 1 }, identity, 'inclusionProof'],
      ['size', { ...r, treeSize: r.treeSize + 1 }, identity, null],
      ['root', { ...r, root: flipHex(r.root) }, identity, 'inclusionProof'],
      ['signature', { ...r, signature: flipHex(r.signature) }, identity, 'signature'],
      ['block hash', { ...r, blockHash: flipHex(r.blockHash) }, identity, 'signature'],
      ['result digest', { ...r, resultDigest: flipHex(r.resultDigest) }, identity, 'inclusionProof'],
      ['wrong service identity', r, other, 'serviceIdentity'],
      ['identity swapped in the receipt too', { ...r, serviceIdentity: other }, other, 'signature'],
    ];
    for (const [what, tampered, trusted, check, cliChecks] of cases) {
      let err;
      try {
        verifyReceipt(tampered, trusted);
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof ReceiptError, `${what}: rejected`);
      // A larger size can leave the path valid (a proof binds its index, not its size): then
      // the signature, over the size, is what fails.
      if (check) assert.equal(err.check, check, `${what}: ${err.message}`);
      else assert.ok(['inclusionProof', 'signature'].includes(err.check), `${what}: ${err.message}`);
      const file = join(dir, 'tampered.json');
      writeFileSync(file, JSON.stringify(tampered));
      const out = await run(['receipt', 'verify', file, '--service-identity', trusted, '--json']);
      assert.equal(out.code, 1, `${what}: CLI exit code (${out.stdout}${out.stderr})`);
      const body = JSON.parse(out.stdout);
      assert.equal(body.valid, false);
      const allowed = cliChecks ?? (check ? [check] : ['inclusionProof', 'signature']);
      assert.ok(allowed.includes(body.check), `${what}: CLI check ${body.check}`);
    }
  });

  it('signed roots verify and consistency proofs link every pair of roots', async () => {
    const latest = await (await fetch(`${node.url}/v1/ledger/roots/latest`)).json();
    assert.equal(latest.serviceIdentity, identity);
    const head = BigInt(latest.blockNumber);
    assert.equal(BigInt(latest.treeSize), BigInt(hashes.length));
    const roots = [];
    for (let b = 1n; b <= head; b++) {
      const r = await (await fetch(`${node.url}/v1/ledger/roots/${b}`)).json();
      assert.ok(ed25519Verify(hexToBytes(r.signature), rootMessage(r), hexToBytes(identity)), `root of block ${b}`);
      const block = await v.publicClient.getBlock({ blockNumber: b });
      assert.equal(r.blockHash, block.hash);
      assert.equal(r.root, block.extraData);
      roots.push(r);
    }
    const hex = await (await fetch(`${node.url}/v1/ledger/roots/0x${head.toString(16)}`)).json();
    assert.deepEqual(hex, latest);
    for (const a of roots) {
      for (const b of roots) {
        if (BigInt(a.treeSize) > BigInt(b.treeSize)) continue;
        const c = await (await fetch(`${node.url}/v1/ledger/consistency?from=${a.treeSize}&to=${b.treeSize}`)).json();
        assert.equal(c.from, a.treeSize);
        assert.equal(c.to, b.treeSize);
        const proof = c.proof.map(hexToBytes);
        assert.ok(verifyConsistency(BigInt(a.treeSize), BigInt(b.treeSize), hexToBytes(a.root), hexToBytes(b.root), proof), `consistency ${a.treeSize} → ${b.treeSize}`);
        if (proof.length > 0) {
          proof[0] = proof[0].map((x, i) => (i === 0 ? x ^ 1 : x));
          assert.ok(!verifyConsistency(BigInt(a.treeSize), BigInt(b.treeSize), hexToBytes(a.root), hexToBytes(b.root), proof), 'a tampered proof fails');
        }
      }
    }
  });

  it('answers malformed input with 400 and unknown things with 404, as JSON', async () => {
    const expect = async (path, status, code) => {
      const res = await fetch(`${node.url}${path}`);
      assert.equal(res.status, status, path);
      const body = await res.json();
      assert.equal(body.error.code, code, path);
      assert.equal(typeof body.error.message, 'string');
    };
    await expect('/v1/transactions/0x1234/receipt', 400, 'invalid_hash');
    await expect(`/v1/transactions/${'ab'.repeat(32)}/receipt`, 400, 'invalid_hash');
    await expect(`/v1/transactions/0x${'zz'.repeat(32)}/receipt`, 400, 'invalid_hash');
    await expect(`/v1/transactions/0x${'ab'.repeat(32)}/receipt`, 404, 'not_found');
    await expect('/v1/ledger/roots/abc', 400, 'invalid_block_number');
    await expect('/v1/ledger/roots/-1', 400, 'invalid_block_number');
    await expect('/v1/ledger/roots/99999999', 404, 'not_found');
    await expect('/v1/ledger/roots/0', 404, 'not_found');
    await expect('/v1/ledger/consistency?from=3', 400, 'invalid_range');
    await expect('/v1/ledger/consistency?from=5&to=2', 400, 'invalid_range');
    await expect('/v1/ledger/consistency?from=1&to=99999999', 400, 'invalid_range');
    await expect('/v1/ledger/consistency?from=x&to=2', 400, 'invalid_range');
  });

  it('serves the same receipts and roots after a kill -9 and restart', async () => {
    const before = await receiptOf(hashes[5]);
    const latest = await (await fetch(`${node.url}/v1/ledger/roots/latest`)).json();
    await node.kill9();
    await node.restart();
    assert.deepEqual(await receiptOf(hashes[5]), before);
    assert.deepEqual(await (await fetch(`${node.url}/v1/ledger/roots/${latest.blockNumber}`)).json(), latest);
    v = viemClients(node); // the node's URL after the restart
    const h = await v.wallet(0).sendTransaction({ to: devAccount(4).address, value: 1n });
    await v.publicClient.waitForTransactionReceipt({ hash: h });
    const r = await receiptOf(h);
    assert.equal(r.leafIndex, hashes.length, 'the tree continues where it was');
    verifyReceipt(r, identity);
  });
});

describe('REST: submit and the four transaction states, with long-poll', () => {
  let node, v;
  before(async () => {
    node = await startNode();
    v = viemClients(node);
    // Blocks only on evm_mine, so pending lasts as long as the test wants.
    await fetch(node.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'evm_setAutomine', params: [false] }) });
  });
  after(async () => {
    await node?.destroy();
  });

  const status = async (hash, query = '') => {
    const res = await fetch(`${node.url}/v1/transactions/${hash}${query}`);
    return { code: res.status, body: await res.json() };
  };
  const submit = async (raw) => {
    const res = await fetch(`${node.url}/v1/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ raw }),
    });
    return { code: res.status, body: await res.json() };
  };
  const mine = () => fetch(node.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'evm_mine', params: [] }),
  }).then((r) => r.json());

  it('pending → committed (long-poll woken by the block), unknown is 404, invalid says why', async () => {
    // Account `x` signs a transfer at nonce 0 (pending), and an EIP-7702 authorization at
    // nonce 0 that dev account 1 carries in a type-4 transaction paying a higher tip. The
    // block runs the type-4 first; applying the authorization uses x's nonce 0, so x's own
    // transfer can never be included: it is dropped, and the node says why.
    const { privateKeyToAccount, generatePrivateKey } = await import('viem/accounts');
    const x = privateKeyToAccount(generatePrivateKey());
    const fund = await v.wallet(0).sendTransaction({ to: x.address, value: parseEther('1') });
    await mine();
    await v.publicClient.waitForTransactionReceipt({ hash: fund });
    const chainId = await v.publicClient.getChainId();
    const transfer = await x.signTransaction({ chainId, type: 'eip1559', to: devAccount(5).address, value: 1n, nonce: 0, gas: 21_000n, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1n });
    const b = (await submit(transfer)).body.transactionHash;
    const authorization = await x.signAuthorization({ chainId, address: devAccount(7).address, nonce: 0 });
    const carrier = privateKeyToAccount(devPrivateKey(1));
    const carrierNonce = await v.publicClient.getTransactionCount({ address: carrier.address });
    const type4 = await carrier.signTransaction({ chainId, type: 'eip7702', to: carrier.address, value: 0n, nonce: carrierNonce, gas: 100_000n, maxFeePerGas: 3_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n, authorizationList: [authorization] });
    const first = await submit(type4);
    assert.equal(first.code, 202, JSON.stringify(first.body));
    const a = first.body.transactionHash;
    assert.equal((await status(b)).body.status, 'pending');

    assert.deepEqual((await status(a)).body, { transactionHash: a, status: 'pending' });
    // A long-poll that ends at its timeout answers the status then.
    const t0 = Date.now();
    const timedOut = await status(a, '?wait=committed&timeout=300ms');
    assert.equal(timedOut.body.status, 'pending');
    assert.ok(Date.now() - t0 >= 250, 'the long-poll waited');

    // A long-poll wakes when the block is mined.
    const waiting = status(a, '?wait=committed&timeout=10s');
    await new Promise((r) => setTimeout(r, 200));
    await mine();
    const done = await waiting;
    assert.equal(done.code, 200);
    assert.equal(done.body.status, 'committed');
    const receipt = await v.publicClient.getTransactionReceipt({ hash: a });
    assert.equal(BigInt(done.body.blockNumber), receipt.blockNumber);
    assert.equal(typeof done.body.leafIndex, 'number');

    // The transfer's nonce was used by the authorization: dropped, and the node says why.
    const dropped = await status(b, '?wait=committed&timeout=5s');
    assert.equal(dropped.code, 200);
    assert.equal(dropped.body.status, 'invalid', JSON.stringify(dropped.body));
    assert.match(dropped.body.reason, /nonce too low/);
    assert.equal(await v.publicClient.getTransactionCount({ address: x.address }), 1);
    assert.equal((await fetch(`${node.url}/v1/transactions/${b}/receipt`)).status, 404);

    const unknown = '0x' + 'ef'.repeat(32);
    const u = await status(unknown);
    assert.equal(u.code, 404);
    assert.equal(u.body.status, 'unknown');
    assert.equal(u.body.error.code, 'not_found');
  });

  it('a replaced transaction is invalid and names its replacement', async () => {
    const { privateKeyToAccount, generatePrivateKey } = await import('viem/accounts');
    const acct = privateKeyToAccount(generatePrivateKey());
    const fund = await v.wallet(0).sendTransaction({ to: acct.address, value: parseEther('1') });
    await mine();
    await v.publicClient.waitForTransactionReceipt({ hash: fund });
    const chainId = await v.publicClient.getChainId();
    const tx = (tip) => acct.signTransaction({ chainId, type: 'eip1559', to: devAccount(6).address, value: 1n, nonce: 0, gas: 21_000n, maxFeePerGas: 10_000_000_000n * tip, maxPriorityFeePerGas: tip });
    const old = (await submit(await tx(1n))).body.transactionHash;
    const next = await submit(await tx(2n));
    assert.equal(next.code, 202);
    const s = await status(old);
    assert.equal(s.body.status, 'invalid');
    assert.ok(s.body.reason.includes(next.body.transactionHash), s.body.reason);
    await mine();
    assert.equal((await status(next.body.transactionHash, '?wait=committed')).body.status, 'committed');
  });

  it('answers bad submissions and queries with JSON errors and changes nothing', async () => {
    const head = await v.publicClient.getBlockNumber();
    const bad = async (init, path, code, word) => {
      const res = await fetch(`${node.url}${path}`, init);
      assert.equal(res.status, code, path);
      const body = await res.json();
      assert.equal(body.error.code, word);
      assert.equal(typeof body.error.message, 'string');
      return body;
    };
    const post = (body) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await bad(post('{"raw":"0x02"}'), '/v1/transactions', 400, 'transaction_rejected');
    await bad(post('not json'), '/v1/transactions', 400, 'invalid_body');
    await bad(post('{"raw":"zz"}'), '/v1/transactions', 400, 'invalid_body');
    await bad(post(JSON.stringify({ raw: '0x' + '00'.repeat(300_000) })), '/v1/transactions', 413, 'body_too_large');
    // A transaction of dev account 0 at a nonce it already used: the JSON-RPC message.
    const used = await v.wallet(0).signTransaction({ to: devAccount(1).address, value: 1n, nonce: 0, gas: 21_000n, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1n, chainId: await v.publicClient.getChainId(), type: 'eip1559' });
    const low = await bad(post(JSON.stringify({ raw: used })), '/v1/transactions', 400, 'transaction_rejected');
    assert.match(low.error.message, /nonce too low/);
    await bad({}, '/v1/transactions/0x1234', 400, 'invalid_hash');
    await bad({}, `/v1/transactions/${'ab'.repeat(32)}`, 400, 'invalid_hash');
    await bad({}, `/v1/transactions/0x${'ab'.repeat(32)}?wait=pending`, 400, 'invalid_wait');
    await bad({}, `/v1/transactions/0x${'ab'.repeat(32)}?wait=committed&timeout=abc`, 400, 'invalid_timeout');
    assert.equal(await v.publicClient.getBlockNumber(), head, 'nothing was mined');
    const pool = await (await fetch(node.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'txpool_status', params: [] }) })).json();
    assert.equal(pool.result.pending, '0x0', 'nothing was admitted');
  });
});
