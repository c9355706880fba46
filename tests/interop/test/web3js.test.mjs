// web3.js 1.x, the client Hyperledger Caliper's ethereum connector uses, against `txnchain dev`.
// After a send, web3.js checks for the receipt once and then waits for the next new head (over
// WebSocket) before it checks again. On a chain that makes no block while idle, a transaction
// whose block landed between those two steps would never resolve. Under automine the receipt
// exists before the send answers, so the first check finds it. Against `txnchain node`, where a
// send answers at admission, the node's eth_getTransactionReceipt waits for the block of a
// pooled transaction, so the first check finds it there too (Caliper's deploy hung on this
// before).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Web3 from 'web3';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNode } from '../lib/node.mjs';
import { DEV_ADDRESSES, devPrivateKey, randomAddress, loadArtifact } from '../lib/util.mjs';

describe('web3.js 1.x over WebSocket against txnchain dev', () => {
  let node, web3, provider;

  before(async () => {
    node = await startNode();
    provider = new Web3.providers.WebsocketProvider(node.wsUrl);
    web3 = new Web3(provider);
  });
  after(async () => {
    provider?.disconnect();
    await node?.destroy();
  });

  it('20 sendSignedTransaction calls in a row each resolve with their receipt, with no other traffic', async () => {
    const key = devPrivateKey(1);
    const from = web3.eth.accounts.privateKeyToAccount(key).address;
    assert.equal(from.toLowerCase(), DEV_ADDRESSES[1].toLowerCase());
    let nonce = await web3.eth.getTransactionCount(from);
    for (let i = 0; i < 20; i++) {
      const signed = await web3.eth.accounts.signTransaction(
        { to: randomAddress(), value: '1', gas: 21000, gasPrice: '2000000000', nonce: nonce++, chainId: 424242 },
        key,
      );
      const receipt = await Promise.race([
        web3.eth.sendSignedTransaction(signed.rawTransaction),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`send ${i}: no receipt after 15 s (web3.js waiting for a next head)`)), 15_000)),
      ]);
      assert.equal(receipt.status, true, `send ${i}`);
    }
  });

  it('deploys a contract and calls it (the shape of Caliper\'s "simple" benchmark)', async () => {
    const art = loadArtifact('TestToken');
    const token = new web3.eth.Contract(art.abi);
    const deployed = await token
      .deploy({ data: art.bytecode, arguments: ['Test Token', 'TT', '1000000'] })
      .send({ from: DEV_ADDRESSES[2], gas: 3_000_000 });
    const to = randomAddress();
    const receipt = await deployed.methods.transfer(to, 42).send({ from: DEV_ADDRESSES[2], gas: 100_000 });
    assert.ok(receipt.events.Transfer, 'the Transfer event is decoded');
    assert.equal(await deployed.methods.balanceOf(to).call(), '42');
  });
});

describe('web3.js 1.x over WebSocket against txnchain node (sends answer at admission)', () => {
  let node, web3, provider, account;

  before(async () => {
    web3 = new Web3();
    account = web3.eth.accounts.create();
    const genesis = {
      config: { chainId: 424243 },
      gasLimit: '0x1c9c380',
      alloc: { [account.address]: { balance: '0x' + (10n ** 21n).toString(16) } },
    };
    const file = join(mkdtempSync(join(tmpdir(), 'txnchain-genesis-')), 'genesis.json');
    writeFileSync(file, JSON.stringify(genesis));
    node = await startNode({ command: 'node', extraArgs: ['--genesis', file, '--tee', 'virtual'] });
    provider = new Web3.providers.WebsocketProvider(node.wsUrl);
    web3 = new Web3(provider);
    web3.eth.accounts.wallet.add(account.privateKey);
  });
  after(async () => {
    provider?.disconnect();
    await node?.destroy();
  });

  const within = (p, what) => Promise.race([
    p,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no receipt after 15 s (web3.js waiting for a next head)`)), 15_000)),
  ]);

  it('a deploy and 30 sends in a row each resolve with their receipt on an otherwise idle chain', async () => {
    const art = loadArtifact('TestToken');
    const deployed = await within(new web3.eth.Contract(art.abi)
      .deploy({ data: art.bytecode, arguments: ['Test Token', 'TT', '1000000'] })
      .send({ from: account.address, gas: 3_000_000, gasPrice: '2000000000' }), 'deploy');
    for (let i = 0; i < 30; i++) {
      const receipt = await within(
        deployed.methods.transfer(randomAddress(), 1).send({ from: account.address, gas: 100_000, gasPrice: '2000000000' }),
        `send ${i}`,
      );
      assert.equal(receipt.status, true, `send ${i}`);
    }
    assert.equal(await deployed.methods.balanceOf(account.address).call(), String(1_000_000 - 30));
  });

  it('a receipt asked for an unknown hash still answers null at once', async () => {
    const started = Date.now();
    assert.equal(await web3.eth.getTransactionReceipt('0x' + '42'.repeat(32)), null);
    assert.ok(Date.now() - started < 400, `answered in ${Date.now() - started} ms`);
  });
});
