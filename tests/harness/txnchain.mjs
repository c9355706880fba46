// Real `txnchain` processes for tests: `dev`, `node --genesis`, `paywall`, `facilitator`, and
// one-shot commands. Every long-running one is a process object from ./process.mjs:
//
//   const node = await startNode();                  // txnchain dev --port 0 --data-dir <tmp>
//   node.url / node.wsUrl / node.port / node.dataDir / node.pid
//   node.output(); node.outputLines(/panicked/); node.rss()
//   await node.kill9(); await node.restart();        // crash, then restart on the same data dir
//   await node.destroy();                            // stop + delete the data dir (use in `after`)
//
// Binary: $TXNCHAIN_BIN (relative paths resolve from the current directory), else
// <repo>/target/<profile>/txnchain (profile 'debug' unless asked). Processes must print
// `Listening on <ip>:<port>` once they serve (the node on stdout, after an optional
// `Admin listening on <ip>:<port>`).

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess, onExitCleanup, DEFAULT_START_TIMEOUT_MS } from './process.mjs';

export const HARNESS_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(HARNESS_DIR, '..', '..');
export const START_TIMEOUT_MS = DEFAULT_START_TIMEOUT_MS;
export const LISTENING_RE =
  /Listening on (?:https?:\/\/)?(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|localhost):(\d+)/;
const ADMIN_RE = /Admin listening on (\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):(\d+)/;

/**
 * The txnchain binary: $TXNCHAIN_BIN resolved from the cwd, else
 * <repo>/target/<profile>/txnchain.
 * @param {'debug'|'release'} [profile]
 */
export function txnchainBin(profile = 'debug') {
  const fromEnv = process.env.TXNCHAIN_BIN;
  if (fromEnv) return resolve(process.cwd(), fromEnv);
  return join(REPO_ROOT, 'target', profile, process.platform === 'win32' ? 'txnchain.exe' : 'txnchain');
}

function requireBin(bin) {
  if (!existsSync(bin)) {
    throw new Error(`txnchain binary not found at ${bin}; build it (cargo build -p txnchain-cli) or set TXNCHAIN_BIN`);
  }
}

/** Replaces `--flag VALUE` in args (or appends it). */
function withFlag(args, flag, value) {
  const out = [...args];
  const i = out.indexOf(flag);
  if (i >= 0) out[i + 1] = value;
  else out.push(flag, value);
  return out;
}

/** Adds `adminUrl` (from `Admin listening on …`) to a node process object. */
function withAdmin(p) {
  Object.defineProperty(p, 'adminUrl', {
    enumerable: true,
    get() {
      const all = [...this.output().matchAll(new RegExp(ADMIN_RE, 'g'))];
      const m = all.at(-1);
      return m ? `http://${m[1]}:${m[2]}` : undefined;
    },
  });
  return p;
}

/**
 * Starts `txnchain <command> --port <0|previous> --data-dir <dir> [...extraArgs]`.
 * @param {object}   [opts]
 * @param {string}   [opts.command]        'dev' (default) or 'node'
 * @param {string[]} [opts.extraArgs]      extra CLI flags, e.g. ['--block-interval', '2s']
 * @param {string}   [opts.dataDir]        reuse a data dir (default: a fresh temporary dir, removed by destroy())
 * @param {object}   [opts.env]            extra environment variables (RUST_LOG, …)
 * @param {string}   [opts.bin]            binary (default txnchainBin())
 * @param {number}   [opts.startTimeoutMs] default 30 s
 * @param {RegExp[]} [opts.watch]          output lines kept for the whole life (default [/panicked/])
 * @param {string}   [opts.dataDirPrefix]  prefix of the temporary data dir
 */
export async function startNode(opts = {}) {
  const bin = opts.bin ?? txnchainBin();
  requireBin(bin);
  const extraArgs = opts.extraArgs ?? [];
  const ownsDataDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), opts.dataDirPrefix ?? 'txnchain-'));
  const command = opts.command ?? 'dev';
  const p = await startProcess({
    name: `txnchain ${command}`,
    bin,
    args: ({ port }) => [command, '--port', String(port), '--data-dir', dataDir, ...extraArgs],
    ready: { re: LISTENING_RE, stream: 'stdout' },
    env: opts.env ?? {},
    dataDir,
    ownsDataDir,
    watch: opts.watch,
    startTimeoutMs: opts.startTimeoutMs ?? START_TIMEOUT_MS,
  });
  return withAdmin(p);
}

/** `txnchain dev` (see startNode). */
export function startDev(opts = {}) {
  return startNode({ ...opts, command: 'dev' });
}

/**
 * `txnchain node --genesis FILE --tee virtual` (no dev accounts).
 * @param {object} opts
 * @param {object|string} opts.genesis  a geth-style genesis object (written to a temp file) or a file path
 * @param {string} [opts.tee]           default 'virtual'
 * @param {string} [opts.adminListen]   e.g. '127.0.0.1:0' (then `adminUrl` is set)
 * @param {string[]} [opts.extraArgs]
 * Other options as startNode.
 */
export function startGenesisNode(opts) {
  let file = opts.genesis;
  if (typeof file !== 'string') {
    file = join(mkdtempSync(join(tmpdir(), 'txnchain-genesis-')), 'genesis.json');
    writeFileSync(file, JSON.stringify(opts.genesis));
  }
  const extra = ['--genesis', file, '--tee', opts.tee ?? 'virtual'];
  if (opts.adminListen) extra.push('--admin-listen', opts.adminListen);
  return startNode({ ...opts, command: 'node', extraArgs: [...extra, ...(opts.extraArgs ?? [])] });
}

/** A `txnchain <subcommand> … --listen 127.0.0.1:<0|previous>` service (paywall, facilitator). */
function startService(name, args, opts) {
  const bin = opts.bin ?? txnchainBin();
  requireBin(bin);
  const host = opts.host ?? '127.0.0.1';
  return startProcess({
    name: `txnchain ${name}`,
    bin,
    args: ({ port }) => withFlag([name, ...args], '--listen', `${host}:${port}`),
    ready: LISTENING_RE,
    env: { RUST_LOG: process.env.RUST_LOG ?? 'info', ...(opts.env ?? {}) },
    watch: opts.watch,
    startTimeoutMs: opts.startTimeoutMs ?? START_TIMEOUT_MS,
  });
}

/**
 * `txnchain paywall` in front of `upstream`, paid through `facilitator`.
 * @param {object} o
 * @param {string} o.upstream     upstream base URL
 * @param {string} o.facilitator  facilitator base URL (a dev node serves one at `${node.url}/x402`)
 * @param {string} o.payTo        payee address
 * @param {string} [o.price]      default '0.01'
 * @param {string[]} [o.routes]   `/path=0.05` entries (--route)
 * @param {string[]} [o.settleFirst] paths (--settle-first)
 * @param {string[]} [o.extraArgs]
 */
export function startPaywall(o) {
  const args = ['--upstream', o.upstream, '--facilitator', o.facilitator, '--price', o.price ?? '0.01', '--pay-to', o.payTo];
  for (const r of o.routes ?? []) args.push('--route', r);
  for (const s of o.settleFirst ?? []) args.push('--settle-first', s);
  return startService('paywall', [...args, ...(o.extraArgs ?? [])], o);
}

/**
 * Standalone `txnchain facilitator`. Settlement keys never go on the command line (the
 * binary has no flag for them): `keys` are written to a mode-0600 file in a temporary
 * directory (removed when the process is destroyed, or at exit) and passed as `--key-file`.
 * @param {object} o
 * @param {string} o.rpc            the chain's JSON-RPC URL
 * @param {string[]|string} [o.keys] settlement key(s), 0x-hex (written to a key file)
 * @param {string} [o.keyFile]      an existing key file instead of `keys`
 * @param {string[]} [o.allowPayTo] payees it settles for
 * @param {boolean} [o.open]        settle for every payee
 * @param {string[]} [o.extraArgs]
 * The process object also has `keyFile` (the file passed).
 */
export async function startFacilitator(o) {
  const args = ['--rpc', o.rpc];
  let keyFile = o.keyFile;
  let dir = null;
  const keys = [].concat(o.keys ?? []);
  if (!keyFile && keys.length) {
    dir = mkdtempSync(join(tmpdir(), 'txnchain-facilitator-keys-'));
    keyFile = join(dir, 'keys');
    writeFileSync(keyFile, keys.join('\n') + '\n', { mode: 0o600 });
    chmodSync(keyFile, 0o600);
  }
  const unregister = dir ? onExitCleanup(() => rmSync(dir, { recursive: true, force: true })) : null;
  const removeDir = () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    unregister?.();
  };
  if (keyFile) args.push('--key-file', keyFile);
  for (const a of o.allowPayTo ?? []) args.push('--allow-pay-to', a);
  if (o.open) args.push('--open');
  let p;
  try {
    p = await startService('facilitator', [...args, ...(o.extraArgs ?? [])], o);
  } catch (e) {
    removeDir();
    throw e;
  }
  p.keyFile = keyFile;
  const destroy = p.destroy.bind(p);
  p.destroy = async () => {
    try {
      await destroy();
    } finally {
      removeDir();
    }
  };
  return p;
}

/** Runs `txnchain <args>` to completion: { code, signal, stdout, stderr }. */
export function runTxnchain(args, { timeoutMs = 60_000, bin, env } = {}) {
  const b = bin ?? txnchainBin();
  requireBin(b);
  return new Promise((res, rej) => {
    const proc = spawn(b, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_BACKTRACE: '0', ...(env ?? {}) } });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d.toString()));
    proc.stderr.on('data', (d) => (stderr += d.toString()));
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.once('exit', (code, signal) => {
      clearTimeout(t);
      res({ code, signal, stdout, stderr });
    });
    proc.once('error', (e) => {
      clearTimeout(t);
      rej(e);
    });
  });
}
