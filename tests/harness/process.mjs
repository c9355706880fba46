// Long-running child processes for tests: spawn, wait until ready, capture output, stop
// (SIGTERM, then SIGKILL), crash (SIGKILL), restart, and kill whatever is left when the test
// process exits. Node builtins only.
//
//   const p = await startProcess({
//     name: 'upstream', bin: '/usr/bin/python3', args: () => ['-m', 'http.server', '0'],
//     ready: /Serving HTTP on \S+ port (\d+)/, parseReady: (m) => ({ host: '127.0.0.1', port: Number(m[1]) }),
//   });
//   p.url; p.port; p.pid; p.output(); await p.kill9(); await p.restart(); await p.destroy();
//
// `args` is a function of the launch context ({ port, launch }) so that a restart can reuse
// the port of the previous run (`restart({ samePort: true })`).

import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { rssOf, fdCount } from './proc.mjs';

export const DEFAULT_START_TIMEOUT_MS = 30_000;
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
/** Bytes of output kept for output() (older output is dropped; watched lines are kept apart). */
export const DEFAULT_MAX_CAPTURE = 1024 * 1024;
/** Lines kept per watched pattern. */
const MAX_WATCH_HITS = 200;

// ------------------------------------------------------------------ cleanup on exit

const live = new Set();
const cleanups = new Set();

function killAll() {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
  for (const f of cleanups) {
    try {
      f();
    } catch {
      /* best effort */
    }
  }
  cleanups.clear();
}

// Never leave a child running when the test process ends, whatever happened: normal exit,
// uncaught exception, or a terminating signal (re-raised after cleanup so the exit status
// stays what the signal says).
process.once('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  const onSignal = () => {
    killAll();
    process.removeListener(sig, onSignal);
    process.kill(process.pid, sig);
  };
  process.once(sig, onSignal);
}

/** Registers a synchronous cleanup run at exit (e.g. removing a temporary directory). Returns an unregister function. */
export function onExitCleanup(fn) {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Resolves true once `proc` has exited, false after `ms`. */
export function waitExit(proc, ms) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true);
  return new Promise((res) => {
    const t = setTimeout(() => res(false), ms);
    proc.once('exit', () => {
      clearTimeout(t);
      res(true);
    });
  });
}

// ------------------------------------------------------------------ output capture

/** Output of one process over all its runs: a bounded tail, plus every line matching a watched pattern. */
class Capture {
  constructor(maxBytes, watch) {
    this.maxBytes = maxBytes;
    this.text = '';
    this.totalBytes = 0;
    this.watch = watch.map((re) => ({ re, hits: [], count: 0 }));
    this.partial = { stdout: '', stderr: '' };
  }

  add(chunk, stream) {
    const text = chunk.toString('utf8');
    this.totalBytes += chunk.length;
    this.text += stream === 'stderr' ? text.replace(/^(?=.)/gm, '[stderr] ') : text;
    if (this.text.length > this.maxBytes) this.text = this.text.slice(-this.maxBytes);
    if (this.watch.length) {
      const lines = (this.partial[stream] + text).split('\n');
      this.partial[stream] = lines.pop();
      if (this.partial[stream].length > 64 * 1024) this.partial[stream] = this.partial[stream].slice(-64 * 1024);
      for (const line of lines) this.scan(line);
    }
    return text;
  }

  scan(line) {
    for (const w of this.watch) {
      if (w.re.test(line)) {
        w.count += 1;
        if (w.hits.length < MAX_WATCH_HITS) w.hits.push(line);
      }
    }
  }

  flush() {
    for (const s of ['stdout', 'stderr']) {
      if (this.partial[s]) this.scan(this.partial[s]);
      this.partial[s] = '';
    }
  }

  hits(re) {
    const w = this.watch.find((x) => x.re.source === re.source && x.re.flags === re.flags);
    if (w) return w.hits.slice();
    // Not watched from the start: search what is still in the tail.
    return this.text.split('\n').filter((l) => re.test(l));
  }
}

// ------------------------------------------------------------------ one launch

function launchOnce({ name, bin, args, env, cwd, ready, parseReady, startTimeoutMs, capture }) {
  return new Promise((resolvePromise, rejectPromise) => {
    let readyBuf = '';
    let settled = false;
    const describe = () =>
      `command: ${bin} ${args.join(' ')}\n--- captured output of ${name} (tail) ---\n${capture.text.slice(-16 * 1024)}\n--- end ---`;

    let proc;
    try {
      proc = spawn(bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    } catch (e) {
      rejectPromise(new Error(`cannot start ${name}: ${e.message}\n${describe()}`));
      return;
    }
    live.add(proc);
    proc.once('exit', () => {
      live.delete(proc);
      capture.flush();
    });

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
    const timer = setTimeout(() => fail(`${name} was not ready (${ready}) within ${startTimeoutMs / 1000} s`), startTimeoutMs);

    const onData = (stream) => (chunk) => {
      const text = capture.add(chunk, stream);
      if (settled || !ready) return;
      if (ready.stream && ready.stream !== stream) return;
      readyBuf += text;
      const m = ready.re.exec(readyBuf);
      if (m) {
        settled = true;
        clearTimeout(timer);
        resolvePromise({ proc, ...parseReady(m) });
      } else if (readyBuf.length > 256 * 1024) {
        readyBuf = readyBuf.slice(-4096);
      }
    };
    proc.stdout.on('data', onData('stdout'));
    proc.stderr.on('data', onData('stderr'));
    proc.once('error', (e) => fail(`${name} failed to start (${e.code ?? e.message}); binary: ${bin}`));
    proc.once('exit', (code, signal) => fail(`${name} exited before it was ready (code ${code}, signal ${signal})`));
    if (!ready) {
      // Nothing to wait for: ready once spawned.
      proc.once('spawn', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolvePromise({ proc });
      });
    }
  });
}

function hostForUrl(host) {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

// ------------------------------------------------------------------ the process object

/**
 * Starts a long-running process and waits until it is ready.
 *
 * @param {object} o
 * @param {string} o.name                 label for messages
 * @param {string} o.bin                  executable
 * @param {(ctx: {port: number, launch: number}) => string[]} o.args
 *        command line for a launch; ctx.port is 0 on the first launch, the previous port on
 *        `restart({ samePort: true })`
 * @param {RegExp|{re: RegExp, stream?: 'stdout'|'stderr'}} [o.ready]  printed once ready
 * @param {(m: RegExpExecArray) => {host?: string, port?: number}} [o.parseReady]
 *        extracts the address from the ready match (default: groups 1 = host, 2 = port)
 * @param {object}  [o.env]               extra environment
 * @param {string}  [o.cwd]
 * @param {string}  [o.dataDir]           data directory reported as `dataDir`
 * @param {boolean} [o.ownsDataDir]       remove dataDir on destroy()
 * @param {RegExp[]} [o.watch]            patterns whose matching lines are kept for the whole life (default [/panicked/])
 * @param {number}  [o.startTimeoutMs]
 * @param {number}  [o.stopTimeoutMs]
 * @param {number}  [o.maxCapture]        bytes of output kept for output()
 * @param {string}  [o.scheme]            'http' (default) for `url`
 */
export async function startProcess(o) {
  const ready = o.ready instanceof RegExp ? { re: o.ready } : o.ready;
  const parseReady =
    o.parseReady ??
    ((m) => ({
      host: m[1] === 'localhost' ? '127.0.0.1' : m[1]?.replace(/^\[|\]$/g, ''),
      port: m[2] !== undefined ? Number(m[2]) : undefined,
    }));
  const capture = new Capture(o.maxCapture ?? DEFAULT_MAX_CAPTURE, o.watch ?? [/panicked/]);
  const stopTimeoutMs = o.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  const scheme = o.scheme ?? 'http';
  let unregisterCleanup = null;
  if (o.dataDir && o.ownsDataDir) {
    const dir = o.dataDir;
    unregisterCleanup = onExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
  }

  const p = {
    name: o.name,
    bin: o.bin,
    dataDir: o.dataDir,
    env: o.env ?? {},
    proc: null,
    host: '',
    port: 0,
    url: '',
    wsUrl: '',
    /** Number of launches so far (1 after start). */
    launches: 0,
    /** The command line of the current run. */
    args: [],
    /** { code, signal } of the last run once it exited, else null. */
    lastExit: null,

    get pid() {
      return this.proc?.pid;
    },

    get running() {
      return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
    },

    /** Captured stdout and stderr (stderr lines prefixed `[stderr] `), all runs, tail only. */
    output() {
      return capture.text;
    },

    /** Bytes of output over all runs. */
    outputBytes() {
      return capture.totalBytes;
    },

    /** Lines matching `re` over all runs (complete for patterns given in `watch`). */
    outputLines(re) {
      return capture.hits(re);
    },

    /** Resolves once `re` appears in output printed after this call (or already in the tail if `inTail`). */
    waitForOutput(re, { timeoutMs = 10_000, inTail = false } = {}) {
      if (inTail && re.test(capture.text)) return Promise.resolve(re.exec(capture.text));
      const procNow = this.proc;
      return new Promise((res, rej) => {
        let buf = '';
        const onData = (chunk) => {
          buf += chunk.toString('utf8');
          const m = re.exec(buf);
          if (m) done(null, m);
          else if (buf.length > 256 * 1024) buf = buf.slice(-4096);
        };
        const t = setTimeout(() => done(new Error(`${o.name}: ${re} not printed within ${timeoutMs} ms`)), timeoutMs);
        const done = (err, m) => {
          clearTimeout(t);
          procNow.stdout.off('data', onData);
          procNow.stderr.off('data', onData);
          if (err) rej(err);
          else res(m);
        };
        procNow.stdout.on('data', onData);
        procNow.stderr.on('data', onData);
      });
    },

    /** Resident set size of the current process in bytes (/proc/<pid>/status VmRSS). */
    rss() {
      return rssOf(this.pid);
    },

    /** Open file descriptors of the current process. */
    fds() {
      return fdCount(this.pid);
    },

    async _launch(ctx) {
      this.launches += 1;
      const args = o.args({ port: ctx?.port ?? 0, launch: this.launches });
      this.args = args;
      this.lastExit = null;
      const started = await launchOnce({
        name: o.name,
        bin: o.bin,
        args,
        env: this.env,
        cwd: o.cwd,
        ready,
        parseReady,
        startTimeoutMs: o.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
        capture,
      });
      this.proc = started.proc;
      this.proc.once('exit', (code, signal) => {
        this.lastExit = { code, signal };
      });
      if (started.port !== undefined) {
        this.host = started.host ?? '127.0.0.1';
        this.port = started.port;
        const h = hostForUrl(this.host);
        this.url = `${scheme}://${h}:${this.port}`;
        this.wsUrl = `${scheme === 'https' ? 'wss' : 'ws'}://${h}:${this.port}`;
      }
      return this;
    },

    /** Graceful stop: SIGTERM, then SIGKILL after stopTimeoutMs. */
    async stop() {
      const c = this.proc;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      c.kill('SIGTERM');
      if (!(await waitExit(c, stopTimeoutMs))) {
        c.kill('SIGKILL');
        await waitExit(c, stopTimeoutMs);
      }
    },

    /** Crash: SIGKILL, no chance to flush anything. */
    async kill9() {
      const c = this.proc;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      c.kill('SIGKILL');
      await waitExit(c, stopTimeoutMs);
    },

    /** Sends a signal to the current process (e.g. 'SIGSTOP' / 'SIGCONT'). */
    signal(sig) {
      if (this.running) this.proc.kill(sig);
    },

    /**
     * Starts the process again (stopping it first, gracefully, if it runs) with the same data
     * dir. With `samePort`, the previous port is passed to `args` (else url/wsUrl may change).
     */
    async restart({ samePort = false } = {}) {
      const port = this.port;
      await this.stop();
      return this._launch({ port: samePort ? port : 0 });
    },

    /** Stops the process and removes its data dir if this harness created it. Safe to call twice. */
    async destroy() {
      try {
        await this.stop();
      } finally {
        if (o.dataDir && o.ownsDataDir) rmSync(o.dataDir, { recursive: true, force: true });
        unregisterCleanup?.();
      }
    },
  };

  try {
    await p._launch({ port: 0 });
  } catch (e) {
    if (o.dataDir && o.ownsDataDir) rmSync(o.dataDir, { recursive: true, force: true });
    unregisterCleanup?.();
    throw e;
  }
  return p;
}
