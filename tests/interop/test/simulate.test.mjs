// eth_simulateV1 (ethereum/execution-apis): viem's simulateCalls / simulateBlocks and raw
// requests — calls that build on each other across simulated blocks, state and block
// overrides, validation, transfer traces, the spec's error codes — and nothing committed.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFunctionData, decodeFunctionResult, parseEther, toHex, keccak256, toBytes, pad } from 'viem';
import { startNode } from '../lib/node.mjs';
import {
  viemClients, rpc, rpcResponse, assertRpcError, randomAddress, deployTestToken, DEV_ADDRESSES, BASE_FEE,
} from '../lib/util.mjs';

const TRANSFER_TOPIC = keccak256(toBytes('Transfer(address,address,uint256)'));
const ETH_LOGGER = '0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee';
const ME = DEV_ADDRESSES[0];
/** Runtime code returning BLOCKHASH(n) for the 8-byte n: PUSH8 n BLOCKHASH PUSH0 MSTORE PUSH1 32 PUSH0 RETURN. */
const blockhashCode = (n) => `0x67${n.toString(16).padStart(16, '0')}405f5260205ff3`;
/** Runtime code returning NUMBER, TIMESTAMP, BASEFEE, COINBASE as four words. */
const BLOCK_ENV_CODE = '0x435f52426020524860405241606052' + '60805ff3';

describe('eth_simulateV1', () => {
  let node, v, token;
  before(async () => {
    node = await startNode();
    v = viemClients(node);
    token = await deployTestToken(v.publicClient, v.wallet(0));
  });
  after(async () => {
    await node?.destroy();
  });

  const head = async () => BigInt(await rpc(node.url, 'eth_blockNumber'));
  const simulate = (payload, block = 'latest') => rpc(node.url, 'eth_simulateV1', [payload, block]);

  it('viem simulateCalls: a transfer and a token transfer, with logs, and nothing committed', async () => {
    const to = randomAddress();
    const before = await head();
    const balance = await v.publicClient.getBalance({ address: ME });
    const { results } = await v.publicClient.simulateCalls({
      account: ME,
      calls: [
        { to, value: parseEther('1') },
        { to: token.address, abi: token.abi, functionName: 'transfer', args: [to, 5n] },
        { to: token.address, abi: token.abi, functionName: 'balanceOf', args: [to] },
      ],
    });
    assert.deepEqual(results.map((r) => r.status), ['success', 'success', 'success']);
    assert.equal(results[0].gasUsed, 21000n);
    assert.equal(results[1].logs.length, 1);
    assert.equal(results[1].logs[0].address.toLowerCase(), token.address.toLowerCase());
    assert.equal(results[1].logs[0].topics[0], TRANSFER_TOPIC);
    assert.equal(results[2].result, 5n, 'the third call sees what the second wrote');
    // Nothing happened on the chain.
    assert.equal(await head(), before);
    assert.equal(await v.publicClient.getBalance({ address: to }), 0n);
    assert.equal(await v.publicClient.getBalance({ address: ME }), balance);
  });

  it('viem simulateCalls with traceAssetChanges: ether and token movements', async () => {
    const to = randomAddress();
    const { assetChanges, results } = await v.publicClient.simulateCalls({
      account: ME,
      traceAssetChanges: true,
      calls: [
        { to, value: parseEther('2') },
        { to: token.address, abi: token.abi, functionName: 'transfer', args: [to, 7n] },
      ],
    });
    assert.deepEqual(results.map((r) => r.status), ['success', 'success']);
    const eth = assetChanges.find((c) => c.token.address === ETH_LOGGER);
    assert.equal(eth.value.diff, -parseEther('2'));
    const tt = assetChanges.find((c) => c.token.address.toLowerCase() === token.address.toLowerCase());
    assert.equal(tt.value.diff, -7n);
    assert.equal(tt.token.symbol, 'TT');
  });

  it('blocks follow the base block: numbers, parent hashes, timestamps, gaps filled, BLOCKHASH', async () => {
    const base = await v.publicClient.getBlock({ blockTag: 'latest' });
    const n = base.number;
    const probe = randomAddress();
    const blocks = await simulate({
      blockStateCalls: [
        { calls: [] },
        { blockOverrides: { number: toHex(n + 4n) }, stateOverrides: { [probe]: { code: blockhashCode(n + 1n) } }, calls: [{ to: probe }] },
      ],
    });
    assert.deepEqual(blocks.map((b) => BigInt(b.number)), [n + 1n, n + 2n, n + 3n, n + 4n], 'the gap is filled with empty blocks');
    assert.equal(blocks[0].parentHash, base.hash);
    for (let i = 1; i < blocks.length; i++) {
      assert.equal(blocks[i].parentHash, blocks[i - 1].hash);
      assert.equal(BigInt(blocks[i].timestamp) - BigInt(blocks[i - 1].timestamp), 12n);
    }
    assert.equal(BigInt(blocks[0].timestamp), base.timestamp + 12n);
    assert.equal(blocks[3].calls[0].returnData, blocks[0].hash, 'BLOCKHASH sees the simulated block');
    assert.equal(blocks[3].transactions.length, 1);
    assert.equal(blocks[3].baseFeePerGas, '0x0', 'no validation: base fee zero');
    assert.equal(blocks[3].miner, '0x0000000000000000000000000000000000000000');
  });

  it('block overrides reach the EVM', async () => {
    const probe = randomAddress();
    const coinbase = randomAddress();
    const n = await head();
    const [b] = await simulate({
      blockStateCalls: [{
        blockOverrides: { number: toHex(n + 10n), time: toHex(4_000_000_000n), baseFeePerGas: '0x7', feeRecipient: coinbase },
        stateOverrides: { [probe]: { code: BLOCK_ENV_CODE } },
        calls: [{ to: probe }],
      }],
    }).then((bs) => bs.slice(-1));
    const words = b.calls[0].returnData.slice(2).match(/.{64}/g).map((w) => BigInt('0x' + w));
    assert.deepEqual(words.slice(0, 3), [n + 10n, 4_000_000_000n, 7n]);
    assert.equal(words[3], BigInt(coinbase));
    assert.equal(b.miner.toLowerCase(), coinbase.toLowerCase());
  });

  it('state carries across blocks; reverts report code 3 with the data; halts -32015', async () => {
    const to = randomAddress();
    const fail = encodeFunctionData({ abi: token.abi, functionName: 'failWithReason', args: [] });
    const blocks = await simulate({
      blockStateCalls: [
        { calls: [{ from: ME, to, value: '0x64' }] },
        { calls: [
          { from: to, to: ME, value: '0x64' }, // spends what the previous block gave it
          { from: ME, to: token.address, input: fail },
          { from: ME, to: token.address, input: encodeFunctionData({ abi: token.abi, functionName: 'balanceOf', args: [ME] }), gas: '0x5800' },
        ] },
      ],
    });
    const [send, revert, oog] = blocks[1].calls;
    assert.equal(send.status, '0x1');
    assert.equal(revert.status, '0x0');
    assert.equal(revert.error.code, 3);
    assert.equal(revert.error.message, 'execution reverted: TestToken: always fails');
    assert.equal(revert.error.data, revert.returnData);
    assert.equal(oog.status, '0x0');
    assert.equal(oog.error.code, -32015);
    assert.equal(BigInt(blocks[1].gasUsed), BigInt(send.gasUsed) + BigInt(revert.gasUsed) + BigInt(oog.gasUsed));
  });

  it('traceTransfers: ether movements as Transfer logs from 0xeeee…, none for a reverted call', async () => {
    const to = randomAddress();
    const [b] = await simulate({
      traceTransfers: true,
      blockStateCalls: [{ calls: [
        { from: ME, to, value: '0x3e8' },
        { from: ME, to: token.address, value: '0x1', input: encodeFunctionData({ abi: token.abi, functionName: 'failWithReason', args: [] }) },
      ] }],
    });
    const [log] = b.calls[0].logs;
    assert.equal(log.address, ETH_LOGGER);
    assert.deepEqual(log.topics, [TRANSFER_TOPIC, pad(ME.toLowerCase()), pad(to.toLowerCase())]);
    assert.equal(BigInt(log.data), 1000n);
    assert.equal(log.blockHash, b.hash);
    assert.equal(log.transactionHash, b.transactions[0]);
    assert.deepEqual(b.calls[1].logs, []);
    // Transfer logs are not part of the bloom.
    assert.equal(b.logsBloom, '0x' + '00'.repeat(256));
  });

  it('validation: the chain base fee, nonces and funds are checked with the spec codes', async () => {
    const nonce = await v.publicClient.getTransactionCount({ address: ME });
    const [b] = await simulate({ validation: true, blockStateCalls: [{ calls: [{ from: ME, to: randomAddress(), maxFeePerGas: toHex(BASE_FEE), nonce: toHex(nonce) }] }] });
    assert.equal(BigInt(b.baseFeePerGas), BASE_FEE);
    assert.equal(b.calls[0].status, '0x1');
    const cases = [
      [-38010, { validation: true, blockStateCalls: [{ calls: [{ from: ME, to: ME, maxFeePerGas: toHex(BASE_FEE), nonce: toHex(nonce - 1) }] }] }],
      [-38011, { validation: true, blockStateCalls: [{ calls: [{ from: ME, to: ME, maxFeePerGas: toHex(BASE_FEE), nonce: toHex(nonce + 5) }] }] }],
      [-38012, { validation: true, blockStateCalls: [{ calls: [{ from: ME, to: ME, maxFeePerGas: '0x1' }] }] }],
      [-38013, { validation: true, blockStateCalls: [{ calls: [{ from: ME, to: ME, maxFeePerGas: toHex(BASE_FEE), gas: '0x100' }] }] }],
      // Without validation the value must still be there.
      [-38014, { blockStateCalls: [{ calls: [{ from: randomAddress(), to: ME, value: '0x3e8' }] }] }],
      [-38015, { blockStateCalls: [{ blockOverrides: { gasLimit: '0x10000' }, calls: [{ from: ME, to: ME, gas: '0x20000' }] }] }],
      [-38020, { blockStateCalls: [{ blockOverrides: { number: toHex((await head()) + 5n) } }, { blockOverrides: { number: toHex((await head()) + 3n) } }] }],
      [-38021, { blockStateCalls: [{ blockOverrides: { time: '0xffffffff' } }, { blockOverrides: { time: '0xfffffff0' } }] }],
      [-38026, { blockStateCalls: Array.from({ length: 257 }, () => ({ calls: [] })) }],
      [-38026, { blockStateCalls: [{ blockOverrides: { number: toHex((await head()) + 300n) } }] }],
    ];
    for (const [code, payload] of cases) {
      const r = await rpcResponse(node.url, 'eth_simulateV1', [payload, 'latest']);
      assert.equal(r.error?.code, code, `${code}: ${JSON.stringify(r).slice(0, 300)}`);
    }
  });

  it('at a past block; full transactions on request; malformed input is -32602', async () => {
    const past = (await head()) - 1n;
    const to = randomAddress();
    const [b] = await simulate({ returnFullTransactions: true, blockStateCalls: [{ calls: [{ from: ME, to, value: '0x5' }] }] }, toHex(past));
    assert.equal(BigInt(b.number), past + 1n);
    assert.equal(b.transactions[0].from.toLowerCase(), ME.toLowerCase());
    assert.equal(b.transactions[0].to.toLowerCase(), to.toLowerCase());
    assert.equal(b.transactions[0].value, '0x5');
    assertRpcError(await rpcResponse(node.url, 'eth_simulateV1', [{ blockStateCalls: 'x' }]), -32602, 'invalid argument 0');
    assertRpcError(await rpcResponse(node.url, 'eth_simulateV1', []), -32602, 'missing value for required argument 0');
  });
});
