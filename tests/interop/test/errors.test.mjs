// Errors with geth's codes and message prefixes (viem and ethers classify errors by them):
// transaction admission errors over eth_sendRawTransaction, and protocol-level errors
// (unknown method, parse error, invalid params, oversized body, batches) over raw HTTP.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import {
  parseGwei,
  keccak256,
  NonceTooLowError,
  NonceTooHighError,
  InsufficientFundsError,
  IntrinsicGasTooLowError,
  FeeCapTooLowError,
  serializeTransaction,
  parseSignature,
  createWalletClient,
  http,
} from 'viem';
import { startNode } from '../lib/node.mjs';
import {
  CHAIN_ID,
  viemClients,
  txnchainChain,
  ethersProvider,
  devAccount,
  randomAccount,
  randomAddress,
  rpc,
  rpcResponse,
  assertRpcError,
  expectViemError,
  postRaw,
  devPrivateKey,
  ethers,
} from '../lib/util.mjs';

const FEE = { maxFeePerGas: parseGwei('2'), maxPriorityFeePerGas: parseGwei('1') };

describe('transaction admission errors (geth codes and messages)', () => {
  let node, v, provider;

  before(async () => {
    node = await startNode();
    v = viemClients(node);
    provider = ethersProvider(node);
  });
  after(async () => {
    provider?.destroy();
    await node?.destroy();
  });

  const nonceOf = (acct) => v.publicClient.getTransactionCount({ address: acct.address, blockTag: 'pending' });
  const sign = (acct, fields) =>
    acct.signTransaction({ chainId: CHAIN_ID, type: 'eip1559', to: randomAddress(), value: 1n, gas: 21000n, ...FEE, ...fields });
  const send = (raw) => rpcResponse(node.url, 'eth_sendRawTransaction', [raw]);
  // viem classifies node errors (NonceTooLowError, …) on its sendTransaction path, which signs
  // locally and maps the RPC error by geth's message; sendRawTransaction returns it unmapped.
  const viemSend = (acct, fields) =>
    createWalletClient({ account: acct, chain: txnchainChain(node), transport: http(node.url) }).sendTransaction({
      to: randomAddress(),
      value: 1n,
      gas: 21000n,
      ...FEE,
      ...fields,
    });

  it('nonce too low', async () => {
    const acct = devAccount(1);
    const h = await v.wallet(1).sendTransaction({ to: randomAddress(), value: 1n });
    await v.publicClient.waitForTransactionReceipt({ hash: h });
    const next = await nonceOf(acct);
    const raw = await sign(acct, { nonce: next - 1 });
    const err = assertRpcError(await send(raw), -32000, 'nonce too low');
    assert.match(err.message, /^nonce too low: next nonce \d+, tx nonce \d+$/);
    await expectViemError(viemSend(acct, { nonce: next - 1 }), NonceTooLowError, 'viem');
    const wallet = new ethers.Wallet(devPrivateKey(1), provider);
    await assert.rejects(wallet.sendTransaction({ to: randomAddress(), value: 1n, nonce: next - 1 }), (e) => {
      assert.equal(e.code, 'NONCE_EXPIRED', `ethers classifies as NONCE_EXPIRED, got ${e.code}: ${e.message}`);
      return true;
    });
  });

  it('nonce too high (far beyond the pool window)', async () => {
    const acct = devAccount(2);
    const raw = await sign(acct, { nonce: (await nonceOf(acct)) + 1_000_000 });
    assertRpcError(await send(raw), -32000, 'nonce too high');
    await expectViemError(viemSend(acct, { nonce: (await nonceOf(acct)) + 1_000_000 }), NonceTooHighError, 'viem');
  });

  it('insufficient funds for gas * price + value', async () => {
    const poor = randomAccount();
    const raw = await sign(poor, { nonce: 0 });
    assertRpcError(await send(raw), -32000, 'insufficient funds for gas * price + value');
    await expectViemError(viemSend(poor, { nonce: 0 }), InsufficientFundsError, 'viem');
    // Value above the balance of a funded account.
    const acct = devAccount(3);
    const raw2 = await sign(acct, { nonce: await nonceOf(acct), value: 20_000n * 10n ** 18n });
    assertRpcError(await send(raw2), -32000, 'insufficient funds for gas * price + value');
    const wallet = new ethers.Wallet(devPrivateKey(3), provider);
    await assert.rejects(wallet.sendTransaction({ to: randomAddress(), value: 20_000n * 10n ** 18n, gasLimit: 21000n }), (e) => {
      assert.equal(e.code, 'INSUFFICIENT_FUNDS', `ethers: ${e.code}: ${e.message}`);
      return true;
    });
  });

  it('intrinsic gas too low', async () => {
    const acct = devAccount(4);
    const raw = await sign(acct, { nonce: await nonceOf(acct), gas: 20_000n });
    const err = assertRpcError(await send(raw), -32000, 'intrinsic gas too low');
    assert.match(err.message, /gas 20000, minimum needed 21000/);
    await expectViemError(viemSend(acct, { nonce: await nonceOf(acct), gas: 20_000n }), IntrinsicGasTooLowError, 'viem');
  });

  it('replacement transaction underpriced / already known (on a queued, gapped transaction)', async () => {
    const acct = devAccount(5);
    const next = await nonceOf(acct);
    // nonce+1 waits in the queue for the gap at `next`.
    const queued = await sign(acct, { nonce: next + 1, ...FEE });
    const hash = await rpc(node.url, 'eth_sendRawTransaction', [queued]);
    assert.equal(hash, keccak256(queued));
    assertRpcError(await send(queued), -32000, 'already known');
    // Same nonce, tip bumped by < 10 %.
    const cheapBump = await sign(acct, {
      nonce: next + 1,
      to: randomAddress(),
      maxFeePerGas: FEE.maxFeePerGas + 1n,
      maxPriorityFeePerGas: FEE.maxPriorityFeePerGas + 1n,
    });
    assertRpcError(await send(cheapBump), -32000, 'replacement transaction underpriced');
    const wallet = new ethers.Wallet(devPrivateKey(5), provider);
    await assert.rejects(
      wallet.sendTransaction({ to: randomAddress(), value: 1n, nonce: next + 1, gasLimit: 21000n, maxFeePerGas: FEE.maxFeePerGas + 2n, maxPriorityFeePerGas: FEE.maxPriorityFeePerGas + 2n }),
      (e) => {
        assert.equal(e.code, 'REPLACEMENT_UNDERPRICED', `ethers: ${e.code}: ${e.message}`);
        return true;
      },
    );
    // A >= 10 % bump replaces it.
    const goodBump = await sign(acct, {
      nonce: next + 1,
      maxFeePerGas: (FEE.maxFeePerGas * 12n) / 10n,
      maxPriorityFeePerGas: (FEE.maxPriorityFeePerGas * 12n) / 10n,
    });
    assert.equal(await rpc(node.url, 'eth_sendRawTransaction', [goodBump]), keccak256(goodBump));
    // Fill the gap: both commit, and the replacement (not the original) is the one mined.
    const gap = await sign(acct, { nonce: next });
    await rpc(node.url, 'eth_sendRawTransaction', [gap]);
    const r = await v.publicClient.waitForTransactionReceipt({ hash: keccak256(goodBump) });
    assert.equal(r.status, 'success');
    assert.equal(await rpc(node.url, 'eth_getTransactionReceipt', [keccak256(queued)]), null);
    assert.equal(await v.publicClient.getTransactionCount({ address: acct.address }), next + 2);
  });

  it('invalid chain id for signer', async () => {
    const acct = devAccount(6);
    const raw = await acct.signTransaction({
      chainId: 1,
      type: 'eip1559',
      nonce: await nonceOf(acct),
      to: randomAddress(),
      value: 1n,
      gas: 21000n,
      ...FEE,
    });
    const err = assertRpcError(await send(raw), -32000, /invalid chain id for signer/);
    assert.match(err.message, /have 1 want 424242/);
  });

  it('unprotected (pre-EIP-155) legacy transactions are refused over RPC', async () => {
    const acct = devAccount(6);
    const raw = await acct.signTransaction({
      type: 'legacy',
      nonce: await nonceOf(acct),
      to: randomAddress(),
      value: 1n,
      gas: 21000n,
      gasPrice: parseGwei('2'),
      // no chainId → v = 27/28
    });
    assertRpcError(await send(raw), -32000, 'only replay-protected (EIP-155) transactions allowed over RPC');
  });

  it('max fee per gas below the base fee is refused at admission', async () => {
    const acct = devAccount(7);
    const raw = await sign(acct, { nonce: await nonceOf(acct), maxFeePerGas: parseGwei('0.5'), maxPriorityFeePerGas: 0n });
    assertRpcError(await send(raw), -32000, 'max fee per gas less than block base fee');
    await expectViemError(
      viemSend(acct, { nonce: await nonceOf(acct), maxFeePerGas: parseGwei('0.5'), maxPriorityFeePerGas: 0n }),
      FeeCapTooLowError,
      'viem',
    );
    const legacy = await acct.signTransaction({
      chainId: CHAIN_ID,
      type: 'legacy',
      nonce: await nonceOf(acct),
      to: randomAddress(),
      value: 1n,
      gas: 21000n,
      gasPrice: parseGwei('0.5'),
    });
    assertRpcError(await send(legacy), -32000, 'max fee per gas less than block base fee');
  });

  it('oversized data (> 128 KiB transaction)', async () => {
    const acct = devAccount(8);
    const raw = await sign(acct, { nonce: await nonceOf(acct), gas: 30_000_000n, data: '0x' + '01'.repeat(130 * 1024) });
    assertRpcError(await send(raw), -32000, 'oversized data');
  });

  it('blob transactions are not supported', async () => {
    // A minimal type-3 envelope: the node must refuse the type, whatever the payload.
    const acct = devAccount(8);
    const tx = {
      type: 'eip4844',
      chainId: CHAIN_ID,
      nonce: await nonceOf(acct),
      to: randomAddress(),
      gas: 21000n,
      ...FEE,
      maxFeePerBlobGas: 1n,
      blobVersionedHashes: ['0x01' + '00'.repeat(31)],
    };
    const sig = await acct.sign({ hash: keccak256(serializeTransaction(tx)) });
    const raw = serializeTransaction(tx, parseSignature(sig));
    const res = await send(raw);
    assert.ok(res.error, 'blob transaction must be refused');
    assert.ok(res.error.message.startsWith('transaction type not supported') || res.error.code === -32602, JSON.stringify(res.error));
  });

  it('a rejected transaction changes nothing', async () => {
    const acct = devAccount(9);
    const before = await v.publicClient.getBalance({ address: acct.address });
    const n = await nonceOf(acct);
    await send(await sign(acct, { nonce: n, gas: 20_000n }));
    await send(await sign(acct, { nonce: n, maxFeePerGas: 1n, maxPriorityFeePerGas: 0n }));
    assert.equal(await v.publicClient.getBalance({ address: acct.address }), before);
    assert.equal(await nonceOf(acct), n);
    assert.deepEqual(await rpc(node.url, 'txpool_status'), { pending: '0x0', queued: '0x0' });
  });
});

describe('protocol-level errors (raw HTTP)', () => {
  let node;

  before(async () => {
    node = await startNode();
  });
  after(async () => {
    await node?.destroy();
  });

  it('unknown method: -32601 "the method foo does not exist/is not available"', async () => {
    const res = await rpcResponse(node.url, 'foo', []);
    assertRpcError(res, -32601);
    assert.equal(res.error.message, 'the method foo does not exist/is not available');
  });

  it('malformed JSON: -32700 with id null', async () => {
    const { json, text } = await postRaw(node.url, '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"');
    assert.ok(json, `parse error answered with JSON, got: ${text}`);
    assert.equal(json.error.code, -32700);
    assert.equal(json.id, null);
  });

  it('invalid request: -32600', async () => {
    const { json } = await postRaw(node.url, JSON.stringify({ jsonrpc: '2.0', id: 7 }));
    assert.equal(json.error.code, -32600);
    const { json: j2 } = await postRaw(node.url, JSON.stringify({ jsonrpc: '2.0', id: 8, method: 5 }));
    assert.equal(j2.error.code, -32600);
  });

  it('garbage hex and wrong params: -32602', async () => {
    for (const [method, params] of [
      ['eth_getBalance', ['0xzz', 'latest']],
      ['eth_getBalance', ['0x1234', 'latest']], // address too short
      ['eth_getBlockByNumber', ['0xnothex', false]],
      ['eth_getBlockByNumber', ['latest']], // missing the bool
      ['eth_sendRawTransaction', ['0xqq']],
      ['eth_getTransactionByHash', ['0x1234']],
      ['eth_call', ['not an object', 'latest']],
    ]) {
      assertRpcError(await rpcResponse(node.url, method, params), -32602, undefined, `${method}(${JSON.stringify(params)})`);
    }
    // Valid hex that is not a transaction: geth says -32000 "rlp: …" or -32602; either way an error.
    const res = await rpcResponse(node.url, 'eth_sendRawTransaction', ['0xdeadbeef']);
    assert.ok(res.error);
  });

  it('oversized HTTP body (> 5 MiB) is HTTP 413', async () => {
    // Declare a 6 MiB body and send only the headers: the server must refuse from
    // Content-Length alone, without waiting for (or racing against) the body.
    const u = new URL(node.url);
    const status = await new Promise((resolve, reject) => {
      const sock = connect({ host: u.hostname, port: Number(u.port) });
      let data = '';
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error('no HTTP response to a 6 MiB Content-Length within 15 s (expected 413)'));
      }, 15_000);
      sock.on('connect', () =>
        sock.write(`POST / HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nContent-Length: ${6 * 1024 * 1024}\r\n\r\n`),
      );
      sock.on('data', (d) => {
        data += d.toString();
        const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
        if (m) {
          clearTimeout(timer);
          sock.destroy();
          resolve(Number(m[1]));
        }
      });
      sock.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    assert.equal(status, 413);
    // A body just under the limit is still served.
    const ok = await postRaw(node.url, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'eth_chainId', params: [], pad: 'y'.repeat(1024 * 1024) }));
    assert.equal(ok.status, 200);
  });

  it('empty batch: a single -32600 error object', async () => {
    const { json } = await postRaw(node.url, '[]');
    assert.ok(!Array.isArray(json), 'not an array');
    assert.equal(json.error.code, -32600);
    assert.equal(json.id, null);
  });

  it('batches: ordered responses, per-element errors, notifications get no response', async () => {
    const batch = [
      { jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] },
      { jsonrpc: '2.0', id: 'two', method: 'eth_blockNumber', params: [] },
      { jsonrpc: '2.0', id: 3, method: 'foo', params: [] },
      { jsonrpc: '2.0', method: 'eth_chainId', params: [] }, // notification
      { jsonrpc: '2.0', id: 4, method: 'eth_getBalance', params: ['0xzz', 'latest'] },
      { foo: 'bar' },
    ];
    const { status, json } = await postRaw(node.url, JSON.stringify(batch));
    assert.equal(status, 200);
    assert.ok(Array.isArray(json), 'batch answered with an array');
    const byId = new Map(json.filter((r) => r.id !== null).map((r) => [r.id, r]));
    assert.equal(byId.get(1).result, '0x' + CHAIN_ID.toString(16));
    assert.match(byId.get('two').result, /^0x[0-9a-f]+$/);
    assert.equal(byId.get(3).error.code, -32601);
    assert.equal(byId.get(4).error.code, -32602);
    const invalid = json.filter((r) => r.id === null);
    assert.equal(invalid.length, 1, 'the invalid element gets one error with id null');
    assert.equal(invalid[0].error.code, -32600);
    assert.equal(json.length, 5, 'no response for the notification');
    assert.deepEqual(json.filter((r) => r.id !== null).map((r) => r.id), [1, 'two', 3, 4], 'order preserved');
  });

  it('a batch of transactions through ethers (which batches JSON-RPC by default)', async () => {
    const provider = ethersProvider(node);
    try {
      const [n, c, b] = await Promise.all([provider.getBlockNumber(), provider.send('eth_chainId', []), provider.getBalance(devAccount(0).address)]);
      assert.ok(n >= 0);
      assert.equal(c, '0x' + CHAIN_ID.toString(16));
      assert.ok(b > 0n);
    } finally {
      provider.destroy();
    }
  });

  it('GET and unsupported content types do not crash the server', async () => {
    const res = await fetch(node.url, { method: 'GET' });
    assert.ok(res.status >= 200 && res.status < 500);
    await res.arrayBuffer();
    const res2 = await fetch(node.url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' });
    assert.ok(res2.status < 500);
    await res2.arrayBuffer();
    assert.equal(await rpc(node.url, 'eth_chainId'), '0x' + CHAIN_ID.toString(16));
  });
});
