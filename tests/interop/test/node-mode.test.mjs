// `txnchain node --genesis FILE`: a node from a geth-style genesis, without dev accounts. The
// chain id, allocations and gas limit come from the file; eth_accounts is empty and the signing
// methods are refused; transactions signed by a funded key commit.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicClient, createWalletClient, http, parseEther, toHex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { startNode, txnchainBin } from '../lib/node.mjs';
import { rpc, rpcResponse, assertRpcError, randomAddress } from '../lib/util.mjs';

const CHAIN_ID = 777;

describe('txnchain node --genesis (no dev accounts)', () => {
  let node, client, wallet, account;

  before(async () => {
    account = privateKeyToAccount(generatePrivateKey());
    const genesis = {
      config: { chainId: CHAIN_ID },
      gasLimit: toHex(30_000_000),
      baseFeePerGas: toHex(2_000_000_000),
      alloc: { [account.address]: { balance: toHex(parseEther('5')) } },
    };
    const file = join(mkdtempSync(join(tmpdir(), 'txnchain-genesis-')), 'genesis.json');
    writeFileSync(file, JSON.stringify(genesis));
    node = await startNode({ command: 'node', extraArgs: ['--genesis', file, '--tee', 'virtual', '--admin-listen', '127.0.0.1:0'] });
    const chain = { id: CHAIN_ID, name: 'custom', nativeCurrency: { name: 'E', symbol: 'E', decimals: 18 }, rpcUrls: { default: { http: [node.url] } } };
    client = createPublicClient({ chain, transport: http(node.url) });
    wallet = createWalletClient({ chain, transport: http(node.url), account });
  });
  after(async () => {
    await node?.destroy();
  });

  it('takes chain id, gas limit, base fee and balances from the genesis file', async () => {
    assert.equal(await client.getChainId(), CHAIN_ID);
    assert.equal(await client.getBalance({ address: account.address }), parseEther('5'));
    const block = await client.getBlock({ blockNumber: 0n });
    assert.equal(block.gasLimit, 30_000_000n);
    assert.equal(block.baseFeePerGas, 2_000_000_000n);
    // No dev predeploys outside dev mode.
    assert.equal(await rpc(node.url, 'eth_getCode', ['0xcA11bde05977b3631167028862bE2a173976CA11', 'latest']), '0x');
  });

  it('has no accounts and refuses to sign', async () => {
    assert.deepEqual(await rpc(node.url, 'eth_accounts', []), []);
    const from = account.address;
    assertRpcError(await rpcResponse(node.url, 'eth_sendTransaction', [{ from, to: randomAddress(), value: '0x1' }]), -32000, 'unknown account');
    assertRpcError(await rpcResponse(node.url, 'personal_sign', ['0x1234', from]), -32000, 'unknown account');
    assertRpcError(await rpcResponse(node.url, 'eth_sign', [from, '0x1234']), -32000, 'unknown account');
  });

  it('serves none of the dev methods: mining, time travel, snapshots, state setup (-32601)', async () => {
    for (const [method, params] of [
      ['evm_mine', []],
      ['anvil_mine', ['0x2']],
      ['hardhat_mine', ['0x2']],
      ['evm_setAutomine', [false]],
      ['hardhat_getAutomine', []],
      ['anvil_getAutomine', []],
      ['evm_increaseTime', [3600]],
      ['evm_setNextBlockTimestamp', [4102444800]],
      ['evm_snapshot', []],
      ['evm_revert', ['0x0']],
      ['anvil_setBalance', [account.address, '0x1']],
      ['hardhat_setBalance', [account.address, '0x1']],
      ['anvil_setNonce', [account.address, '0x9']],
      ['anvil_setCode', [account.address, '0x00']],
      ['anvil_setStorageAt', [account.address, '0x0', '0x' + '00'.repeat(32)]],
      ['anvil_impersonateAccount', [account.address]],
    ]) {
      assertRpcError(await rpcResponse(node.url, method, params), -32601, `the method ${method} does not exist/is not available`, method);
    }
    assert.equal(await client.getBlockNumber(), 0n, 'nothing was mined');
  });

  it('commits transactions signed by a funded key', async () => {
    const to = randomAddress();
    const hash = await wallet.sendTransaction({ to, value: 1234n });
    const receipt = await client.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.effectiveGasPrice, 2_000_000_000n);
    assert.equal(await client.getBalance({ address: to }), 1234n);
  });
});

describe('txnchain node: admin methods and public-key genesis', () => {
  let node, adminUrl, account;

  before(async () => {
    account = privateKeyToAccount(generatePrivateKey());
    const genesis = { config: { chainId: CHAIN_ID }, alloc: { [account.address]: { balance: toHex(parseEther('5')) } } };
    const file = join(mkdtempSync(join(tmpdir(), 'txnchain-genesis-')), 'genesis.json');
    writeFileSync(file, JSON.stringify(genesis));
    node = await startNode({ command: 'node', extraArgs: ['--genesis', file, '--tee', 'virtual', '--admin-listen', '127.0.0.1:0'] });
    const m = /Admin listening on (127\.0\.0\.1:\d+)/.exec(node.output());
    assert.ok(m, node.output());
    adminUrl = `http://${m[1]}`;
  });
  after(async () => {
    await node?.destroy();
  });

  it('serves debug_* and txpool_content only on the admin listener', async () => {
    const call = [{ from: account.address, to: randomAddress(), value: '0x1' }, 'latest'];
    for (const [method, params] of [['debug_traceCall', call], ['debug_traceTransaction', ['0x' + '00'.repeat(32)]], ['txpool_content', []]]) {
      assertRpcError(await rpcResponse(node.url, method, params), -32601, `the method ${method} does not exist/is not available`);
    }
    const trace = await rpc(adminUrl, 'debug_traceCall', [...call, { tracer: 'callTracer' }]);
    assert.equal(trace.type, 'CALL');
    assert.deepEqual(await rpc(adminUrl, 'txpool_content', []), { pending: {}, queued: {} });
    // Logs written to a pipe carry no terminal colour codes.
    assert.ok(!node.output().includes('\u001b['), 'ANSI escape codes in piped log output');
    // The public listener still serves the rest, txpool_status included.
    assert.deepEqual(await rpc(node.url, 'txpool_status', []), { pending: '0x0', queued: '0x0' });
  });

  it('refuses a genesis funded from the public test mnemonic unless told --allow-dev-keys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'txnchain-devkeys-'));
    const gen = spawnSync(txnchainBin(), ['genesis'], { encoding: 'utf8' });
    assert.equal(gen.status, 0, gen.stderr);
    const file = join(dir, 'genesis.json');
    writeFileSync(file, gen.stdout);
    const refused = spawnSync(txnchainBin(), ['node', '--genesis', file, '--tee', 'virtual', '--port', '0', '--data-dir', join(dir, 'data')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /refusing to start: this network depends on keys of the public test mnemonic/);
    assert.match(refused.stderr, /0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 \(test mnemonic #0\)/);
    const allowed = await startNode({ command: 'node', extraArgs: ['--genesis', file, '--tee', 'virtual', '--allow-dev-keys'] });
    try {
      assert.equal(await rpc(allowed.url, 'eth_chainId', []), '0x67932');
      assert.match(allowed.output(), /--allow-dev-keys: account 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266/);
    } finally {
      await allowed.destroy();
    }
  });
});
