// Confidential contracts from viem (`@txnchain/sdk/viem`): `deployContract`, `writeContract`,
// `readContract` and `estimateContractGas` that look like viem's, but envelope the calldata to
// the network's verified epoch key, open the sealed result of every call and transaction, run
// reads and gas estimates as signed queries (so the contract sees the real msg.sender), and
// raise reverts as viem's ContractFunctionExecutionError / ContractFunctionRevertedError.

import {
  ContractFunctionExecutionError,
  ContractFunctionRevertedError,
  decodeEventLog,
  decodeFunctionResult,
  encodeDeployData,
  encodeFunctionData,
  numberToHex,
} from 'viem';
import { SEALED_RESULT_PREFIX, bytesToHex, networkSession, openResult } from './index.mjs';

/**
 * A confidential session over viem clients.
 *
 * @param {object} o
 * @param {import('viem').PublicClient} o.publicClient reads, receipts, blocks.
 * @param {import('viem').WalletClient} [o.walletClient] sends and signs (its `account`).
 * @param {string|Uint8Array} o.serviceIdentity the pinned service identity (from
 *   `attestedServiceIdentity` for `virtual` nodes, or `txnchain attest verify`).
 * @param {bigint} [o.blockRange] how many blocks a signed query stays valid (default 16).
 */
export function confidential({ publicClient, walletClient, serviceIdentity, blockRange = 16n }) {
  const request = (method, params) => publicClient.request({ method, params });
  const core = networkSession({ request, serviceIdentity, blockRange });
  const { encryptionKey, sealTo } = core;
  const accountOf = (account) => {
    const a = account ?? walletClient?.account;
    if (!a) throw new Error('no account: pass one or give the wallet client an account');
    return a;
  };
  const addressOf = (a) => (typeof a === 'string' ? a : a.address);

  /** Wraps `envelope` in a signed query by `account` over the plaintext call. */
  async function signQuery(account, chainId, { to, value, gas, data, envelope }) {
    const signer = walletClient ?? publicClient;
    return core.signQuery({
      chainId, from: addressOf(account), to, value, gas, data, envelope,
      latest: await publicClient.getBlock({ blockTag: 'latest' }),
      sign: (typed) => signer.signTypedData({ account, ...typed }),
    });
  }

  function revertError(result, { abi, functionName, args, address, sender }) {
    const cause = new ContractFunctionRevertedError({ abi, data: result.output, functionName });
    return new ContractFunctionExecutionError(cause, { abi, args, contractAddress: address, functionName, sender });
  }

  function decodeLogs(abi, logs) {
    return logs.map((log) => {
      try {
        const ev = decodeEventLog({ abi, data: log.data, topics: log.topics });
        return { ...log, eventName: ev.eventName, args: ev.args };
      } catch {
        return log;
      }
    });
  }

  /** Opens a sealed result (hex) with the result key kept from sealing. */
  function open(resultKey, sealed) {
    return openResult(resultKey, sealed);
  }

  /**
   * Gas for an enveloped transaction: `eth_estimateGas` with a signed query around the very
   * envelope that will be sent (tx form, bound to `nonce`). A failing execution throws the
   * viem revert error, decoded from the sealed result.
   */
  async function estimateEnveloped({ account, chainId, to, value, data, envelope, resultKey, nonce, abi, functionName, args }) {
    const query = await signQuery(account, chainId, { to, value, data, envelope });
    const call = { from: addressOf(account), data: query, nonce: numberToHex(nonce) };
    if (to) call.to = to;
    if (value) call.value = numberToHex(value);
    try {
      return BigInt(await request('eth_estimateGas', [call]));
    } catch (err) {
      const sealed = err?.walk?.((e) => typeof e?.data === 'string' && e.data.startsWith(SEALED_RESULT_PREFIX));
      if (!sealed) throw err;
      throw revertError(open(resultKey, sealed.data), { abi, functionName, args, address: to, sender: addressOf(account) });
    }
  }

  async function sendEnveloped({ account, to, value, gas, abi, functionName, args, data }) {
    const sender = addressOf(account);
    const nonce = await publicClient.getTransactionCount({ address: sender, blockTag: 'pending' });
    const s = await sealTo({ kind: 'tx', sender, to: to ?? null, nonce }, data);
    const envelope = bytesToHex(s.envelope);
    const limit = gas ?? (await estimateEnveloped({
      account, chainId: s.chainId, to, value, data, envelope: s.envelope, resultKey: s.resultKey, nonce, abi, functionName, args,
    }));
    const hash = await walletClient.sendTransaction({ account, to: to ?? undefined, data: envelope, value, gas: limit, nonce, chain: walletClient.chain });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    const stored = await request('txnchain_getTransactionResult', [hash]);
    if (!stored) throw new Error(`transaction ${hash} is committed but the node has no sealed result for it`);
    const result = open(s.resultKey, stored.result);
    if (result.status !== 1) throw revertError(result, { abi, functionName, args, address: to ?? undefined, sender });
    return { hash, receipt, result, logs: decodeLogs(abi, result.logs) };
  }

  return {
    encryptionKey,
    open,

    /**
     * Deploys a confidential contract (enveloped init code) and waits for it: `{address,
     * hash, receipt, logs}` (`logs`: the private logs of the constructor, decoded with `abi`).
     */
    async deployContract({ abi, bytecode, args, value, gas, account }) {
      const a = accountOf(account);
      const data = encodeDeployData({ abi, bytecode, args });
      const out = await sendEnveloped({ account: a, to: null, value, gas, abi, functionName: undefined, args, data });
      return { address: out.receipt.contractAddress, hash: out.hash, receipt: out.receipt, logs: out.logs };
    },

    /**
     * Sends an enveloped call of `functionName` and waits for its sealed result: `{hash,
     * receipt, result, logs}` with `result` the decoded return value and `logs` the private
     * logs. A revert (in the gas estimate, or on chain) throws ContractFunctionExecutionError.
     */
    async writeContract({ address, abi, functionName, args, value, gas, account }) {
      const a = accountOf(account);
      const data = encodeFunctionData({ abi, functionName, args });
      const out = await sendEnveloped({ account: a, to: address, value, gas, abi, functionName, args, data });
      const result = decodeFunctionResult({ abi, functionName, data: out.result.output });
      return { hash: out.hash, receipt: out.receipt, result, logs: out.logs };
    },

    /**
     * An enveloped `eth_call` of `functionName`, decoded. Signed (EIP-712, spec §5) by the
     * account unless `signed: false`, so the contract sees the real msg.sender; unsigned calls
     * to a confidential contract run as sender zero. A revert throws
     * ContractFunctionExecutionError; `blockTag` defaults to latest.
     */
    async readContract({ address, abi, functionName, args, account, signed = true, blockTag = 'latest', value }) {
      const data = encodeFunctionData({ abi, functionName, args });
      const a = signed ? accountOf(account) : account ?? walletClient?.account;
      const from = a ? addressOf(a) : null;
      const s = await sealTo({ kind: 'call', from, to: address }, data);
      const call = { to: address, data: bytesToHex(s.envelope) };
      if (from) call.from = from;
      if (value) call.value = numberToHex(value);
      if (signed) call.data = await signQuery(a, s.chainId, { to: address, value, data, envelope: s.envelope });
      const sealed = await request('eth_call', [call, blockTag]);
      const result = open(s.resultKey, sealed);
      if (result.status !== 1) throw revertError(result, { abi, functionName, args, address, sender: from ?? undefined });
      return decodeFunctionResult({ abi, functionName, data: result.output });
    },

    /** Gas for `writeContract` with these arguments (a signed estimate of the envelope). */
    async estimateContractGas({ address, abi, functionName, args, value, account }) {
      const a = accountOf(account);
      const sender = addressOf(a);
      const data = encodeFunctionData({ abi, functionName, args });
      const nonce = await publicClient.getTransactionCount({ address: sender, blockTag: 'pending' });
      const s = await sealTo({ kind: 'tx', sender, to: address, nonce }, data);
      return estimateEnveloped({
        account: a, chainId: s.chainId, to: address, value, data, envelope: s.envelope, resultKey: s.resultKey, nonce, abi, functionName, args,
      });
    },
  };
}
