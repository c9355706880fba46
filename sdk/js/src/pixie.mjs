// Pixie DEX helpers for viem (docs/pixie.md): the exchange's address and ABI, EIP-712 order
// signing and ids, and a trader's session over a confidential session of ./viem.mjs — orders
// and cancels go enveloped, balances, orders and fills are read with signed queries.

import { hashTypedData } from 'viem';

/** The exchange's address on every TxnChain network. */
export const PIXIE = '0x0000000000000000000000000000000000000c02';

/** The EIP-712 types of an order (`contracts/src/IPixieDex.sol`). */
export const ORDER_TYPES = {
  Order: [
    { name: 'trader', type: 'address' },
    { name: 'market', type: 'uint32' },
    { name: 'buy', type: 'bool' },
    { name: 'price', type: 'uint64' },
    { name: 'lots', type: 'uint64' },
    { name: 'expiry', type: 'uint64' },
    { name: 'clientId', type: 'uint64' },
    { name: 'nonce', type: 'uint64' },
    { name: 'immediateOrCancel', type: 'bool' },
  ],
};

/** "Good until cancelled": the largest expiry. */
export const NO_EXPIRY = 2n ** 64n - 1n;

const ORDER = {
  type: 'tuple',
  components: ORDER_TYPES.Order.map(({ name, type }) => ({ name, type })),
};
const tuple = (name, components) => ({ name, type: 'tuple', components });
const u = (name, bits) => ({ name, type: `uint${bits}` });

/** The exchange's ABI (the functions of `IPixieDex`; the artifact has the errors too). */
export const PIXIE_ABI = [
  { type: 'function', name: 'deposit', stateMutability: 'nonpayable', inputs: [{ name: 'token', type: 'address' }, u('amount', 256)], outputs: [] },
  { type: 'function', name: 'withdraw', stateMutability: 'nonpayable', inputs: [{ name: 'token', type: 'address' }, u('amount', 256)], outputs: [] },
  { type: 'function', name: 'placeOrder', stateMutability: 'nonpayable', inputs: [{ name: 'order', ...ORDER }, { name: 'signature', type: 'bytes' }], outputs: [{ name: 'id', type: 'bytes32' }] },
  { type: 'function', name: 'cancelOrder', stateMutability: 'nonpayable', inputs: [{ name: 'id', type: 'bytes32' }], outputs: [] },
  { type: 'function', name: 'cancelNonce', stateMutability: 'nonpayable', inputs: [u('nonce', 64)], outputs: [{ name: 'cancelledOpenOrder', type: 'bool' }] },
  {
    type: 'function', name: 'markets', stateMutability: 'view', inputs: [],
    outputs: [{ name: '', type: 'tuple[]', components: [u('id', 32), { name: 'base', type: 'address' }, { name: 'quote', type: 'address' }, u('lotSize', 128), u('tickSize', 128), u('feeBps', 16), { name: 'feeRecipient', type: 'address' }] }],
  },
  { type: 'function', name: 'balanceOf', stateMutability: 'view', inputs: [{ name: 'token', type: 'address' }], outputs: [tuple('', [u('free', 128), u('locked', 128)])] },
  {
    type: 'function', name: 'openOrders', stateMutability: 'view', inputs: [],
    outputs: [{ name: '', type: 'tuple[]', components: [{ name: 'id', type: 'bytes32' }, { name: 'order', ...ORDER }, u('remaining', 64), u('locked', 128), u('batch', 64)] }],
  },
  {
    type: 'function', name: 'fills', stateMutability: 'view', inputs: [],
    outputs: [{ name: '', type: 'tuple[]', components: [u('batch', 64), u('market', 32), { name: 'order', type: 'bytes32' }, { name: 'buy', type: 'bool' }, u('price', 64), u('lots', 64), u('base', 128), u('quote', 128), u('fee', 128)] }],
  },
  { type: 'function', name: 'nonceUsed', stateMutability: 'view', inputs: [u('nonce', 64)], outputs: [{ name: '', type: 'bool' }] },
  { type: 'function', name: 'currentBatch', stateMutability: 'view', inputs: [], outputs: [u('batch', 64), { name: 'open', type: 'bool' }, u('openedAt', 64)] },
  {
    type: 'function', name: 'clearings', stateMutability: 'view', inputs: [u('market', 32)],
    outputs: [{ name: '', type: 'tuple[]', components: [u('batch', 64), u('closedAt', 64), u('price', 64), u('lots', 128), u('baseVolume', 128)] }],
  },
];

/** The EIP-712 domain orders are signed under on chain `chainId`. */
export function pixieDomain(chainId) {
  return { name: 'Pixie DEX', version: '1', chainId, verifyingContract: PIXIE };
}

/** An order with its defaults filled in: good until cancelled, client id 0, not IOC. */
export function makeOrder(order) {
  return { market: 1, expiry: NO_EXPIRY, clientId: 0n, immediateOrCancel: false, ...order };
}

/** The order's identifier: its EIP-712 signing hash (what `placeOrder` returns). */
export function orderId(chainId, order) {
  return hashTypedData({ domain: pixieDomain(chainId), types: ORDER_TYPES, primaryType: 'Order', message: makeOrder(order) });
}

/**
 * Signs an order with a viem wallet client (its account is the trader unless `order.trader`
 * says otherwise): `{order, signature, id}`.
 */
export async function signOrder(walletClient, order) {
  const chainId = walletClient.chain?.id ?? (await walletClient.getChainId());
  const full = makeOrder({ trader: walletClient.account.address, ...order });
  const signature = await walletClient.signTypedData({
    domain: pixieDomain(chainId), types: ORDER_TYPES, primaryType: 'Order', message: full,
  });
  return { order: full, signature, id: orderId(chainId, full) };
}

/**
 * A trader's session: `session` is `confidential({...})` of ./viem.mjs for the trader's wallet.
 * Everything that reveals the trader's intent goes enveloped; the trader's own state is read
 * with signed queries.
 */
export function pixieTrader({ session, walletClient, publicClient }) {
  const erc20 = [
    { type: 'function', name: 'approve', stateMutability: 'nonpayable', inputs: [{ name: 'spender', type: 'address' }, u('value', 256)], outputs: [{ name: '', type: 'bool' }] },
    { type: 'function', name: 'allowance', stateMutability: 'view', inputs: [{ name: 'owner', type: 'address' }, { name: 'spender', type: 'address' }], outputs: [u('', 256)] },
  ];
  const write = (functionName, args) => session.writeContract({ address: PIXIE, abi: PIXIE_ABI, functionName, args });
  const read = (functionName, args) => session.readContract({ address: PIXIE, abi: PIXIE_ABI, functionName, args });
  return {
    /** Approves the exchange if needed, then deposits `amount` of `token`. */
    async deposit(token, amount) {
      const owner = walletClient.account.address;
      const allowance = await publicClient.readContract({ address: token, abi: erc20, functionName: 'allowance', args: [owner, PIXIE] });
      if (allowance < amount) {
        const hash = await walletClient.writeContract({ address: token, abi: erc20, functionName: 'approve', args: [PIXIE, amount] });
        const receipt = await publicClient.waitForTransactionReceipt({ hash });
        if (receipt.status !== 'success') throw new Error(`approve of ${token} failed in ${hash}`);
      }
      return write('deposit', [token, amount]);
    },
    withdraw: (token, amount) => write('withdraw', [token, amount]),
    /** Signs `order` with the trader's key and places it, enveloped: `{id, hash, receipt}`. */
    async place(order) {
      const signed = await signOrder(walletClient, order);
      const out = await write('placeOrder', [signed.order, signed.signature]);
      return { id: out.result, hash: out.hash, receipt: out.receipt, order: signed.order };
    },
    /** Places an order someone else signed (as a relayer): `{id, hash, receipt}`. */
    async relay({ order, signature }) {
      const out = await write('placeOrder', [order, signature]);
      return { id: out.result, hash: out.hash, receipt: out.receipt };
    },
    cancel: (id) => write('cancelOrder', [id]),
    cancelNonce: (nonce) => write('cancelNonce', [nonce]),
    balance: (token) => read('balanceOf', [token]),
    openOrders: () => read('openOrders', []),
    fills: () => read('fills', []),
    nonceUsed: (nonce) => read('nonceUsed', [nonce]),
    /** Public: the listed markets. */
    markets: () => publicClient.readContract({ address: PIXIE, abi: PIXIE_ABI, functionName: 'markets' }),
    /** Public: a market's recent batch results. */
    clearings: (market) => publicClient.readContract({ address: PIXIE, abi: PIXIE_ABI, functionName: 'clearings', args: [market] }),
  };
}
