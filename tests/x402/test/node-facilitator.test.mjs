// A non-dev node serving the facilitator: `txnchain genesis` → `txnchain node --genesis …
// --x402-facilitator --x402-key-file …` with a payee allow-list. A paywall and `txnchain pay`
// buy through it; a payee outside the allow-list is refused; the settlement key never appears
// in the node's output.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { clients, devAccount, devKeyHex, runTxnchain, spawnTxnchain, startNode, startUpstream, tusd } from '../lib/env.mjs';

const MNEMONIC = 'test test test test test test test test test test test junk';

describe('txnchain node --x402-facilitator', () => {
  let node, c, upstream, paywall, refused, settlementKey;
  const payTo = devAccount(6).address;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'txnchain-node-x402-'));
    const gen = await runTxnchain(['genesis']);
    assert.equal(gen.code, 0, gen.stderr);
    const genesisFile = join(dir, 'genesis.json');
    writeFileSync(genesisFile, gen.stdout);
    // The dev genesis funds the settlement keys at mnemonic indexes 100–103; use #100.
    settlementKey = toHex(mnemonicToAccount(MNEMONIC, { addressIndex: 100 }).getHdKey().privateKey);
    const keyFile = join(dir, 'x402-keys');
    writeFileSync(keyFile, `${settlementKey}\n`);
    chmodSync(keyFile, 0o600);
    node = await startNode({
      command: 'node',
      extraArgs: ['--genesis', genesisFile, '--tee', 'virtual', '--allow-dev-keys', '--x402-facilitator', '--x402-key-file', keyFile, '--x402-allow-pay-to', payTo],
    });
    c = clients(node);
    upstream = await startUpstream();
    const common = ['--upstream', upstream.url, '--price', '0.01', '--facilitator', `${node.url}/x402`, '--listen', '127.0.0.1:0'];
    paywall = await spawnTxnchain(['paywall', ...common, '--pay-to', payTo]);
    refused = await spawnTxnchain(['paywall', ...common, '--pay-to', devAccount(5).address]);
  });
  after(async () => {
    await paywall?.stop();
    await refused?.stop();
    await upstream?.close();
    await node?.destroy();
  });

  it('settles for an allowed payee, once, and the node never prints the key', async () => {
    const payer = devAccount(3).address;
    const [before0, beforeTo] = [await tusd(c.publicClient, payer), await tusd(c.publicClient, payTo)];
    const out = await runTxnchain(['pay', '--max', '0.01', '--ledger', join(node.dataDir, 'spend.json'), `${paywall.url}/report`], { env: { TXNCHAIN_PAY_KEY: devKeyHex(3) } });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(JSON.parse(out.stdout).report, 42);
    assert.match(out.stderr, /"success": true/);
    assert.equal(await tusd(c.publicClient, payer), before0 - 10_000n);
    assert.equal(await tusd(c.publicClient, payTo), beforeTo + 10_000n);
    const output = node.output();
    assert.ok(!output.includes(settlementKey.slice(2)), 'the settlement key must not be logged');
  });

  it('refuses a payee outside the allow-list and moves nothing', async () => {
    const payer = devAccount(4).address;
    const before0 = await tusd(c.publicClient, payer);
    const out = await runTxnchain(['pay', '--max', '0.01', '--ledger', join(node.dataDir, 'spend2.json'), `${refused.url}/report`], { env: { TXNCHAIN_PAY_KEY: devKeyHex(4) } });
    assert.notEqual(out.code, 0);
    assert.match(out.stdout + out.stderr, /payee/i, out.stdout + out.stderr);
    assert.equal(await tusd(c.publicClient, payer), before0);
  });
});
