// `txnchain node --genesis FILE`: a node from a geth-style genesis, without dev accounts. The
// chain id, allocations and gas limit come from the file; eth_accounts is empty and the signing
// methods are refused; transactions signed by a funded key commit.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPublicClient, createWalletClient, http, parseEther, toHex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { startNode } from '../lib/node.mjs';
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
    node = await startNode({ command: 'node', extraArgs: ['--genesis', file, '--tee', 'virtual'] });
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

  it('commits transactions signed by a funded key', async () => {
    const to = randomAddress();
    const hash = await wallet.sendTransaction({ to, value: 1234n });
    const receipt = await client.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    assert.equal(receipt.effectiveGasPrice, 2_000_000_000n);
    assert.equal(await client.getBalance({ address: to }), 1234n);
  });
});
