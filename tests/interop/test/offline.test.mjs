// Tests that need no txnchain node: dev-account derivation, the compiled artifacts the suite deploys, and
// the x402 EIP-3009 golden vector with viem (what the Stablecoin and facilitator must match).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  hashDomain,
  hashTypedData,
  keccak256,
  toHex,
  toFunctionSelector,
  encodeErrorResult,
  decodeErrorResult,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

import { DEV_ADDRESSES, devAccount, devPrivateKey, loadArtifact } from '../lib/util.mjs';


describe('dev accounts', () => {
  it('m/44\'/60\'/0\'/0/i of the test mnemonic gives the well-known addresses', () => {
    for (let i = 0; i < 10; i++) assert.equal(devAccount(i).address, DEV_ADDRESSES[i]);
    assert.equal(
      devPrivateKey(0),
      '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
    );
  });
});

describe('artifacts used by the suite', () => {
  it('TestToken has the ERC-20 surface and the test helpers', () => {
    const a = loadArtifact('TestToken');
    const fns = new Set(a.abi.filter((x) => x.type === 'function').map((x) => x.name));
    for (const f of ['transfer', 'approve', 'transferFrom', 'balanceOf', 'mint', 'failWithReason', 'failWithCustomError', 'emitMany', 'setSlot']) {
      assert.ok(fns.has(f), `TestToken.${f}`);
    }
    assert.match(a.bytecode, /^0x[0-9a-f]+$/);
    assert.match(a.deployedBytecode, /^0x[0-9a-f]+$/);
    // TestToken has no immutables, so its runtime code is exactly deployedBytecode.
    assert.ok(!a.deployedBytecode.includes('__$'), 'no unlinked libraries');
  });

  it('Multicall3 exposes the full Multicall3 interface (selectors as in the public ABI)', () => {
    const a = loadArtifact('Multicall3');
    const sigs = new Set(
      a.abi.filter((x) => x.type === 'function').map((f) => toFunctionSelector(f)),
    );
    const expected = [
      'aggregate((address,bytes)[])',
      'aggregate3((address,bool,bytes)[])',
      'aggregate3Value((address,bool,uint256,bytes)[])',
      'blockAndAggregate((address,bytes)[])',
      'getBasefee()',
      'getBlockHash(uint256)',
      'getBlockNumber()',
      'getChainId()',
      'getCurrentBlockCoinbase()',
      'getCurrentBlockDifficulty()',
      'getCurrentBlockGasLimit()',
      'getCurrentBlockTimestamp()',
      'getEthBalance(address)',
      'getLastBlockHash()',
      'tryAggregate(bool,(address,bytes)[])',
      'tryBlockAndAggregate(bool,(address,bytes)[])',
    ];
    for (const s of expected) assert.ok(sigs.has(toFunctionSelector(s)), `Multicall3.${s}`);
    assert.equal(toFunctionSelector('aggregate3((address,bool,bytes)[])'), '0x82ad56cb');
  });

  it('Stablecoin has EIP-3009 / EIP-2612 / EIP-5267 entry points', () => {
    const a = loadArtifact('Stablecoin');
    const sigs = new Set(a.abi.filter((x) => x.type === 'function').map((f) => toFunctionSelector(f)));
    for (const s of [
      'transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)',
      'transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)',
      'receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)',
      'receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)',
      'cancelAuthorization(address,bytes32,uint8,bytes32,bytes32)',
      'cancelAuthorization(address,bytes32,bytes)',
      'authorizationState(address,bytes32)',
      'permit(address,address,uint256,uint256,uint8,bytes32,bytes32)',
      'nonces(address)',
      'DOMAIN_SEPARATOR()',
      'eip712Domain()',
    ]) {
      assert.ok(sigs.has(toFunctionSelector(s)), `Stablecoin.${s}`);
    }
    const events = a.abi.filter((x) => x.type === 'event').map((e) => e.name);
    for (const e of ['Transfer', 'Approval', 'AuthorizationUsed', 'AuthorizationCanceled']) assert.ok(events.includes(e), e);
  });

  it('revert data encodings used by the error tests round-trip', () => {
    const a = loadArtifact('TestToken');
    const data = encodeErrorResult({ abi: a.abi, errorName: 'InsufficientBalance', args: [DEV_ADDRESSES[0], 0n, 5n] });
    const dec = decodeErrorResult({ abi: a.abi, data });
    assert.equal(dec.errorName, 'InsufficientBalance');
  });
});

describe('x402 EIP-3009 golden vector (shared/specs/x402.md) with viem', () => {
  const key = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
  const domain = {
    name: 'Test Dollar',
    version: '1',
    chainId: 424242,
    verifyingContract: '0x1111111111111111111111111111111111111111',
  };
  const types = {
    TransferWithAuthorization: [
      { name: 'from', type: 'address' },
      { name: 'to', type: 'address' },
      { name: 'value', type: 'uint256' },
      { name: 'validAfter', type: 'uint256' },
      { name: 'validBefore', type: 'uint256' },
      { name: 'nonce', type: 'bytes32' },
    ],
  };
  const account = privateKeyToAccount(key);
  const message = {
    from: account.address,
    to: '0x2222222222222222222222222222222222222222',
    value: 1000n,
    validAfter: 0n,
    validBefore: 1800000000n,
    nonce: toHex(1n, { size: 32 }),
  };

  it('domain separator, type hash, digest and signature match', async () => {
    assert.equal(account.address, '0x70997970C51812dc3A010C7d01b50e0d17dc79C8');
    assert.equal(
      hashDomain({
        domain,
        types: {
          EIP712Domain: [
            { name: 'name', type: 'string' },
            { name: 'version', type: 'string' },
            { name: 'chainId', type: 'uint256' },
            { name: 'verifyingContract', type: 'address' },
          ],
        },
      }),
      '0x2772cc768860ca7a141a201a3079ac12d218e18e131a260147b25981bdd2e914',
    );
    assert.equal(
      keccak256(toHex('TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)')),
      '0x7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267',
    );
    assert.equal(
      hashTypedData({ domain, types, primaryType: 'TransferWithAuthorization', message }),
      '0x0d4f303631f07ce6f03066f74d0f07a2286dd0207e0b2898dce90f68951d8734',
    );
    assert.equal(
      await account.signTypedData({ domain, types, primaryType: 'TransferWithAuthorization', message }),
      '0x292dfdc147fe5f9354c5b358749aa363fe6346a89a78815dc8ac9134ca488d1c1e03e203abb4f60ee42254d7c84784d04b7646de8437a37c058dbdaecf1f6a111c',
    );
  });
});
