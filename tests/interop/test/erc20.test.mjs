// ERC-20 (contracts/artifacts/TestToken.json): deploy with viem and ethers, transfers,
// events in receipts, eth_getLogs by address / topics / block range / block hash, log and
// block filters, revert reasons and custom errors via eth_call and eth_estimateGas.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseEventLogs,
  encodeFunctionData,
  encodeErrorResult,
  decodeErrorResult,
  encodeEventTopics,
  pad,
  getAddress,
  ContractFunctionRevertedError,
  BaseError,
  toHex,
} from 'viem';
import { startNode } from '../lib/node.mjs';
import {
  viemClients,
  ethersProvider,
  ethersWallet,
  devAccount,
  rpc,
  rpcResponse,
  assertRpcError,
  loadArtifact,
  deployTestToken,
  randomAddress,
  ethers,
} from '../lib/util.mjs';

const art = loadArtifact('TestToken');
const abi = art.abi;
const TRANSFER_TOPIC = encodeEventTopics({ abi, eventName: 'Transfer' })[0];
const PING_TOPIC = encodeEventTopics({ abi, eventName: 'Ping' })[0];
const hex = (n) => '0x' + BigInt(n).toString(16);

describe('ERC-20 with events, logs and filters', () => {
  let node, v, provider, token, deployBlock;
  const alice = devAccount(0).address;
  const bob = devAccount(1).address;

  before(async () => {
    node = await startNode();
    v = viemClients(node);
    provider = ethersProvider(node);
    const d = await deployTestToken(v.publicClient, v.wallet(0));
    token = d.address;
    deployBlock = d.receipt.blockNumber;
  });
  after(async () => {
    provider?.destroy();
    await node?.destroy();
  });

  it('viem deployment: code, constructor state, Transfer(mint) in the receipt', async () => {
    const code = await v.publicClient.getCode({ address: token });
    assert.equal(code, art.deployedBytecode, 'runtime code equals the artifact deployedBytecode');
    const r = (fn, args = []) => v.publicClient.readContract({ address: token, abi, functionName: fn, args });
    assert.equal(await r('name'), 'Test Token');
    assert.equal(await r('symbol'), 'TT');
    assert.equal(await r('decimals'), 18);
    assert.equal(await r('totalSupply'), 10n ** 24n);
    assert.equal(await r('balanceOf', [alice]), 10n ** 24n);
    const receipt = await v.publicClient.getTransactionReceipt({ hash: (await v.publicClient.getBlock({ blockNumber: deployBlock })).transactions[0] });
    const logs = parseEventLogs({ abi, logs: receipt.logs, eventName: 'Transfer' });
    assert.equal(logs.length, 1);
    assert.equal(logs[0].args.from, '0x0000000000000000000000000000000000000000');
    assert.equal(logs[0].args.to, alice);
  });

  it('ethers deployment with ContractFactory and calls through ethers.Contract', async () => {
    const wallet = ethersWallet(5, provider);
    const factory = new ethers.ContractFactory(abi, art.bytecode, wallet);
    const c = await factory.deploy('Ethers Token', 'ET', 1000n);
    await c.waitForDeployment();
    const addr = await c.getAddress();
    assert.equal(await provider.getCode(addr), art.deployedBytecode);
    assert.equal(await c.name(), 'Ethers Token');
    assert.equal(await c.balanceOf(wallet.address), 1000n);
    const tx = await c.transfer(bob, 400n);
    const receipt = await tx.wait(1, 30_000);
    assert.equal(receipt.status, 1);
    const parsed = receipt.logs.map((l) => c.interface.parseLog(l)).filter(Boolean);
    assert.equal(parsed.length, 1);
    assert.equal(parsed[0].name, 'Transfer');
    assert.equal(parsed[0].args.from, wallet.address);
    assert.equal(parsed[0].args.to, bob);
    assert.equal(parsed[0].args.value, 400n);
    assert.equal(await c.balanceOf(bob), 400n);
    // ethers decodes the revert reason of a static call.
    await assert.rejects(c.failWithReason.staticCall(), (e) => {
      assert.equal(e.code, 'CALL_EXCEPTION');
      assert.equal(e.reason, 'TestToken: always fails');
      return true;
    });
  });

  it('transfer with viem: Transfer event in the receipt with the right log fields', async () => {
    const hash = await v.wallet(0).writeContract({ address: token, abi, functionName: 'transfer', args: [bob, 1234n] });
    const receipt = await v.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.logs.length, 1);
    const log = receipt.logs[0];
    assert.equal(getAddress(log.address), getAddress(token));
    assert.equal(log.topics[0], TRANSFER_TOPIC);
    assert.equal(log.topics[1], pad(alice.toLowerCase()));
    assert.equal(log.topics[2], pad(bob.toLowerCase()));
    assert.equal(log.data, pad(toHex(1234n)));
    assert.equal(log.transactionHash, hash);
    assert.equal(log.blockHash, receipt.blockHash);
    assert.equal(log.blockNumber, receipt.blockNumber);
    assert.equal(log.removed, false);
    assert.equal(typeof log.logIndex, 'number');
    assert.notEqual(receipt.logsBloom, '0x' + '00'.repeat(256), 'logsBloom covers the log');
    const [ev] = parseEventLogs({ abi, logs: receipt.logs });
    assert.equal(ev.eventName, 'Transfer');
    assert.equal(ev.args.value, 1234n);
    assert.equal(await v.publicClient.readContract({ address: token, abi, functionName: 'balanceOf', args: [bob] }), 1234n);
  });

  it('eth_getLogs by address, topics, block range and block hash', async () => {
    const hash = await v.wallet(0).writeContract({ address: token, abi, functionName: 'emitMany', args: [5n] });
    const receipt = await v.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.logs.length, 5);
    const b = hex(receipt.blockNumber);

    const byAddress = await rpc(node.url, 'eth_getLogs', [{ address: token, fromBlock: b, toBlock: b }]);
    assert.equal(byAddress.length, 5);
    assert.deepEqual(byAddress.map((l) => BigInt(l.topics[1])), [0n, 1n, 2n, 3n, 4n]);
    // logIndex is increasing within the block.
    for (let i = 1; i < byAddress.length; i++) assert.ok(BigInt(byAddress[i].logIndex) > BigInt(byAddress[i - 1].logIndex));

    const byTopic = await rpc(node.url, 'eth_getLogs', [
      { address: token, fromBlock: hex(deployBlock), toBlock: 'latest', topics: [PING_TOPIC, pad(toHex(3n))] },
    ]);
    assert.equal(byTopic.length, 1);
    assert.equal(BigInt(byTopic[0].topics[1]), 3n);

    // OR within a topic position, null as wildcard.
    const orTopics = await rpc(node.url, 'eth_getLogs', [
      { address: token, fromBlock: b, toBlock: b, topics: [PING_TOPIC, [pad(toHex(1n)), pad(toHex(4n))], pad(alice.toLowerCase())] },
    ]);
    assert.deepEqual(orTopics.map((l) => BigInt(l.topics[1])), [1n, 4n]);
    const wildcard = await rpc(node.url, 'eth_getLogs', [
      { fromBlock: b, toBlock: b, topics: [null, null, pad(alice.toLowerCase())] },
    ]);
    assert.equal(wildcard.length, 5);

    const transfers = await rpc(node.url, 'eth_getLogs', [
      { address: [token], fromBlock: hex(deployBlock), toBlock: 'latest', topics: [TRANSFER_TOPIC] },
    ]);
    assert.ok(transfers.length >= 2, 'mint + transfer');
    assert.ok(transfers.every((l) => l.topics[0] === TRANSFER_TOPIC));

    const byHash = await rpc(node.url, 'eth_getLogs', [{ blockHash: receipt.blockHash, address: token }]);
    assert.equal(byHash.length, 5);

    const none = await rpc(node.url, 'eth_getLogs', [{ address: randomAddress(), fromBlock: '0x0', toBlock: 'latest' }]);
    assert.deepEqual(none, []);
    const before = await rpc(node.url, 'eth_getLogs', [{ address: token, fromBlock: '0x0', toBlock: hex(deployBlock - 1n) }]);
    assert.deepEqual(before, []);

    // viem's typed getLogs / getContractEvents on top of it.
    const evs = await v.publicClient.getContractEvents({ address: token, abi, eventName: 'Ping', fromBlock: receipt.blockNumber, toBlock: receipt.blockNumber });
    assert.equal(evs.length, 5);
    assert.equal(evs[2].args.index, 2n);
    // ethers queryFilter.
    const c = new ethers.Contract(token, abi, provider);
    const q = await c.queryFilter(c.filters.Ping(4n), Number(receipt.blockNumber), Number(receipt.blockNumber));
    assert.equal(q.length, 1);
    assert.equal(q[0].args.index, 4n);
  });

  it('eth_newFilter + eth_getFilterChanges / eth_getFilterLogs / eth_uninstallFilter', async () => {
    const id = await rpc(node.url, 'eth_newFilter', [{ address: token, topics: [TRANSFER_TOPIC] }]);
    assert.match(id, /^0x[0-9a-f]+$/);
    assert.deepEqual(await rpc(node.url, 'eth_getFilterChanges', [id]), []);
    const hash = await v.wallet(0).writeContract({ address: token, abi, functionName: 'transfer', args: [bob, 7n] });
    await v.publicClient.waitForTransactionReceipt({ hash });
    const changes = await rpc(node.url, 'eth_getFilterChanges', [id]);
    assert.equal(changes.length, 1);
    assert.equal(changes[0].transactionHash, hash);
    assert.deepEqual(await rpc(node.url, 'eth_getFilterChanges', [id]), [], 'changes are returned once');
    const all = await rpc(node.url, 'eth_getFilterLogs', [id]);
    assert.ok(all.some((l) => l.transactionHash === hash));
    assert.equal(await rpc(node.url, 'eth_uninstallFilter', [id]), true);
    assert.equal(await rpc(node.url, 'eth_uninstallFilter', [id]), false);
    const gone = await rpcResponse(node.url, 'eth_getFilterChanges', [id]);
    assertRpcError(gone, -32000, 'filter not found');
  });

  it('eth_newBlockFilter and eth_newPendingTransactionFilter', async () => {
    const bf = await rpc(node.url, 'eth_newBlockFilter');
    const pf = await rpc(node.url, 'eth_newPendingTransactionFilter');
    const hash = await v.wallet(0).writeContract({ address: token, abi, functionName: 'transfer', args: [bob, 1n] });
    const receipt = await v.publicClient.waitForTransactionReceipt({ hash });
    const blocks = await rpc(node.url, 'eth_getFilterChanges', [bf]);
    assert.ok(blocks.includes(receipt.blockHash), 'block filter reports the new block hash');
    const pending = await rpc(node.url, 'eth_getFilterChanges', [pf]);
    assert.ok(pending.includes(hash), 'pending-transaction filter reports the transaction hash');
    // viem's createBlockFilter / getFilterChanges.
    const vf = await v.publicClient.createBlockFilter();
    const h2 = await v.wallet(0).writeContract({ address: token, abi, functionName: 'transfer', args: [bob, 1n] });
    const r2 = await v.publicClient.waitForTransactionReceipt({ hash: h2 });
    const vchanges = await v.publicClient.getFilterChanges({ filter: vf });
    assert.ok(vchanges.includes(r2.blockHash));
    await v.publicClient.uninstallFilter({ filter: vf });
    await rpc(node.url, 'eth_uninstallFilter', [bf]);
    await rpc(node.url, 'eth_uninstallFilter', [pf]);
  });

  it('revert reason via eth_call and eth_estimateGas: code 3, "execution reverted: <reason>", data', async () => {
    const data = encodeFunctionData({ abi, functionName: 'failWithReason' });
    const expectedData = encodeErrorResult({
      abi: [{ type: 'error', name: 'Error', inputs: [{ name: 'message', type: 'string' }] }],
      errorName: 'Error',
      args: ['TestToken: always fails'],
    });
    for (const method of ['eth_call', 'eth_estimateGas']) {
      const params = method === 'eth_call' ? [{ from: alice, to: token, data }, 'latest'] : [{ from: alice, to: token, data }];
      const err = assertRpcError(await rpcResponse(node.url, method, params), 3, 'execution reverted', method);
      assert.equal(err.message, 'execution reverted: TestToken: always fails', method);
      assert.equal(err.data, expectedData, `${method} carries the revert data`);
    }
    // viem decodes it.
    await assert.rejects(
      v.publicClient.simulateContract({ address: token, abi, functionName: 'failWithReason', account: alice }),
      (e) => {
        const r = e instanceof BaseError ? e.walk((x) => x instanceof ContractFunctionRevertedError) : null;
        assert.ok(r, `viem ContractFunctionRevertedError expected, got ${e.shortMessage}`);
        assert.equal(r.reason, 'TestToken: always fails');
        return true;
      },
    );
    await assert.rejects(
      v.publicClient.estimateContractGas({ address: token, abi, functionName: 'failWithReason', account: alice }),
      (e) => {
        assert.match(e.shortMessage + e.message, /TestToken: always fails/);
        return true;
      },
    );
  });

  it('custom error and panic revert data', async () => {
    const data = encodeFunctionData({ abi, functionName: 'failWithCustomError', args: [42n] });
    const expected = encodeErrorResult({ abi, errorName: 'InsufficientBalance', args: [alice, 0n, 42n] });
    for (const method of ['eth_call', 'eth_estimateGas']) {
      const params = method === 'eth_call' ? [{ from: alice, to: token, data }, 'latest'] : [{ from: alice, to: token, data }];
      const err = assertRpcError(await rpcResponse(node.url, method, params), 3, 'execution reverted', method);
      assert.equal(err.data, expected, method);
      const dec = decodeErrorResult({ abi, data: err.data });
      assert.equal(dec.errorName, 'InsufficientBalance');
      assert.deepEqual(dec.args, [alice, 0n, 42n]);
    }
    await assert.rejects(
      v.publicClient.simulateContract({ address: token, abi, functionName: 'failWithCustomError', args: [42n], account: alice }),
      (e) => {
        const r = e.walk((x) => x instanceof ContractFunctionRevertedError);
        assert.ok(r);
        assert.equal(r.data?.errorName, 'InsufficientBalance');
        return true;
      },
    );
    const panic = assertRpcError(
      await rpcResponse(node.url, 'eth_call', [{ to: token, data: encodeFunctionData({ abi, functionName: 'failWithPanic', args: [0n] }) }, 'latest']),
      3,
      'execution reverted',
    );
    assert.equal(panic.data, '0x4e487b71' + (0x12).toString(16).padStart(64, '0'), 'Panic(0x12)');
    // Revert without data: still code 3, "execution reverted".
    const empty = await rpcResponse(node.url, 'eth_call', [{ to: token, data: encodeFunctionData({ abi, functionName: 'failEmpty' }) }, 'latest']);
    assertRpcError(empty, 3, 'execution reverted');
    assert.ok(empty.error.data === undefined || empty.error.data === '0x');
  });

  it('a reverting transaction is mined with status 0 and charges gas', async () => {
    const data = encodeFunctionData({ abi, functionName: 'failWithReason' });
    const hash = await v.wallet(0).sendTransaction({ to: token, data, gas: 100_000n });
    const receipt = await v.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'reverted');
    assert.ok(receipt.gasUsed > 21000n && receipt.gasUsed < 100_000n);
    assert.equal(receipt.logs.length, 0);
  });

  it('eth_estimateGas for a successful call is enough and not wildly above', async () => {
    const gas = await v.publicClient.estimateContractGas({ address: token, abi, functionName: 'transfer', args: [randomAddress(), 1n], account: alice });
    assert.ok(gas > 21000n && gas < 100_000n, `estimate ${gas}`);
    const hash = await v.wallet(0).writeContract({ address: token, abi, functionName: 'transfer', args: [randomAddress(), 1n], gas });
    const r = await v.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(r.status, 'success');
    assert.ok(r.gasUsed <= gas);
  });
});
