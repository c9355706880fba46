// Offline verification of TxnChain receipts (specs/receipts.md §1–§3): no network access,
// only the receipt and the service identity the caller trusts. RFC 9162 §2.1 hashing with
// SHA-256, Keccak-256 for the transaction and receipt hashes, Ed25519 (RFC 8032, strict) for
// the signed root.

import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';

/** A receipt failed a check; `check` names it (a field of the receipt, or `format`). */
export class ReceiptError extends Error {
  constructor(check, message) {
    super(`${check}: ${message}`);
    this.name = 'ReceiptError';
    this.check = check;
  }
}

/** Longest inclusion proof of a tree of at most 2^64 − 1 leaves. */
export const MAX_PROOF_LEN = 65;

const enc = new TextEncoder();
const LEAF_DOMAIN = enc.encode('txnchain-leaf-v1');
const ROOT_DOMAIN = enc.encode('txnchain-ledger-root-v1');
const U64_MAX = (1n << 64n) - 1n;

function bytes(check, hex, length) {
  if (typeof hex !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(hex)) {
    throw new ReceiptError(check, 'not 0x-prefixed hex bytes');
  }
  const out = new Uint8Array((hex.length - 2) / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 + 2 * i, 4 + 2 * i), 16);
  if (length !== undefined && out.length !== length) {
    throw new ReceiptError(check, `expected ${length} bytes, got ${out.length}`);
  }
  return out;
}

function u64(check, value) {
  let v;
  try {
    v = BigInt(value);
  } catch {
    throw new ReceiptError(check, 'not an integer');
  }
  if ((typeof value !== 'number' && typeof value !== 'bigint') || v < 0n || v > U64_MAX) {
    throw new ReceiptError(check, 'not a 64-bit unsigned integer');
  }
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new ReceiptError(check, 'not exactly representable');
  }
  return v;
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

function be64(x) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, x);
  return out;
}

const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const hex = (b) => '0x' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** RFC 9162 leaf hash: SHA-256(0x00 ‖ input). */
export function leafHash(input) {
  return sha256(concat(Uint8Array.of(0), input));
}

/** RFC 9162 node hash: SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/** The ledger leaf of one transaction (spec §1), hashed. */
export function ledgerLeafHash(transactionHash, receiptHash, resultDigest) {
  return leafHash(concat(LEAF_DOMAIN, transactionHash, receiptHash, resultDigest));
}

/** `"txnchain-ledger-root-v1" ‖ u64be(chainId) ‖ u64be(blockNumber) ‖ blockHash ‖ u64be(treeSize) ‖ root`. */
export function signedRootMessage(chainId, blockNumber, blockHash, treeSize, root) {
  return concat(ROOT_DOMAIN, be64(BigInt(chainId)), be64(BigInt(blockNumber)), blockHash, be64(BigInt(treeSize)), root);
}

/**
 * RFC 9162 §2.1.3.2: folds `proof` from `leaf` at `index` in a tree of `size` leaves; returns
 * the root it leads to, or throws `ReceiptError('inclusionProof', …)`.
 */
export function rootFromInclusionProof(leaf, index, size, proof) {
  if (index >= size) throw new ReceiptError('inclusionProof', `leaf index ${index} is not below tree size ${size}`);
  if (proof.length > MAX_PROOF_LEN) throw new ReceiptError('inclusionProof', `proof has ${proof.length} elements`);
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new ReceiptError('inclusionProof', 'proof has the wrong number of elements');
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new ReceiptError('inclusionProof', 'proof has the wrong number of elements');
  return r;
}

/**
 * Verifies a receipt (spec §3) offline against the trusted service identity (0x-hex or 32
 * bytes). Returns `{transactionHash, receiptHash, blockNumber, blockHash, leafIndex,
 * treeSize, root}`; throws a `ReceiptError` naming the first check that failed.
 */
export function verifyReceipt(receipt, serviceIdentity) {
  if (receipt === null || typeof receipt !== 'object') throw new ReceiptError('format', 'not a receipt object');
  const trusted = typeof serviceIdentity === 'string' ? bytes('serviceIdentity', serviceIdentity, 32) : serviceIdentity;
  if (!(trusted instanceof Uint8Array) || trusted.length !== 32) {
    throw new ReceiptError('serviceIdentity', 'the trusted service identity must be 32 bytes');
  }
  if (receipt.version !== 1) throw new ReceiptError('version', `unsupported receipt version ${receipt.version}`);
  const named = bytes('serviceIdentity', receipt.serviceIdentity, 32);
  if (!equal(named, trusted)) {
    throw new ReceiptError('serviceIdentity', `signed by ${receipt.serviceIdentity}, not the trusted service identity ${hex(trusted)}`);
  }
  const chainId = u64('chainId', receipt.chainId);
  const transaction = bytes('transaction', receipt.transaction);
  if (transaction.length === 0) throw new ReceiptError('transaction', 'empty');
  const encodedReceipt = bytes('receipt', receipt.receipt);
  if (encodedReceipt.length === 0) throw new ReceiptError('receipt', 'empty');
  const resultDigest = bytes('resultDigest', receipt.resultDigest, 32);
  const leafIndex = u64('leafIndex', receipt.leafIndex);
  const treeSize = u64('treeSize', receipt.treeSize);
  const blockNumber = u64('blockNumber', receipt.blockNumber);
  const blockHash = bytes('blockHash', receipt.blockHash, 32);
  const root = bytes('root', receipt.root, 32);
  if (!Array.isArray(receipt.inclusionProof)) throw new ReceiptError('inclusionProof', 'not a list');
  if (receipt.inclusionProof.length > MAX_PROOF_LEN) {
    throw new ReceiptError('inclusionProof', `proof has ${receipt.inclusionProof.length} elements`);
  }
  const proof = receipt.inclusionProof.map((p) => bytes('inclusionProof', p, 32));
  const signature = bytes('signature', receipt.signature, 64);

  const transactionHash = keccak_256(transaction);
  const receiptHash = keccak_256(encodedReceipt);
  const leaf = ledgerLeafHash(transactionHash, receiptHash, resultDigest);
  const folded = rootFromInclusionProof(leaf, leafIndex, treeSize, proof);
  if (!equal(folded, root)) throw new ReceiptError('inclusionProof', 'proof does not lead to the root');

  const message = signedRootMessage(chainId, blockNumber, blockHash, treeSize, root);
  let ok = false;
  try {
    ok = ed25519.verify(signature, message, trusted, { zip215: false });
  } catch {
    ok = false;
  }
  if (!ok) throw new ReceiptError('signature', 'does not verify over the signed root with the service identity');
  return {
    transactionHash: hex(transactionHash),
    receiptHash: hex(receiptHash),
    chainId,
    blockNumber,
    blockHash: hex(blockHash),
    leafIndex,
    treeSize,
    root: hex(root),
  };
}
