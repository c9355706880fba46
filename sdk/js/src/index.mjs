// TxnChain confidential execution for JavaScript (specs/confidential.md): verify the epoch
// key against a pinned service identity, seal calldata to it (RFC 9180 HPKE base mode,
// DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20Poly1305 through @hpke/*), and open
// sealed results (ChaCha20-Poly1305 through @noble/ciphers). No cryptography is written here:
// only the byte layouts of the spec.

import { CipherSuite } from '@hpke/core';
import { DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/dhkem-x25519';
import { Chacha20Poly1305 } from '@hpke/chacha20poly1305';
import { ed25519 } from '@noble/curves/ed25519.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';

export const MAGIC = Uint8Array.of(0x00, 0x54, 0x58, 0x4e);
const VERSION_ENVELOPE = 0x01;
const VERSION_SEALED_RESULT = 0x03;
const text = (s) => new TextEncoder().encode(s);

/** The HPKE suite of the spec. */
export const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Chacha20Poly1305(),
});

export function hexToBytes(hex) {
  const h = hex.startsWith('0x') ? hex.slice(2) : hex;
  if (h.length % 2 !== 0 || /[^0-9a-fA-F]/.test(h)) throw new Error(`not hex: ${hex}`);
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesToHex(b) {
  return '0x' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function u64be(x) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(x));
  return out;
}

const ZERO20 = new Uint8Array(20);
const addr = (a) => (a == null ? ZERO20 : hexToBytes(a));

/** `"txnchain-envelope-v1" ‖ u64be(chainId) ‖ u64be(epoch)`. */
export function info(chainId, epoch) {
  return concat(text('txnchain-envelope-v1'), u64be(chainId), u64be(epoch));
}

/** The AAD of a transaction (`to` null for a contract creation) or of a call. */
export function aad(binding) {
  if (binding.kind === 'tx') {
    return concat(text('tx'), addr(binding.sender), addr(binding.to), u64be(binding.nonce));
  }
  if (binding.kind === 'call') return concat(text('call'), addr(binding.from), addr(binding.to));
  throw new Error('binding.kind must be "tx" or "call"');
}

/** `"txnchain-encryption-key-v1" ‖ u64be(chainId) ‖ u64be(epoch) ‖ publicKey`. */
export function encryptionKeyMessage(chainId, epoch, publicKey) {
  return concat(text('txnchain-encryption-key-v1'), u64be(chainId), u64be(epoch), publicKey);
}

/**
 * Checks a `txnchain_getEncryptionKey` / `GET /v1/encryption-key` answer against the pinned
 * service identity and returns `{chainId, epoch, publicKey}`; throws otherwise. Never seal to a
 * key that has not passed this.
 */
export function verifyEncryptionKey(key, pinnedIdentity) {
  const identity = typeof pinnedIdentity === 'string' ? hexToBytes(pinnedIdentity) : pinnedIdentity;
  const served = hexToBytes(key.serviceIdentity);
  if (served.length !== 32 || !served.every((b, i) => b === identity[i])) {
    throw new Error('the key is signed by another service identity than the pinned one');
  }
  const chainId = BigInt(key.chainId);
  const epoch = BigInt(key.epoch);
  const publicKey = hexToBytes(key.publicKey);
  if (publicKey.length !== 32) throw new Error('publicKey is not 32 bytes');
  const ok = ed25519.verify(
    hexToBytes(key.signature),
    encryptionKeyMessage(chainId, epoch, publicKey),
    identity,
  );
  if (!ok) throw new Error('refusing to encrypt: the epoch key signature does not verify');
  return { chainId, epoch, publicKey };
}

/**
 * Checks a node's `service_statement` (Ed25519 node identity keys) and returns the service
 * identity it vouches for. The evidence itself must be verified too (`txnchain attest
 * verify`), or the statement proves nothing.
 */
export function verifyServiceStatement(bundle) {
  const ED25519_SPKI_PREFIX = hexToBytes('302a300506032b6570032100');
  const spki = Uint8Array.from(Buffer.from(bundle.identity_public_key, 'base64'));
  if (spki.length !== 44 || !ED25519_SPKI_PREFIX.every((b, i) => b === spki[i])) {
    throw new Error('not an Ed25519 node identity key: verify with txnchain attest verify and pin');
  }
  const identity = hexToBytes(bundle.service_identity);
  const sig = Uint8Array.from(Buffer.from(bundle.service_statement ?? '', 'base64'));
  if (identity.length !== 32 || sig.length !== 64) throw new Error('the service statement does not verify');
  const ok = ed25519.verify(sig, concat(text('txnchain-service-identity-v1'), identity), spki.slice(12));
  if (!ok) throw new Error('the service statement does not verify');
  return identity;
}

/** `DeriveKeyPair(ikm)` of the suite's KEM (for test vectors). */
export function deriveKeyPair(ikm) {
  return suite.kem.deriveKeyPair(ikm);
}

/**
 * Seals `plaintext` (calldata or init code) to the epoch key: `{envelope, resultKey}`. Keep
 * `resultKey` to open the result. `ephemeralIkm` is only for test vectors.
 */
export async function seal({ publicKey, chainId, epoch, binding, plaintext, ephemeralIkm }) {
  if (plaintext.length === 0) throw new Error('empty calldata is never enveloped');
  const recipientPublicKey = await suite.kem.deserializePublicKey(publicKey);
  const params = { recipientPublicKey, info: info(chainId, epoch) };
  if (ephemeralIkm) params.ekm = ephemeralIkm;
  const ctx = await suite.createSenderContext(params);
  const ct = new Uint8Array(await ctx.seal(plaintext, aad(binding)));
  const resultKey = new Uint8Array(await ctx.export(text('txnchain-result-v1'), 32));
  const envelope = concat(MAGIC, Uint8Array.of(VERSION_ENVELOPE), u64be(epoch), new Uint8Array(ctx.enc), ct);
  return { envelope, resultKey };
}

// A minimal RLP reader for the result's [status, output, [[address, [topics…], data]…]].
function rlpItem(b, o) {
  const p = b[o];
  if (p === undefined) throw new Error('truncated RLP');
  const long = (n) => {
    let len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[o + 1 + i];
    return len;
  };
  if (p < 0x80) return { list: false, start: o, end: o + 1 };
  if (p <= 0xb7) return { list: false, start: o + 1, end: o + 1 + p - 0x80 };
  if (p <= 0xbf) {
    const n = p - 0xb7;
    return { list: false, start: o + 1 + n, end: o + 1 + n + long(n) };
  }
  if (p <= 0xf7) return { list: true, start: o + 1, end: o + 1 + p - 0xc0 };
  const n = p - 0xf7;
  return { list: true, start: o + 1 + n, end: o + 1 + n + long(n) };
}

function rlpDecode(b, o = 0) {
  const it = rlpItem(b, o);
  if (it.end > b.length) throw new Error('truncated RLP');
  if (!it.list) return { value: b.slice(it.start, it.end), end: it.end };
  const items = [];
  let p = it.start;
  while (p < it.end) {
    const d = rlpDecode(b, p);
    items.push(d.value);
    p = d.end;
  }
  return { value: items, end: it.end };
}

/** Opens a sealed result: `{status, output, logs: [{address, topics, data}]}` (hex strings). */
export function openResult(resultKey, sealed) {
  const bytes = typeof sealed === 'string' ? hexToBytes(sealed) : sealed;
  if (bytes.length < 5 || !MAGIC.every((b, i) => b === bytes[i]) || bytes[4] !== VERSION_SEALED_RESULT) {
    throw new Error('not a sealed result');
  }
  const pt = chacha20poly1305(resultKey, new Uint8Array(12), text('txnchain-result-v1')).decrypt(bytes.slice(5));
  const { value, end } = rlpDecode(pt);
  if (end !== pt.length || !Array.isArray(value) || value.length !== 3) throw new Error('malformed result');
  const [status, output, logs] = value;
  return {
    status: status.length === 0 ? 0 : status[0],
    output: bytesToHex(output),
    logs: logs.map(([address, topics, data]) => ({
      address: bytesToHex(address),
      topics: topics.map(bytesToHex),
      data: bytesToHex(data),
    })),
  };
}

// ------------------------------------------------------------------ signed queries (§5)

const VERSION_SIGNED_QUERY = 0x02;

/** The EIP-712 types of a signed query (the domain type is implied by viem and ethers). */
export const SIGNED_QUERY_TYPES = Object.freeze({
  SignedQuery: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'gas', type: 'uint64' },
    { name: 'data', type: 'bytes' },
    { name: 'blockNumber', type: 'uint64' },
    { name: 'blockHash', type: 'bytes32' },
    { name: 'blockRange', type: 'uint64' },
  ],
});

/** The largest `blockRange` a node accepts. */
export const MAX_BLOCK_RANGE = 256n;

/**
 * The typed data a wallet signs for a signed query: `data` is the **plaintext** calldata (what
 * the wallet shows), `to` zero for a creation, `value` and `gas` as in the call (absent = 0).
 * Returns `{domain, types, primaryType, message}` for viem's `signTypedData` (ethers:
 * `signer.signTypedData(domain, types, message)`).
 */
export function signedQueryTypedData({ chainId, from, to, value = 0n, gas = 0n, data, blockNumber, blockHash, blockRange }) {
  if (BigInt(blockRange) > MAX_BLOCK_RANGE) throw new Error(`blockRange ${blockRange} exceeds 256`);
  return {
    domain: { name: 'TxnChain', version: '1', chainId: BigInt(chainId) },
    types: SIGNED_QUERY_TYPES,
    primaryType: 'SignedQuery',
    message: {
      from,
      to: to ?? '0x0000000000000000000000000000000000000000',
      value: BigInt(value),
      gas: BigInt(gas),
      data: typeof data === 'string' ? data : bytesToHex(data),
      blockNumber: BigInt(blockNumber),
      blockHash,
      blockRange: BigInt(blockRange),
    },
  };
}

const word = (x) => {
  const out = new Uint8Array(32);
  new DataView(out.buffer).setBigUint64(24, BigInt(x));
  return out;
};
const padded = (b) => concat(word(b.length), b, new Uint8Array((32 - (b.length % 32)) % 32));

/**
 * `MAGIC ‖ 0x02 ‖ abi.encode(bytes envelope, uint64 blockNumber, bytes32 blockHash, uint64
 * blockRange, bytes signature)`: the calldata of a signed `eth_call` / `eth_estimateGas`.
 */
export function encodeSignedQuery({ envelope, blockNumber, blockHash, blockRange, signature }) {
  const env = typeof envelope === 'string' ? hexToBytes(envelope) : envelope;
  const sig = typeof signature === 'string' ? hexToBytes(signature) : signature;
  if (sig.length !== 65) throw new Error('the signature must be 65 bytes (r ‖ s ‖ v)');
  const hash = hexToBytes(blockHash);
  if (hash.length !== 32) throw new Error('blockHash must be 32 bytes');
  const envTail = padded(env);
  return concat(
    MAGIC,
    Uint8Array.of(VERSION_SIGNED_QUERY),
    word(5 * 32),
    word(blockNumber),
    hash,
    word(blockRange),
    word(5 * 32 + envTail.length),
    envTail,
    padded(sig),
  );
}

// ------------------------------------------------------------------ attestation (virtual)

const REPORT_DATA_DOMAIN = text('txnchain-node-v1');

async function sha256(bytes) {
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes));
}

const b64 = (s) => Uint8Array.from(Buffer.from(s, 'base64'));
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Verifies a `virtual` evidence bundle from `GET /node/attestation` the way `txnchain attest
 * verify --policy` does, then its service statement, and returns the service identity (32
 * bytes). Checks: the claim set is `virtual` and says `insecure`; `report_data` =
 * SHA-256("txnchain-node-v1" ‖ node key SPKI ‖ nonce) ‖ 0^32 binds the node key that signed the
 * statement; the nonce (when given) is the one the bundle answers; the measurement and host data
 * are in the allow-lists (when given); not a debug build unless `allowDebug`; not older than
 * `maxAgeSeconds` (when given; a nonce proves freshness better).
 *
 * `virtual` evidence proves nothing about hardware: use it for development. For `sev-snp` and
 * `tdx` verify with `txnchain attest verify` and pin the identity it prints.
 */
export async function verifyVirtualEvidence(bundle, { nonce, measurements, hostData, allowDebug = false, maxAgeSeconds, now = Date.now() / 1000 } = {}) {
  if (bundle.platform !== 'virtual') {
    throw new Error(`${bundle.platform} evidence: verify it with txnchain attest verify and pin the service identity`);
  }
  const claims = JSON.parse(new TextDecoder().decode(b64(bundle.evidence)));
  if (claims.platform !== 'virtual' || claims.insecure !== true) throw new Error('not a virtual claim set');
  const measurement = hexToBytes(claims.measurement);
  const reportData = hexToBytes(claims.report_data);
  const host = hexToBytes(claims.host_data);
  if (measurement.length !== 48 || reportData.length !== 64 || host.length !== 32) {
    throw new Error('malformed claim set: measurement 48, report_data 64, host_data 32 bytes');
  }
  if (!bundle.identity_public_key) throw new Error('the bundle names no node identity key');
  const spki = b64(bundle.identity_public_key);
  const n = nonce == null ? new Uint8Array(0) : typeof nonce === 'string' ? hexToBytes(nonce) : nonce;
  if (nonce != null && !(bundle.nonce && equal(hexToBytes(bundle.nonce), n))) {
    throw new Error('the evidence does not answer our nonce');
  }
  const expected = concat(await sha256(concat(REPORT_DATA_DOMAIN, spki, n)), new Uint8Array(32));
  if (!equal(expected, reportData)) throw new Error('report_data does not bind the node identity key');
  const listed = (list, v) => list.some((m) => equal(hexToBytes(m), v));
  if (measurements && !listed(measurements, measurement)) throw new Error(`measurement ${claims.measurement} is not allowed`);
  if (hostData && !listed(hostData, host)) throw new Error(`host data ${claims.host_data} is not allowed`);
  if (claims.debug && !allowDebug) throw new Error('a debug build: refused unless allowDebug');
  if (maxAgeSeconds != null && !(typeof claims.timestamp === 'number' && claims.timestamp <= now + 60 && now - claims.timestamp <= maxAgeSeconds)) {
    throw new Error(`the evidence is older than ${maxAgeSeconds} s or from the future`);
  }
  return verifyServiceStatement(bundle);
}

/**
 * Fetches `GET {url}/node/attestation?nonce=…` with a fresh nonce and returns the service
 * identity its `virtual` evidence vouches for (see {@link verifyVirtualEvidence}).
 */
export async function attestedServiceIdentity(url, options = {}) {
  const nonce = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const res = await fetch(`${url.replace(/\/$/, '')}/node/attestation?nonce=${bytesToHex(nonce).slice(2)}`);
  if (!res.ok) throw new Error(`GET /node/attestation: HTTP ${res.status}`);
  return verifyVirtualEvidence(await res.json(), { ...options, nonce });
}

// ------------------------------------------------------------------ what the library helpers share

/** The first bytes of every sealed result, as hex (`MAGIC ‖ 0x03`). */
export const SEALED_RESULT_PREFIX = '0x0054584e03';

/**
 * The library-neutral core of a confidential session (used by `./viem.mjs` and
 * `./ethers.mjs`): the epoch key fetched and verified against the pinned identity before every
 * seal, and signed queries.
 *
 * @param {object} o
 * @param {(method: string, params: unknown[]) => Promise<any>} o.request a JSON-RPC call.
 * @param {string|Uint8Array} o.serviceIdentity the pinned service identity.
 * @param {bigint} [o.blockRange] how many blocks a signed query stays valid (default 16).
 */
export function networkSession({ request, serviceIdentity, blockRange = 16n }) {
  if (!serviceIdentity) throw new Error('a pinned serviceIdentity is required: never encrypt to an unverified key');
  async function encryptionKey() {
    return verifyEncryptionKey(await request('txnchain_getEncryptionKey', []), serviceIdentity);
  }
  return {
    encryptionKey,
    /** Seals hex `data` under `binding` to the current verified key: `{envelope, resultKey, chainId}`. */
    async sealTo(binding, data) {
      const k = await encryptionKey();
      const s = await seal({ publicKey: k.publicKey, chainId: k.chainId, epoch: k.epoch, binding, plaintext: hexToBytes(data) });
      return { ...s, chainId: k.chainId };
    },
    /**
     * Wraps `envelope` in a query signed over the plaintext call on top of `latest` (`{number,
     * hash}`); `sign(typedData)` returns the 0x signature. Returns the calldata (hex).
     */
    async signQuery({ chainId, from, to, value, gas, data, envelope, latest, sign }) {
      const typed = signedQueryTypedData({
        chainId, from, to, value: value ?? 0n, gas: gas ?? 0n, data,
        blockNumber: BigInt(latest.number), blockHash: latest.hash, blockRange,
      });
      const signature = await sign(typed);
      return bytesToHex(encodeSignedQuery({ envelope, blockNumber: latest.number, blockHash: latest.hash, blockRange, signature }));
    },
  };
}
export * from './receipt.mjs';
