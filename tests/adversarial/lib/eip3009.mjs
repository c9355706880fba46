// x402 `exact` payments over EIP-3009, built by hand with viem (as tests/x402 does): a
// TransferWithAuthorization signed with signTypedData for the requirement a 402 offered.
// Only viem and Node builtins here: the paid probe's worker thread imports this too.

import { randomBytes } from 'node:crypto';

export const CHAIN_ID = 424242;
export const NETWORK = `eip155:${CHAIN_ID}`;
/** The dev stablecoin (tUSD, 6 decimals). */
export const TUSD = '0x4020000000000000000000000000000000000402';
export const TOKEN_NAME = 'TxnChain USD';
export const TOKEN_VERSION = '1';

export const TRANSFER_WITH_AUTHORIZATION = [
  { name: 'from', type: 'address' },
  { name: 'to', type: 'address' },
  { name: 'value', type: 'uint256' },
  { name: 'validAfter', type: 'uint256' },
  { name: 'validBefore', type: 'uint256' },
  { name: 'nonce', type: 'bytes32' },
];

export const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64');
export const unb64 = (s) => JSON.parse(Buffer.from(s, 'base64').toString('utf8'));

/** A random 32-byte authorization nonce. */
export const randomNonce = () => '0x' + randomBytes(32).toString('hex');

/**
 * A PAYMENT-SIGNATURE payload for `required.accepts[0]` (a decoded PAYMENT-REQUIRED), signed
 * by `account` (a viem local account). Overrides: `accepted` (fields of the requirement
 * echoed), `authorization` (fields signed), `domain` (EIP-712 domain fields), `signer`.
 * Returns { payload, header (base64), authorization, accepted }.
 */
export async function makePayment(account, required, o = {}) {
  const accepted = { ...required.accepts[0], ...(o.accepted ?? {}) };
  const now = Math.floor(Date.now() / 1000);
  const authorization = {
    from: account.address,
    to: accepted.payTo,
    value: accepted.amount,
    validAfter: '0',
    validBefore: String(now + 300),
    nonce: randomNonce(),
    ...(o.authorization ?? {}),
  };
  const domain = {
    name: accepted.extra?.name ?? TOKEN_NAME,
    version: accepted.extra?.version ?? TOKEN_VERSION,
    chainId: o.chainId ?? CHAIN_ID,
    verifyingContract: accepted.asset,
    ...(o.domain ?? {}),
  };
  const signer = o.signer ?? account;
  const signature = await signer.signTypedData({
    domain,
    types: { TransferWithAuthorization: TRANSFER_WITH_AUTHORIZATION },
    primaryType: 'TransferWithAuthorization',
    message: {
      ...authorization,
      value: BigInt(authorization.value),
      validAfter: BigInt(authorization.validAfter),
      validBefore: BigInt(authorization.validBefore),
    },
  });
  const payload = { x402Version: 2, ...(required.resource ? { resource: required.resource } : {}), accepted, payload: { signature, authorization } };
  return { payload, header: b64(payload), authorization, accepted };
}

/**
 * A facilitator request body `{x402Version, paymentPayload, paymentRequirements}` as JSON
 * text. `u64` replaces the JSON string "__U64_MAX__" with the bare number
 * 18446744073709551615 (JavaScript numbers cannot hold it exactly).
 */
export function facilitatorBody(payload, requirements) {
  return JSON.stringify({ x402Version: 2, paymentPayload: payload, paymentRequirements: requirements }).replaceAll('"__U64_MAX__"', '18446744073709551615');
}
