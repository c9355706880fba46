// Starts and controls a real `txnchain` process for the interop tests.
//
//   const node = await startNode();                 // txnchain dev --port 0 --data-dir <tmp>
//   node.url / node.wsUrl                            // http://127.0.0.1:<port>, ws://127.0.0.1:<port>
//   await node.kill9(); await node.restart();        // crash and restart on the same data dir
//   await node.destroy();                            // stop + delete the data dir (use in `after`)
//
// Binary: $TXNCHAIN_BIN, else <repo>/target/debug/txnchain (build it first with
// `cargo build -p txnchain-cli`). The node must print `Listening on 127.0.0.1:<port>`
// on stdout once it serves JSON-RPC (HTTP and WebSocket on that port).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const INTEROP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(INTEROP_DIR, '..', '..');
export const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const MAX_CAPTURE = 64 * 1024;
const LISTENING_RE = /Listening on (?:https?:\/\/)?(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|localhost):(\d+)/;

/** Resolves the txnchain binary path (env TXNCHAIN_BIN, relative to the cwd, or the debug build). */
export function txnchainBin() {
  const fromEnv = process.env.TXNCHAIN_BIN;
  if (fromEnv) return resolve(process.cwd(), fromEnv);
  return join(REPO_ROOT, 'target', 'debug', process.platform === 'win32' ? 'txnchain.exe' : 'txnchain');
}

// Safety net: never leave a node running when the test process exits, whatever happened.
const live = new Set();
process.once('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

function waitExit(proc, ms) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true);
  return new Promise((res) => {
    const t = setTimeout(() => res(false), ms);
    proc.once('exit', () => {
      clearTimeout(t);
      res(true);
    });
  });
}

function spawnNode(bin, args, env, startTimeoutMs) {
  return new Promise((resolvePromise, rejectPromise) => {
    let output = '';
    let stdoutBuf = '';
    let settled = false;
    const capture = (chunk, stream) => {
      const text = chunk.toString('utf8');
      output += stream === 'stderr' ? text.replace(/^/gm, '[stderr] ') : text;
      if (output.length > MAX_CAPTURE) output = output.slice(-MAX_CAPTURE);
      return text;
    };
    const describe = () =>
      `command: ${bin} ${args.join(' ')}\n--- captured output (last ${MAX_CAPTURE} bytes) ---\n${output}\n--- end ---`;

    let proc;
    try {
      proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    } catch (e) {
      rejectPromise(new Error(`cannot start txnchain: ${e.message}\n${describe()}`));
      return;
    }
    live.add(proc);
    proc.once('exit', () => live.delete(proc));

    const fail = (msg) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        proc.kill('SIGKILL');
      } catch {
        /* ignore */
      }
      rejectPromise(new Error(`${msg}\n${describe()}`));
    };

    const timer = setTimeout(
      () => fail(`txnchain did not print "Listening on 127.0.0.1:<port>" within ${startTimeoutMs / 1000} s`),
      startTimeoutMs,
    );

    proc.stdout.on('data', (chunk) => {
      const text = capture(chunk, 'stdout');
      if (settled) return;
      stdoutBuf += text;
      const m = LISTENING_RE.exec(stdoutBuf);
      if (m) {
        settled = true;
        clearTimeout(timer);
        let host = m[1];
        if (host === 'localhost') host = '127.0.0.1';
        resolvePromise({ proc, host, port: Number(m[2]), output: () => output });
      } else if (stdoutBuf.length > MAX_CAPTURE) {
        stdoutBuf = stdoutBuf.slice(-1024);
      }
    });
    proc.stderr.on('data', (chunk) => capture(chunk, 'stderr'));
    proc.once('error', (e) => fail(`txnchain failed to start (${e.code ?? e.message}); is it built? binary: ${bin}`));
    proc.once('exit', (code, signal) => fail(`txnchain exited before listening (code ${code}, signal ${signal})`));
  });
}

/**
 * Starts `txnchain dev --port 0 --data-dir <dir> [...extraArgs]`.
 * @param {object} [opts]
 * @param {string[]} [opts.extraArgs]  extra CLI flags, e.g. ['--block-interval', '2s']
 * @param {string} [opts.command]  subcommand: 'dev' (default) or 'node'
 * @param {string}   [opts.dataDir]    reuse a data dir (default: a fresh temporary dir)
 * @param {object}   [opts.env]        extra environment variables (RUST_LOG, …)
 * @param {string}   [opts.bin]        binary to run instead of txnchainBin() (self-tests)
 * @param {number}   [opts.startTimeoutMs] default 30 s
 */
export async function startNode(opts = {}) {
  const bin = opts.bin ?? txnchainBin();
  if (!existsSync(bin)) {
    throw new Error(
      `txnchain binary not found at ${bin}; build it (cargo build -p txnchain-cli) or set TXNCHAIN_BIN`,
    );
  }
  const extraArgs = opts.extraArgs ?? [];
  const ownsDataDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'txnchain-interop-'));
  const env = opts.env ?? {};
  const startTimeoutMs = opts.startTimeoutMs ?? START_TIMEOUT_MS;
  const command = opts.command ?? 'dev';
  const args = () => [command, '--port', '0', '--data-dir', dataDir, ...extraArgs];

  const node = {
    dataDir,
    bin,
    proc: null,
    url: '',
    wsUrl: '',
    port: 0,
    /** Captured stdout/stderr of the current process (for diagnostics). */
    output: () => '',

    async _launch() {
      const started = await spawnNode(bin, args(), env, startTimeoutMs);
      this.proc = started.proc;
      this.port = started.port;
      this.output = started.output;
      const host = started.host.includes(':') && !started.host.startsWith('[') ? `[${started.host}]` : started.host;
      this.url = `http://${host}:${started.port}`;
      this.wsUrl = `ws://${host}:${started.port}`;
      return this;
    },

    get running() {
      return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
    },

    /** Graceful stop: SIGTERM (what Ctrl-C / systemd send), then SIGKILL after 10 s. */
    async stop() {
      const p = this.proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      p.kill('SIGTERM');
      if (!(await waitExit(p, STOP_TIMEOUT_MS))) {
        p.kill('SIGKILL');
        await waitExit(p, STOP_TIMEOUT_MS);
      }
    },

    /** Crash: SIGKILL, no chance to flush anything. */
    async kill9() {
      const p = this.proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      p.kill('SIGKILL');
      await waitExit(p, STOP_TIMEOUT_MS);
    },

    /** Starts the node again on the same data dir (stopping it first if it runs). url/wsUrl change. */
    async restart() {
      await this.stop();
      return this._launch();
    },

    /** Stops the node and removes its data dir if this helper created it. Safe to call twice. */
    async destroy() {
      try {
        await this.stop();
      } finally {
        if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };

  try {
    await node._launch();
  } catch (e) {
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  return node;
}
