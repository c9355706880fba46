// Dev-account signing methods (as anvil / hardhat): eth_sendTransaction from the dev
// accounts, personal_sign, eth_sign, eth_signTypedData_v4. Every signature is checked by
// recovering it with viem.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  createWalletClient,
  http,
  getAddress,
  recoverMessageAddress,
  recoverTypedDataAddress,
  toHex,
  parseEther,
  encodeFunctionData,
  encodeAbiParameters,
} from 'viem';
import { startNode } from '../lib/node.mjs';
import {
  DEV_ADDRESSES,
  viemClients,
  txnchainChain,
  ethersProvider,
  rpc,
  rpcResponse,
  randomAddress,
  loadArtifact,
  devAccount,
} from '../lib/util.mjs';

describe('dev signing methods', () => {
  let node, v, provider, jsonRpcWallet;

  before(async () => {
    node = await startNode();
    v = viemClients(node);
    provider = ethersProvider(node);
    // A viem wallet client with a JSON-RPC account: it asks the node to sign.
    jsonRpcWallet = (i) =>
      createWalletClient({ chain: txnchainChain(node), transport: http(node.url), account: DEV_ADDRESSES[i] });
  });
  after(async () => {
    provider?.destroy();
    await node?.destroy();
  });

  it('eth_sendTransaction (raw JSON-RPC) from a dev account', async () => {
    const to = randomAddress();
    const hash = await rpc(node.url, 'eth_sendTransaction', [{ from: DEV_ADDRESSES[6], to, value: toHex(parseEther('2')) }]);
    assert.match(hash, /^0x[0-9a-f]{64}$/);
    const receipt = await v.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, 'success');
    assert.equal(getAddress(receipt.from), DEV_ADDRESSES[6]);
    assert.equal(await v.publicClient.getBalance({ address: to }), parseEther('2'));
    const tx = await v.publicClient.getTransaction({ hash });
    assert.equal(tx.nonce, 0);
  });

  it('eth_sendTransaction through viem (JSON-RPC account) and ethers (JsonRpcSigner), incl. a deployment', async () => {
    const to = randomAddress();
    const hash = await jsonRpcWallet(7).sendTransaction({ to, value: 5n });
    const r = await v.publicClient.waitForTransactionReceipt({ hash });
    assert.equal(getAddress(r.from), DEV_ADDRESSES[7]);
    assert.equal(await v.publicClient.getBalance({ address: to }), 5n);

    const signer = await provider.getSigner(DEV_ADDRESSES[8]);
    const sent = await signer.sendTransaction({ to, value: 6n });
    const er = await sent.wait(1, 30_000);
    assert.equal(er.status, 1);
    assert.equal(er.from, DEV_ADDRESSES[8]);
    assert.equal(await v.publicClient.getBalance({ address: to }), 11n);

    // Contract creation without `to`.
    const art = loadArtifact('TestToken');
    const dh = await jsonRpcWallet(7).deployContract({ abi: art.abi, bytecode: art.bytecode, args: ['D', 'D', 1n] });
    const dr = await v.publicClient.waitForTransactionReceipt({ hash: dh });
    assert.equal(dr.status, 'success');
    assert.equal(await v.publicClient.getCode({ address: dr.contractAddress }), art.deployedBytecode);
  });

  it('eth_sendTransaction fills gas, fees and nonce; a call with data works', async () => {
    const art = loadArtifact('TestToken');
    const dh = await rpc(node.url, 'eth_sendTransaction', [{ from: DEV_ADDRESSES[9], data: art.bytecode + encodeCtor(art) }]);
    const dr = await v.publicClient.waitForTransactionReceipt({ hash: dh });
    assert.equal(dr.status, 'success');
    const data = encodeFunctionData({ abi: art.abi, functionName: 'setSlot', args: [1n, 99n] });
    const h = await rpc(node.url, 'eth_sendTransaction', [{ from: DEV_ADDRESSES[9], to: dr.contractAddress, data }]);
    const r = await v.publicClient.waitForTransactionReceipt({ hash: h });
    assert.equal(r.status, 'success');
    assert.equal(await v.publicClient.readContract({ address: dr.contractAddress, abi: art.abi, functionName: 'getSlot', args: [1n] }), 99n);
  });

  it('eth_sendTransaction from an address the node holds no key for is refused', async () => {
    const res = await rpcResponse(node.url, 'eth_sendTransaction', [{ from: randomAddress(), to: randomAddress(), value: '0x1' }]);
    assert.ok(res.error, 'must fail');
    assert.equal(res.error.code, -32000);
    assert.match(res.error.message, /unknown account|no key|not found/i);
  });

  it('personal_sign and eth_sign (EIP-191) recover to the account', async () => {
    const message = 'hello txnchain';
    const raw = toHex(message);
    const s1 = await rpc(node.url, 'personal_sign', [raw, DEV_ADDRESSES[1]]);
    assert.match(s1, /^0x[0-9a-f]{130}$/);
    assert.equal(await recoverMessageAddress({ message, signature: s1 }), DEV_ADDRESSES[1]);
    const s2 = await rpc(node.url, 'eth_sign', [DEV_ADDRESSES[2], raw]);
    assert.equal(await recoverMessageAddress({ message: { raw }, signature: s2 }), DEV_ADDRESSES[2]);
    // viem's signMessage with a JSON-RPC account uses personal_sign.
    const s3 = await jsonRpcWallet(3).signMessage({ message: 'from viem' });
    assert.equal(await recoverMessageAddress({ message: 'from viem', signature: s3 }), DEV_ADDRESSES[3]);
    // Signing is deterministic (RFC 6979): the node's signature equals the local key's.
    assert.equal(s1, await devAccount(1).signMessage({ message }));
    // ethers JsonRpcSigner.signMessage.
    const signer = await provider.getSigner(DEV_ADDRESSES[4]);
    const s4 = await signer.signMessage('from ethers');
    assert.equal(await recoverMessageAddress({ message: 'from ethers', signature: s4 }), DEV_ADDRESSES[4]);
  });

  it('eth_signTypedData_v4 recovers to the account (string and object params)', async () => {
    const typedData = {
      domain: { name: 'Ether Mail', version: '1', chainId: 424242, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' },
      types: {
        Person: [
          { name: 'name', type: 'string' },
          { name: 'wallet', type: 'address' },
        ],
        Mail: [
          { name: 'from', type: 'Person' },
          { name: 'to', type: 'Person' },
          { name: 'contents', type: 'string' },
        ],
      },
      primaryType: 'Mail',
      message: {
        from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' },
        to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' },
        contents: 'Hello, Bob!',
      },
    };
    // viem sends [address, JSON string] (as MetaMask does).
    const sig = await jsonRpcWallet(5).signTypedData(typedData);
    assert.equal(await recoverTypedDataAddress({ ...typedData, signature: sig }), DEV_ADDRESSES[5]);
    assert.equal(sig, await devAccount(5).signTypedData(typedData));
    // EIP712Domain spelled out in types, JSON string param.
    const withDomainType = {
      ...typedData,
      types: {
        EIP712Domain: [
          { name: 'name', type: 'string' },
          { name: 'version', type: 'string' },
          { name: 'chainId', type: 'uint256' },
          { name: 'verifyingContract', type: 'address' },
        ],
        ...typedData.types,
      },
    };
    const sig2 = await rpc(node.url, 'eth_signTypedData_v4', [DEV_ADDRESSES[6], JSON.stringify(withDomainType)]);
    assert.equal(await recoverTypedDataAddress({ ...typedData, signature: sig2 }), DEV_ADDRESSES[6]);
    // ethers JsonRpcSigner.signTypedData (sends the object form through JSON).
    const signer = await provider.getSigner(DEV_ADDRESSES[7]);
    const { EIP712Domain: _unused, ...typesNoDomain } = withDomainType.types;
    const sig3 = await signer.signTypedData(typedData.domain, typesNoDomain, typedData.message);
    assert.equal(await recoverTypedDataAddress({ ...typedData, signature: sig3 }), DEV_ADDRESSES[7]);
  });
});

/** ABI-encoded constructor arguments ("Raw", "RAW", 5) for TestToken, without 0x. */
function encodeCtor(art) {
  const ctor = art.abi.find((x) => x.type === 'constructor');
  return encodeAbiParameters(ctor.inputs, ['Raw', 'RAW', 5n]).slice(2);
}
