// Starts and controls a real `txnchain` process for the interop tests: a thin layer over the
// shared harness (tests/harness), kept so the tests import what they always did.
//
//   const node = await startNode();                 // txnchain dev --port 0 --data-dir <tmp>
//   node.url / node.wsUrl                            // http://127.0.0.1:<port>, ws://127.0.0.1:<port>
//   await node.kill9(); await node.restart();        // crash and restart on the same data dir
//   await node.destroy();                            // stop + delete the data dir (use in `after`)
//
// Binary: $TXNCHAIN_BIN, else <repo>/target/debug/txnchain (build it first with
// `cargo build -p txnchain-cli`). The node must print `Listening on 127.0.0.1:<port>`
// on stdout once it serves JSON-RPC (HTTP and WebSocket on that port).

import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNode as harnessStartNode } from '../../harness/txnchain.mjs';

export { REPO_ROOT, START_TIMEOUT_MS, txnchainBin } from '../../harness/txnchain.mjs';
export const INTEROP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Starts `txnchain dev --port 0 --data-dir <dir> [...extraArgs]`.
 * @param {object} [opts]
 * @param {string[]} [opts.extraArgs]  extra CLI flags, e.g. ['--block-interval', '2s']
 * @param {string} [opts.command]  subcommand: 'dev' (default) or 'node'
 * @param {string}   [opts.dataDir]    reuse a data dir (default: a fresh temporary dir)
 * @param {object}   [opts.env]        extra environment variables (RUST_LOG, …)
 * @param {string}   [opts.bin]        binary to run instead of txnchainBin() (self-tests)
 * @param {number}   [opts.startTimeoutMs] default 30 s
 * @returns {Promise<{url, wsUrl, port, proc, dataDir, output(), stop(), kill9(), restart(), destroy()}>}
 */
export function startNode(opts = {}) {
  return harnessStartNode({ dataDirPrefix: 'txnchain-interop-', ...opts });
}
