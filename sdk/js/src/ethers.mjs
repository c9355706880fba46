// Confidential contracts from ethers v6 (`@txnchain/sdk/ethers`): `deploy`, `write`, `read` and
// `estimateGas` over an ethers `Interface`, with the calldata enveloped to the network's
// verified epoch key, sealed results opened, reads and estimates sent as signed queries (the
// contract sees the real msg.sender), and reverts raised as ethers' CALL_EXCEPTION errors with
// the decoded `revert` (name, signature, args) and `reason`.

import { Interface, getAddress, makeError, toBeHex } from 'ethers';
import { SEALED_RESULT_PREFIX, bytesToHex, networkSession, openResult } from './index.mjs';

/**
 * A confidential session over an ethers provider and signer.
 *
 * @param {object} o
 * @param {import('ethers').JsonRpcProvider} o.provider
 * @param {import('ethers').Signer} o.signer sends transactions and signs queries.
 * @param {string|Uint8Array} o.serviceIdentity the pinned service identity.
 * @param {bigint} [o.blockRange] how many blocks a signed query stays valid (default 16).
 */
export function confidential({ provider, signer, serviceIdentity, blockRange = 16n }) {
  const core = networkSession({ request: (method, params) => provider.send(method, params), serviceIdentity, blockRange });
  const { encryptionKey, sealTo } = core;
  const iface = (abi) => (abi instanceof Interface ? abi : new Interface(abi));

  async function signQuery(chainId, { from, to, value, data, envelope }) {
    return core.signQuery({
      chainId, from, to, value, data, envelope,
      latest: await provider.getBlock('latest'),
      sign: ({ domain, types, message }) => signer.signTypedData(domain, types, message),
    });
  }

  function revertError(i, result, { fragment, args, to, from, data }) {
    let revert = null;
    let reason = null;
    try {
      const e = i.parseError(result.output);
      if (e) {
        revert = { name: e.name, signature: e.signature, args: [...e.args] };
        if (e.name === 'Error') reason = e.args[0];
      }
    } catch {
      // not an error of this ABI: left undecoded in `data`
    }
    return makeError(reason ? `execution reverted: "${reason}"` : 'execution reverted', 'CALL_EXCEPTION', {
      action: 'call',
      data: result.output,
      reason,
      revert,
      transaction: { to, from, data },
      invocation: fragment ? { method: fragment.name, signature: fragment.format(), args } : null,
    });
  }

  function decodeLogs(i, logs) {
    return logs.map((log) => {
      try {
        const parsed = i.parseLog({ topics: log.topics, data: log.data });
        return parsed ? { ...log, eventName: parsed.name, args: parsed.args } : log;
      } catch {
        return log;
      }
    });
  }

  async function estimateEnveloped(i, { chainId, from, to, value, data, envelope, resultKey, nonce, fragment, args }) {
    const query = await signQuery(chainId, { from, to, value, data, envelope });
    const call = { from, data: query, nonce: toBeHex(nonce) };
    if (to) call.to = to;
    if (value) call.value = toBeHex(value);
    try {
      return BigInt(await provider.send('eth_estimateGas', [call]));
    } catch (err) {
      const candidates = [err?.data, err?.error?.data, err?.info?.error?.data];
      const sealed = candidates.find((d) => typeof d === 'string' && d.startsWith(SEALED_RESULT_PREFIX));
      if (!sealed) throw err;
      throw revertError(i, openResult(resultKey, sealed), { fragment, args, to, from, data });
    }
  }

  async function sendEnveloped(i, { to, value, gasLimit, data, fragment, args }) {
    const from = getAddress(await signer.getAddress());
    const nonce = await provider.getTransactionCount(from, 'pending');
    const s = await sealTo({ kind: 'tx', sender: from, to: to ?? null, nonce }, data);
    const limit = gasLimit ?? (await estimateEnveloped(i, {
      chainId: s.chainId, from, to, value, data, envelope: s.envelope, resultKey: s.resultKey, nonce, fragment, args,
    }));
    const tx = await signer.sendTransaction({ to: to ?? null, data: bytesToHex(s.envelope), value: value ?? 0n, gasLimit: limit, nonce });
    const receipt = await provider.waitForTransaction(tx.hash);
    const stored = await provider.send('txnchain_getTransactionResult', [tx.hash]);
    if (!stored) throw new Error(`transaction ${tx.hash} is committed but the node has no sealed result for it`);
    const result = openResult(s.resultKey, stored.result);
    if (result.status !== 1) throw revertError(i, result, { fragment, args, to, from, data });
    return { hash: tx.hash, receipt, result, logs: decodeLogs(i, result.logs) };
  }

  return {
    encryptionKey,

    /** Deploys a confidential contract: `{address, hash, receipt, logs}`. */
    async deploy({ abi, bytecode, args = [], value, gasLimit }) {
      const i = iface(abi);
      const data = bytecode + i.encodeDeploy(args).slice(2);
      const out = await sendEnveloped(i, { to: null, value, gasLimit, data, fragment: null, args });
      return { address: out.receipt.contractAddress, hash: out.hash, receipt: out.receipt, logs: out.logs };
    },

    /** An enveloped transaction calling `method`: `{hash, receipt, result, logs}`. */
    async write({ address, abi, method, args = [], value, gasLimit }) {
      const i = iface(abi);
      const fragment = i.getFunction(method);
      const data = i.encodeFunctionData(fragment, args);
      const out = await sendEnveloped(i, { to: address, value, gasLimit, data, fragment, args });
      const decoded = i.decodeFunctionResult(fragment, out.result.output);
      return { hash: out.hash, receipt: out.receipt, result: decoded.length === 1 ? decoded[0] : decoded, logs: out.logs };
    },

    /** An enveloped call of `method`, signed by the signer unless `signed: false`. */
    async read({ address, abi, method, args = [], signed = true, blockTag = 'latest' }) {
      const i = iface(abi);
      const fragment = i.getFunction(method);
      const data = i.encodeFunctionData(fragment, args);
      const from = signed ? getAddress(await signer.getAddress()) : null;
      const s = await sealTo({ kind: 'call', from, to: address }, data);
      const call = { to: address, data: bytesToHex(s.envelope) };
      if (from) {
        call.from = from;
        call.data = await signQuery(s.chainId, { from, to: address, data, envelope: s.envelope });
      }
      const result = openResult(s.resultKey, await provider.send('eth_call', [call, blockTag]));
      if (result.status !== 1) throw revertError(i, result, { fragment, args, to: address, from, data });
      const decoded = i.decodeFunctionResult(fragment, result.output);
      return decoded.length === 1 ? decoded[0] : decoded;
    },
  };
}
