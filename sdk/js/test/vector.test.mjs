// The committed test vector (docs/vectors/confidential-v1.json, specs/confidential.md §7),
// reproduced byte for byte by this SDK, and the checks a client relies on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  aad, bytesToHex, deriveKeyPair, hexToBytes, info, openResult, seal, suite, verifyEncryptionKey,
} from '../src/index.mjs';

const v = JSON.parse(readFileSync(new URL('../../../docs/vectors/confidential-v1.json', import.meta.url)));
const binding = { kind: 'tx', sender: v.sender, to: v.to, nonce: v.nonce };

test('the envelope, result key and sealed result match the vector byte for byte', async () => {
  const kp = await deriveKeyPair(hexToBytes(v.epochKeyIkm));
  const pk = new Uint8Array(await suite.kem.serializePublicKey(kp.publicKey));
  assert.equal(bytesToHex(pk), v.epochPublicKey);
  assert.equal(bytesToHex(info(v.chainId, v.epoch)), v.info);
  assert.equal(bytesToHex(aad(binding)), v.aad);
  const sealed = await seal({
    publicKey: pk, chainId: v.chainId, epoch: v.epoch, binding,
    plaintext: hexToBytes(v.calldata), ephemeralIkm: hexToBytes(v.ephemeralIkm),
  });
  assert.equal(bytesToHex(sealed.envelope), v.envelope);
  assert.equal(bytesToHex(sealed.resultKey), v.resultKey);
  const result = openResult(sealed.resultKey, v.sealedResult);
  assert.equal(result.status, 1);
  assert.equal(result.output, v.result.output);
  assert.deepEqual(result.logs, v.result.logs);
  // The recipient side (what the node does) opens it too.
  const ctx = await suite.createRecipientContext({
    recipientKey: kp, enc: hexToBytes(v.envelope).slice(13, 45), info: info(v.chainId, v.epoch),
  });
  const pt = new Uint8Array(await ctx.open(hexToBytes(v.envelope).slice(45), aad(binding)));
  assert.equal(bytesToHex(pt), v.calldata);
  await assert.rejects(ctx.open(hexToBytes(v.envelope).slice(45), aad({ ...binding, nonce: 8 })));
});

test('an epoch key is accepted only with a valid signature by the pinned identity', () => {
  const key = {
    chainId: '0x' + v.chainId.toString(16), epoch: '0x1', publicKey: v.epochPublicKey,
    serviceIdentity: v.serviceIdentity, signature: v.encryptionKeySignature,
  };
  const ok = verifyEncryptionKey(key, v.serviceIdentity);
  assert.equal(bytesToHex(ok.publicKey), v.epochPublicKey);
  assert.throws(() => verifyEncryptionKey({ ...key, epoch: '0x2' }, v.serviceIdentity), /does not verify/);
  assert.throws(() => verifyEncryptionKey(key, '0x' + '11'.repeat(32)), /another service identity/);
  const forged = { ...key, serviceIdentity: '0x' + '11'.repeat(32) };
  assert.throws(() => verifyEncryptionKey(forged, '0x' + '11'.repeat(32)));
});

test('a sealed result opens only with its key and untampered', () => {
  assert.throws(() => openResult(new Uint8Array(32), v.sealedResult));
  const t = hexToBytes(v.sealedResult);
  t[t.length - 1] ^= 1;
  assert.throws(() => openResult(hexToBytes(v.resultKey), t));
});
