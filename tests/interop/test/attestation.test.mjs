// The attestation surface of a real node: GET /node/attestation (with and without a verifier
// nonce) and `txnchain attest verify` against it, with exit codes 0 / 1 / 2.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNode, txnchainBin } from '../lib/node.mjs';

const attest = (...args) => spawnSync(txnchainBin(), ['attest', 'verify', ...args], { encoding: 'utf8', timeout: 30_000 });

describe('attestation of a dev node (virtual platform)', () => {
  let node;
  before(async () => {
    node = await startNode();
  });
  after(async () => {
    await node?.destroy();
  });

  it('GET /node/attestation describes the platform and is loudly insecure', async () => {
    const res = await fetch(`${node.url}/node/attestation`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.platform, 'virtual');
    assert.equal(body.insecure, true);
    for (const f of ['evidence', 'identity_public_key', 'measurement']) assert.ok(body[f], `has ${f}`);
    const claims = JSON.parse(Buffer.from(body.evidence, 'base64').toString('utf8'));
    assert.equal(claims.platform, 'virtual');
  });

  it('binds a verifier nonce, and refuses a malformed one with 400', async () => {
    const nonce = 'a1b2c3d4e5f60718';
    const body = await (await fetch(`${node.url}/node/attestation?nonce=${nonce}`)).json();
    assert.equal(body.nonce, nonce);
    const bad = await fetch(`${node.url}/node/attestation?nonce=not-hex`);
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.code, 'invalid_nonce');
  });

  it('attest verify --url: trusted-but-insecure under the dev policy, rejected by default', () => {
    const dev = attest('--url', node.url, '--policy', 'dev', '--nonce');
    assert.equal(dev.status, 0, dev.stdout + dev.stderr);
    assert.match(dev.stdout, /INSECURE/);
    const strict = attest('--url', node.url);
    assert.equal(strict.status, 1, strict.stdout + strict.stderr);
    assert.match(strict.stdout + strict.stderr, /virtual/i);
  });

  it('attest verify --file: a tampered bundle is rejected; missing input is a usage error', async () => {
    const body = await (await fetch(`${node.url}/node/attestation`)).json();
    const dir = mkdtempSync(join(tmpdir(), 'txnchain-attest-'));
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(body));
    assert.equal(attest('--file', good, '--policy', 'dev').status, 0);
    const claims = JSON.parse(Buffer.from(body.evidence, 'base64').toString('utf8'));
    claims.report_data = claims.report_data.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...body, evidence: Buffer.from(JSON.stringify(claims)).toString('base64') }));
    const rejected = attest('--file', bad, '--policy', 'dev');
    assert.equal(rejected.status, 1, rejected.stdout + rejected.stderr);
    assert.match(rejected.stdout, /report_data/);
    assert.equal(attest('--file', join(dir, 'missing.json')).status, 2);
    assert.equal(attest().status, 2);
  });
});
