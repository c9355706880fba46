// Dev-genesis predeploys: Multicall3 at 0xcA11bde05977b3631167028862bE2a173976CA11 (our
// contracts/artifacts/Multicall3.json) used through viem's `multicall`, and the
// deterministic CREATE2 deployer at 0x4e59b44847b379578588920cA78FbF26c0B4956C.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  getContractAddress,
  concat,
  encodeAbiParameters,
  encodeFunctionData,
  decodeFunctionResult,
  keccak256,
  toHex,
  pad,
  getAddress,
} from 'viem';
import { startNode } from '../lib/node.mjs';
import {
  MULTICALL3,
  CREATE2_DEPLOYER,
  CHAIN_ID,
  BASE_FEE,
  viemClients,
  devAccount,
  rpc,
  rpcResponse,
  loadArtifact,
  deployTestToken,
  randomAddress,
} from '../lib/util.mjs';

// The runtime code of the deterministic deployment proxy (Arachnid), as every chain has it.
const CREATE2_DEPLOYER_CODE =
  '0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3';

describe('predeploys', () => {
  let node, v, token, tokenAbi;
  const mc = loadArtifact('Multicall3');

  before(async () => {
    node = await startNode();
    v = viemClients(node);
    const d = await deployTestToken(v.publicClient, v.wallet(0));
    token = d.address;
    tokenAbi = d.abi;
  });
  after(async () => {
    await node?.destroy();
  });

  it('Multicall3 code is our artifact', async () => {
    const code = await v.publicClient.getCode({ address: MULTICALL3 });
    assert.equal(code, mc.deployedBytecode, 'genesis code at 0xcA11… = contracts/artifacts/Multicall3.json deployedBytecode');
  });

  it('viem multicall (aggregate3) with success and allowed failure', async () => {
    const alice = devAccount(0).address;
    const results = await v.publicClient.multicall({
      contracts: [
        { address: token, abi: tokenAbi, functionName: 'balanceOf', args: [alice] },
        { address: token, abi: tokenAbi, functionName: 'totalSupply' },
        { address: token, abi: tokenAbi, functionName: 'name' },
        { address: token, abi: tokenAbi, functionName: 'failWithReason' },
        { address: MULTICALL3, abi: mc.abi, functionName: 'getEthBalance', args: [randomAddress()] },
      ],
    });
    assert.equal(results[0].status, 'success');
    assert.equal(results[0].result, 10n ** 24n);
    assert.equal(results[1].result, 10n ** 24n);
    assert.equal(results[2].result, 'Test Token');
    assert.equal(results[3].status, 'failure');
    assert.match(results[3].error.shortMessage, /TestToken: always fails/);
    assert.equal(results[4].result, 0n);
    // allowFailure: false throws.
    await assert.rejects(
      v.publicClient.multicall({
        allowFailure: false,
        contracts: [{ address: token, abi: tokenAbi, functionName: 'failWithReason' }],
      }),
    );
  });

  it('Multicall3 getters return the block context', async () => {
    const read = (functionName, args = [], blockNumber) =>
      v.publicClient.readContract({ address: MULTICALL3, abi: mc.abi, functionName, args, blockNumber });
    assert.equal(await read('getChainId'), BigInt(CHAIN_ID));
    assert.equal(await read('getBasefee'), BASE_FEE);
    const head = await v.publicClient.getBlock();
    const n = await read('getBlockNumber');
    assert.ok(n >= head.number);
    assert.ok((await read('getCurrentBlockGasLimit')) > 0n);
    assert.ok((await read('getCurrentBlockTimestamp')) >= head.timestamp);
    assert.equal(await read('getEthBalance', [devAccount(9).address]), 10_000n * 10n ** 18n);
    // getBlockHash of a committed block equals its header hash (BLOCKHASH works).
    // eth_call at `latest` runs in that block's context (as geth does), where BLOCKHASH of the
    // current block is zero; ask for the one before it.
    const h = await v.wallet(9).sendTransaction({ to: randomAddress(), value: 1n });
    const { blockNumber } = await v.publicClient.waitForTransactionReceipt({ hash: h });
    const prev = await v.publicClient.getBlock({ blockNumber: blockNumber - 1n });
    assert.equal(await read('getBlockHash', [blockNumber - 1n], blockNumber), prev.hash);
    const last = await read('getLastBlockHash');
    assert.match(last, /^0x[0-9a-f]{64}$/);
    await read('getCurrentBlockCoinbase');
    await read('getCurrentBlockDifficulty');
  });

  it('Multicall3 aggregate3Value and tryBlockAndAggregate in a transaction', async () => {
    const r1 = randomAddress();
    const r2 = randomAddress();
    const hash = await v.wallet(2).writeContract({
      address: MULTICALL3,
      abi: mc.abi,
      functionName: 'aggregate3Value',
      args: [[
        { target: r1, allowFailure: false, value: 10n, callData: '0x' },
        { target: r2, allowFailure: false, value: 20n, callData: '0x' },
      ]],
      value: 30n,
    });
    const receipt = await v.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    assert.equal(await v.publicClient.getBalance({ address: r1 }), 10n);
    assert.equal(await v.publicClient.getBalance({ address: r2 }), 20n);

    const res = await v.publicClient.simulateContract({
      address: MULTICALL3,
      abi: mc.abi,
      functionName: 'tryBlockAndAggregate',
      args: [false, [
        { target: token, callData: encodeFunctionData({ abi: tokenAbi, functionName: 'totalSupply' }) },
        { target: token, callData: encodeFunctionData({ abi: tokenAbi, functionName: 'failWithReason' }) },
      ]],
      account: devAccount(2),
    });
    const [blockNumber, , results] = res.result;
    assert.ok(blockNumber > 0n);
    assert.equal(results[0].success, true);
    assert.equal(decodeFunctionResult({ abi: tokenAbi, functionName: 'totalSupply', data: results[0].returnData }), 10n ** 24n);
    assert.equal(results[1].success, false);
    // Value mismatch reverts with the Multicall3 message.
    const bad = await rpcResponse(node.url, 'eth_call', [
      {
        from: devAccount(2).address,
        to: MULTICALL3,
        value: '0x2',
        // The call itself succeeds (1 wei of the 2 sent); the sum (1) differs from msg.value (2).
        data: encodeFunctionData({ abi: mc.abi, functionName: 'aggregate3Value', args: [[{ target: r1, allowFailure: false, value: 1n, callData: '0x' }]] }),
      },
      'latest',
    ]);
    assert.equal(bad.error?.code, 3);
    assert.equal(bad.error.message, 'execution reverted: Multicall3: value mismatch');
  });

  it('CREATE2 through the deterministic deployer: address as computed by viem, code deployed', async () => {
    const code = await v.publicClient.getCode({ address: CREATE2_DEPLOYER });
    assert.equal(code, CREATE2_DEPLOYER_CODE, 'deterministic deployment proxy runtime code');
    const art = loadArtifact('TestToken');
    const ctor = art.abi.find((x) => x.type === 'constructor');
    const initcode = concat([art.bytecode, encodeAbiParameters(ctor.inputs, ['Create2 Token', 'C2', 77n])]);
    const salt = pad(toHex(0x42424242n), { size: 32 });
    const expected = getContractAddress({ opcode: 'CREATE2', from: CREATE2_DEPLOYER, salt, bytecode: initcode });
    assert.equal(
      expected,
      getContractAddress({ opcode: 'CREATE2', from: CREATE2_DEPLOYER, salt, bytecodeHash: keccak256(initcode) }),
    );
    // The proxy returns the 20-byte address of the created contract.
    const simulated = await rpc(node.url, 'eth_call', [{ from: devAccount(3).address, to: CREATE2_DEPLOYER, data: concat([salt, initcode]) }, 'latest']);
    assert.equal(getAddress(simulated), expected);
    const hash = await v.wallet(3).sendTransaction({ to: CREATE2_DEPLOYER, data: concat([salt, initcode]) });
    const receipt = await v.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    assert.equal(await v.publicClient.getCode({ address: expected }), art.deployedBytecode);
    assert.equal(
      await v.publicClient.readContract({ address: expected, abi: art.abi, functionName: 'name' }),
      'Create2 Token',
    );
    // The token minted to msg.sender of the constructor: the deployer proxy.
    assert.equal(
      await v.publicClient.readContract({ address: expected, abi: art.abi, functionName: 'balanceOf', args: [CREATE2_DEPLOYER] }),
      77n,
    );
    // The same salt and initcode again: CREATE2 collides, the proxy reverts.
    const again = await rpcResponse(node.url, 'eth_call', [{ from: devAccount(3).address, to: CREATE2_DEPLOYER, data: concat([salt, initcode]) }, 'latest']);
    assert.ok(again.error, 'redeploying to the same address fails');
  });
});
