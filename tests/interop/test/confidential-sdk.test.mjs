// The JS SDK's viem helpers against a real node: the service identity from `virtual` evidence
// verified in JS (nonce, report_data binding, statement), deploy / write / read of a
// confidential contract with envelopes and signed queries, reverts raised as viem errors, the
// real msg.sender only for signed queries, and the epoch window of a short-epoch genesis.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicClient, createWalletClient, http, parseEther, toHex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { startNode } from '../lib/node.mjs';
import { startGenesisNode } from '../../harness/txnchain.mjs';
import { viemClients, rpc, rpcResponse, loadArtifact, devAccount, sleep, ethersProvider, ethersWallet, wsConnect } from '../lib/util.mjs';
import {
  attestedServiceIdentity, verifyVirtualEvidence, verifyEncryptionKey, seal, bytesToHex, hexToBytes,
} from '../../../sdk/js/src/index.mjs';
import { confidential } from '../../../sdk/js/src/viem.mjs';
import { confidential as confidentialEthers } from '../../../sdk/js/src/ethers.mjs';

/** The innermost viem error of a ContractFunctionExecutionError chain. */
function revertOf(err) {
  assert.equal(err.name, 'ContractFunctionExecutionError', `${err}`);
  const cause = err.walk((e) => e.name === 'ContractFunctionRevertedError');
  assert.ok(cause, `a ContractFunctionRevertedError inside: ${err}`);
  return cause;
}

describe('JS SDK: attestation in JS and viem helpers', () => {
  let node, v, identity, conf;
  const art = loadArtifact('TestToken');
  before(async () => {
    node = await startNode();
    v = viemClients(node);
  });
  after(async () => {
    await node?.destroy();
  });

  it('verifies virtual evidence and the statement in JS, and refuses tampered bundles', async () => {
    identity = await attestedServiceIdentity(node.url);
    assert.equal(identity.length, 32);
    const key = await (await fetch(`${node.url}/v1/encryption-key`)).json();
    assert.equal(key.serviceIdentity, bytesToHex(identity));

    const nonce = 'ab'.repeat(32);
    const bundle = await (await fetch(`${node.url}/node/attestation?nonce=${nonce}`)).json();
    assert.deepEqual(await verifyVirtualEvidence(bundle, { nonce }), identity);
    await assert.rejects(verifyVirtualEvidence(bundle, { nonce: 'cd'.repeat(32) }), /does not answer our nonce/);
    const claims = JSON.parse(Buffer.from(bundle.evidence, 'base64'));
    await assert.rejects(verifyVirtualEvidence(bundle, { nonce, measurements: ['00'.repeat(48)] }), /measurement .* is not allowed/);
    assert.deepEqual(await verifyVirtualEvidence(bundle, { nonce, measurements: [claims.measurement] }), identity);
    const forged = { ...claims, report_data: '11'.repeat(64) };
    await assert.rejects(
      verifyVirtualEvidence({ ...bundle, evidence: Buffer.from(JSON.stringify(forged)).toString('base64') }, { nonce }),
      /report_data does not bind the node identity key/,
    );
    const other = Buffer.from(new Uint8Array(32).fill(5)).toString('base64');
    await assert.rejects(verifyVirtualEvidence({ ...bundle, service_identity: bytesToHex(new Uint8Array(32).fill(1)) }, { nonce }), /statement does not verify/);
    await assert.rejects(verifyVirtualEvidence({ ...bundle, service_statement: other }, { nonce }), /statement does not verify/);
    const forgedSig = Buffer.from(new Uint8Array(64).fill(7)).toString('base64');
    await assert.rejects(verifyVirtualEvidence({ ...bundle, service_statement: forgedSig }, { nonce }), /statement does not verify/);
    await assert.rejects(verifyVirtualEvidence({ ...bundle, platform: 'sev-snp' }), /txnchain attest verify/);
  });

  it('deploys, writes and reads through the viem helpers; reverts are viem errors', async () => {
    const me = devAccount(0).address;
    const bob = devAccount(1).address;
    conf = confidential({ publicClient: v.publicClient, walletClient: v.wallet(0), serviceIdentity: identity });
    const { address: token, receipt, logs } = await conf.deployContract({ abi: art.abi, bytecode: art.bytecode, args: ['Sealed', 'SLD', 1000n] });
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.logs.length, 0, 'the mint is private');
    assert.equal(logs[0].eventName, 'Transfer');
    assert.equal(logs[0].args.value, 1000n);

    const w = await conf.writeContract({ address: token, abi: art.abi, functionName: 'transfer', args: [bob, 7n] });
    assert.equal(w.result, true);
    assert.equal(w.receipt.logs.length, 0);
    assert.deepEqual(
      [w.logs[0].eventName, w.logs[0].args.from, w.logs[0].args.to, w.logs[0].args.value],
      ['Transfer', me, bob, 7n],
    );
    assert.equal(await conf.readContract({ address: token, abi: art.abi, functionName: 'balanceOf', args: [bob] }), 7n);

    // A transfer beyond the balance: the signed gas estimate already reverts, decoded.
    const tooMuch = await conf.writeContract({ address: token, abi: art.abi, functionName: 'transfer', args: [bob, 10_000n] }).catch((e) => e);
    const r = revertOf(tooMuch);
    assert.equal(r.data.errorName, 'InsufficientBalance');
    assert.deepEqual(r.data.args, [me, 993n, 10_000n]);
    // With an explicit gas limit the transaction is mined, fails, and its sealed result says why.
    const onChain = await conf.writeContract({ address: token, abi: art.abi, functionName: 'failWithReason', gas: 100_000n }).catch((e) => e);
    assert.equal(revertOf(onChain).reason, 'TestToken: always fails');

    // msg.sender is real only in a signed query; unsigned calls run as sender zero.
    const signed = await conf.readContract({ address: token, abi: art.abi, functionName: 'failWithCustomError', args: [5n] }).catch((e) => e);
    assert.deepEqual(revertOf(signed).data.args, [me, 0n, 5n]);
    const unsigned = await conf.readContract({ address: token, abi: art.abi, functionName: 'failWithCustomError', args: [5n], signed: false }).catch((e) => e);
    assert.deepEqual(revertOf(unsigned).data.args, ['0x0000000000000000000000000000000000000000', 0n, 5n]);
    const gas = await conf.estimateContractGas({ address: token, abi: art.abi, functionName: 'transfer', args: [bob, 1n] });
    assert.ok(gas > 21_000n && gas < 200_000n, `${gas}`);
  });

  it('does the same from ethers v6: deploy, write, signed read, CALL_EXCEPTION reverts', async () => {
    const provider = ethersProvider(node);
    const signer = ethersWallet(2, provider);
    const me = devAccount(2).address;
    const c = confidentialEthers({ provider, signer, serviceIdentity: identity });
    const { address, receipt, logs } = await c.deploy({ abi: art.abi, bytecode: art.bytecode, args: ['Ethers', 'ETH6', 500n] });
    assert.equal(receipt.status, 1);
    assert.equal(receipt.logs.length, 0);
    assert.equal(logs[0].eventName, 'Transfer');
    const w = await c.write({ address, abi: art.abi, method: 'transfer', args: [devAccount(3).address, 11n] });
    assert.equal(w.result, true);
    assert.equal(w.logs[0].args.value, 11n);
    assert.equal(await c.read({ address, abi: art.abi, method: 'balanceOf', args: [me] }), 489n);
    const signed = await c.read({ address, abi: art.abi, method: 'failWithCustomError', args: [5n] }).catch((e) => e);
    assert.equal(signed.code, 'CALL_EXCEPTION');
    assert.equal(signed.revert.name, 'InsufficientBalance');
    assert.equal(signed.revert.args[0], me, 'a signed read runs as the signer');
    const unsigned = await c.read({ address, abi: art.abi, method: 'failWithCustomError', args: [5n], signed: false }).catch((e) => e);
    assert.equal(unsigned.revert.args[0], '0x0000000000000000000000000000000000000000');
    const tooMuch = await c.write({ address, abi: art.abi, method: 'transfer', args: [me, 10_000n] }).catch((e) => e);
    assert.equal(tooMuch.code, 'CALL_EXCEPTION');
    assert.deepEqual(tooMuch.revert.args, [me, 489n, 10_000n]);
    const onChain = await c.write({ address, abi: art.abi, method: 'failWithReason', gasLimit: 100_000n }).catch((e) => e);
    assert.equal(onChain.reason, 'TestToken: always fails');
  });

  it('keeps private logs out of eth_getLogs, filters and log subscriptions; published ones reach them', async () => {
    const probe = loadArtifact('PublicLogProbe');
    const c = confidential({ publicClient: v.publicClient, walletClient: v.wallet(4), serviceIdentity: identity });
    const { address } = await c.deployContract({ abi: probe.abi, bytecode: probe.bytecode });
    const ws = await wsConnect(node.wsUrl);
    try {
      const all = await ws.request('eth_subscribe', ['logs', {}]);
      const mine = await ws.request('eth_subscribe', ['logs', { address }]);
      const filter = await rpc(node.url, 'eth_newFilter', [{ fromBlock: 'latest' }]);
      const w = await c.writeContract({ address, abi: probe.abi, functionName: 'announce', args: [424242n, '0x6869'] });
      assert.deepEqual(w.logs.map((l) => l.eventName), ['Secret'], 'the sealed result holds the private event only');
      assert.equal(w.logs[0].args.value, 424242n);
      assert.equal(w.receipt.logs.length, 1, 'the receipt has only the published log');
      const published = w.receipt.logs[0];
      assert.equal(published.address.toLowerCase(), address.toLowerCase());

      const onAll = await ws.next(all, 10_000);
      const onMine = await ws.next(mine, 10_000);
      for (const n of [onAll, onMine]) {
        assert.equal(n.transactionHash, w.hash);
        assert.deepEqual(n.topics, published.topics, 'the notification is the published log');
      }
      const changes = await rpc(node.url, 'eth_getFilterChanges', [filter]);
      assert.deepEqual(changes.map((l) => l.topics), [published.topics]);
      const logs = await rpc(node.url, 'eth_getLogs', [{ address, fromBlock: '0x0' }]);
      assert.deepEqual(logs.map((l) => l.topics), [published.topics], 'eth_getLogs: only the published log');
      // No second notification: the private Secret event never reaches a subscription.
      await assert.rejects(ws.next(all, 500), /no notification/);
      await assert.rejects(ws.next(mine, 500), /no notification/);
    } finally {
      ws.close();
    }
  });

  it('refuses to encrypt to a key the pinned identity did not sign', async () => {
    const wrong = confidential({ publicClient: v.publicClient, walletClient: v.wallet(0), serviceIdentity: new Uint8Array(32).fill(3) });
    await assert.rejects(wrong.encryptionKey(), /another service identity/);
    assert.throws(() => confidential({ publicClient: v.publicClient }), /pinned serviceIdentity/);
  });
});

describe('epoch window (genesis with epochSeconds = 3)', () => {
  let node, publicClient, wallet, account;
  const EPOCH = 3;
  const CHAIN_ID = 778;
  before(async () => {
    account = privateKeyToAccount(generatePrivateKey());
    node = await startGenesisNode({
      genesis: {
        config: { chainId: CHAIN_ID, txnchain: { confidential: { epochSeconds: EPOCH } } },
        gasLimit: toHex(30_000_000),
        baseFeePerGas: toHex(1_000_000_000),
        alloc: { [account.address]: { balance: toHex(parseEther('5')) } },
      },
    });
    const chain = { id: CHAIN_ID, name: 'epochs', nativeCurrency: { name: 'E', symbol: 'E', decimals: 18 }, rpcUrls: { default: { http: [node.url] } } };
    publicClient = createPublicClient({ chain, transport: http(node.url), pollingInterval: 50 });
    wallet = createWalletClient({ chain, transport: http(node.url), account });
  });
  after(async () => {
    await node?.destroy();
  });

  it('accepts an envelope two epochs old and refuses it three epochs old', async () => {
    const identity = await attestedServiceIdentity(node.url);
    const key = await (await fetch(`${node.url}/v1/encryption-key`)).json();
    const { chainId, epoch, publicKey } = verifyEncryptionKey(key, identity);
    assert.equal(chainId, BigInt(CHAIN_ID));
    const wall = BigInt(Math.floor(Date.now() / 1000 / EPOCH));
    assert.ok(epoch === wall || epoch + 1n === wall, `epoch ${epoch} = floor(timestamp / epochSeconds) ≈ ${wall}`);
    const to = '0x00000000000000000000000000000000000000aa';
    const envelopeAt = async (nonce) => bytesToHex((await seal({
      publicKey, chainId, epoch, binding: { kind: 'tx', sender: account.address, to, nonce }, plaintext: hexToBytes('0x1234'),
    })).envelope);
    const untilEpoch = async (e) => {
      while (BigInt(Math.floor(Date.now() / 1000 / EPOCH)) < e) await sleep(100);
    };

    // Two epochs later the key is still served and the envelope is admitted and included.
    await untilEpoch(epoch + 2n);
    const old = await (await fetch(`${node.url}/v1/encryption-key?epoch=${epoch}`)).json();
    assert.equal(old.publicKey, key.publicKey);
    const nonce = await publicClient.getTransactionCount({ address: account.address, blockTag: 'pending' });
    const hash = await wallet.sendTransaction({ to, data: await envelopeAt(nonce), gas: 100_000n, nonce });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success', 'the envelope opened in its block');

    // Three epochs later: the key and the envelope are refused before anything runs.
    await untilEpoch(epoch + 3n);
    const refused = await rpcResponse(node.url, 'txnchain_getEncryptionKey', [toHex(epoch)]);
    assert.equal(refused.error.code, -32602);
    assert.match(refused.error.message, new RegExp(`^epoch ${epoch} is not accepted \\(current epoch \\d+, oldest accepted \\d+\\)$`));
    const late = await wallet.sendTransaction({ to, data: await envelopeAt(nonce + 1), gas: 100_000n, nonce: nonce + 1 }).catch((e) => e);
    assert.match(`${late.details ?? late.message}`, /invalid confidential envelope: epoch \d+ is not accepted/);
  });
});
