// Traces: debug_traceTransaction with callTracer and prestateTracer (plain and diffMode)
// on an ERC-20 transfer, and debug_traceCall.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFunctionData, keccak256, encodeAbiParameters, getAddress } from 'viem';
import { startNode } from '../lib/node.mjs';
import { viemClients, devAccount, rpc, deployTestToken, randomAddress } from '../lib/util.mjs';

const lc = (a) => a.toLowerCase();
const balanceSlot = (holder) => keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [holder, 3n]));

describe('debug traces', () => {
  let node, v, token, abi, txHash, receipt, to;
  const alice = devAccount(0).address;

  before(async () => {
    node = await startNode();
    v = viemClients(node);
    const d = await deployTestToken(v.publicClient, v.wallet(0));
    token = d.address;
    abi = d.abi;
    to = randomAddress();
    txHash = await v.wallet(0).writeContract({ address: token, abi, functionName: 'transfer', args: [to, 500n] });
    receipt = await v.publicClient.waitForTransactionReceipt({ hash: txHash });
  });
  after(async () => {
    await node?.destroy();
  });

  it('callTracer on an ERC-20 transfer', async () => {
    const trace = await rpc(node.url, 'debug_traceTransaction', [txHash, { tracer: 'callTracer' }]);
    assert.equal(trace.type, 'CALL');
    assert.equal(lc(trace.from), lc(alice));
    assert.equal(lc(trace.to), lc(token));
    assert.equal(trace.input, encodeFunctionData({ abi, functionName: 'transfer', args: [to, 500n] }));
    assert.equal(BigInt(trace.output), 1n, 'transfer returned true');
    assert.equal(BigInt(trace.value ?? '0x0'), 0n);
    assert.ok(BigInt(trace.gasUsed) > 0n && BigInt(trace.gasUsed) <= receipt.gasUsed);
    assert.ok(BigInt(trace.gas) > 0n);
    assert.equal(trace.error, undefined);
    assert.ok(!trace.calls || trace.calls.length === 0, 'a plain transfer makes no sub-calls');

    const withLog = await rpc(node.url, 'debug_traceTransaction', [txHash, { tracer: 'callTracer', tracerConfig: { withLog: true } }]);
    assert.equal(withLog.logs?.length, 1, 'withLog includes the Transfer log');
    assert.equal(lc(withLog.logs[0].address), lc(token));
  });

  it('callTracer on a reverted call shows the error and revert reason', async () => {
    const data = encodeFunctionData({ abi, functionName: 'failWithReason' });
    const hash = await v.wallet(0).sendTransaction({ to: token, data, gas: 100_000n });
    await v.publicClient.waitForTransactionReceipt({ hash });
    const trace = await rpc(node.url, 'debug_traceTransaction', [hash, { tracer: 'callTracer' }]);
    assert.equal(trace.error, 'execution reverted');
    assert.equal(trace.revertReason, 'TestToken: always fails');
  });

  it('prestateTracer on an ERC-20 transfer', async () => {
    const pre = await rpc(node.url, 'debug_traceTransaction', [txHash, { tracer: 'prestateTracer' }]);
    const keys = Object.keys(pre).map(lc);
    assert.ok(keys.includes(lc(alice)), 'sender in prestate');
    assert.ok(keys.includes(lc(token)), 'token in prestate');
    const tok = pre[Object.keys(pre).find((k) => lc(k) === lc(token))];
    assert.ok(tok.code && tok.code.length > 2, 'contract code in prestate');
    const storage = Object.fromEntries(Object.entries(tok.storage ?? {}).map(([k, val]) => [lc(k), val]));
    assert.equal(BigInt(storage[lc(balanceSlot(alice))]), 10n ** 24n, "sender's balance slot before the transfer");
    const sender = pre[Object.keys(pre).find((k) => lc(k) === lc(alice))];
    assert.ok(BigInt(sender.balance) > 0n);
    assert.ok(sender.nonce >= 1);

    const diff = await rpc(node.url, 'debug_traceTransaction', [txHash, { tracer: 'prestateTracer', tracerConfig: { diffMode: true } }]);
    assert.ok(diff.pre && diff.post, 'diffMode returns pre and post');
    const postTok = diff.post[Object.keys(diff.post).find((k) => lc(k) === lc(token))];
    const postStorage = Object.fromEntries(Object.entries(postTok.storage ?? {}).map(([k, val]) => [lc(k), val]));
    assert.equal(BigInt(postStorage[lc(balanceSlot(alice))]), 10n ** 24n - 500n);
    assert.equal(BigInt(postStorage[lc(balanceSlot(to))]), 500n);
  });

  it('debug_traceCall with callTracer, and the default (struct logger) trace', async () => {
    const data = encodeFunctionData({ abi, functionName: 'balanceOf', args: [to] });
    const trace = await rpc(node.url, 'debug_traceCall', [{ from: alice, to: token, data }, 'latest', { tracer: 'callTracer' }]);
    assert.equal(trace.type, 'CALL');
    assert.equal(lc(trace.to), lc(token));
    assert.equal(BigInt(trace.output), 500n);
    const pre = await rpc(node.url, 'debug_traceCall', [{ from: alice, to: token, data }, 'latest', { tracer: 'prestateTracer' }]);
    assert.ok(Object.keys(pre).map(lc).includes(lc(token)));
    const structLogs = await rpc(node.url, 'debug_traceCall', [{ from: alice, to: token, data }, 'latest', {}]);
    assert.equal(structLogs.failed, false);
    assert.ok(Array.isArray(structLogs.structLogs) && structLogs.structLogs.length > 0);
    assert.ok(BigInt(structLogs.returnValue.startsWith('0x') ? structLogs.returnValue : '0x' + structLogs.returnValue) === 500n);
    assert.equal(getAddress(receipt.to), getAddress(token));
  });
});
