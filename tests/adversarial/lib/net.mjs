// Client plumbing for attacks from chosen loopback source addresses. On Linux all of
// 127.0.0.0/8 is loopback, so attack traffic comes from 127.0.0.2, 127.0.0.3, … and counts
// against those clients' quotas, while the probe speaks from 127.0.0.1.

import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

let nextAttacker = 2;

/** A fresh attacker source address (127.0.0.2, 127.0.0.3, …), one per call. */
export function attackerAddress() {
  if (nextAttacker > 254) throw new Error('out of attacker addresses');
  return `127.0.0.${nextAttacker++}`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One HTTP request on its own connection (or through `agent`). `path`, when given, is sent
 * verbatim as the request target (a URL would normalize `//`, `/./`, `..` and escapes away).
 * `maxBytes` stops reading (and destroys the connection) once that much body arrived.
 * @returns {Promise<{status, headers, text, json, ms, bytes}>}
 */
export function httpRequest(url, { method = 'POST', headers = {}, body, from, agent, timeoutMs = 120_000, path, maxBytes } = {}) {
  const u = new URL(url);
  const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: path ?? u.pathname + u.search,
        method,
        localAddress: agent ? undefined : from,
        agent: agent ?? false,
        headers: {
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks = [];
        let bytes = 0;
        let finished = false;
        const done = (truncated) => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json, ms: performance.now() - started, bytes, truncated });
        };
        res.on('data', (c) => {
          bytes += c.length;
          if (maxBytes === undefined || bytes <= maxBytes) chunks.push(c);
          else {
            done(true);
            req.destroy();
          }
        });
        res.on('end', () => done(false));
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(payload);
  });
}

let rpcId = 1;

/** A JSON-RPC request object. */
export const call = (method, params = []) => ({ jsonrpc: '2.0', id: rpcId++, method, params });

/** One JSON-RPC call from `from`; the whole response ({result} or {error}) plus HTTP details. */
export async function rpcFrom(url, method, params, opts = {}) {
  return postRpc(url, JSON.stringify(call(method, params)), opts);
}

/** POSTs an already serialized JSON-RPC request (big bodies: serialize once, send many times). */
export async function postRpc(url, body, opts = {}) {
  const r = await httpRequest(url, { ...opts, body });
  if (r.status !== 200 || !r.json) throw new Error(`HTTP ${r.status}: ${r.text.slice(0, 300)}`);
  return { ...r.json, ms: r.ms };
}

/** A batch from `from`; { responses (in request order, matched by id), status, ms }. */
export async function batchFrom(url, calls, opts = {}) {
  const r = await httpRequest(url, { ...opts, body: JSON.stringify(calls) });
  if (r.status !== 200 || !Array.isArray(r.json)) throw new Error(`batch: HTTP ${r.status}: ${r.text.slice(0, 300)}`);
  const byId = new Map(r.json.map((x) => [x.id, x]));
  return { responses: calls.map((c) => byId.get(c.id)), raw: r.json, status: r.status, ms: r.ms };
}

/** A keep-alive agent whose connections come from `from`. */
export function agentFrom(from, { maxSockets = 64 } = {}) {
  return new http.Agent({ keepAlive: true, maxSockets, localAddress: from });
}

// ------------------------------------------------------------------ WebSocket

/**
 * Opens a WebSocket from `from`. Resolves { ok: true, ws } once open, or
 * { ok: false, status, body } when the upgrade is answered with an HTTP error, or
 * { ok: false, error } on a network error.
 */
export function openWs(url, { from, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { localAddress: from, handshakeTimeout: timeoutMs, perMessageDeflate: false });
    let settled = false;
    const settle = (v) => {
      if (!settled) {
        settled = true;
        resolve(v);
      }
    };
    ws.once('open', () => settle({ ok: true, ws }));
    ws.once('unexpected-response', (req, res) => {
      // Close the connection once the refusal is read, as a WebSocket client does (without an
      // agent, Node would otherwise leave the socket open after the response ends).
      const socket = res.socket ?? req.socket;
      const chunks = [];
      const done = () => {
        settle({ ok: false, status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') });
        req.destroy();
        socket?.destroy();
      };
      res.on('data', (c) => chunks.push(c));
      res.on('end', done);
      res.on('error', done);
    });
    ws.on('error', (e) => settle({ ok: false, error: e.code ?? e.message }));
  });
}

/** An openWs() outcome as text (without the socket). */
export const describeWs = (o) => JSON.stringify({ ...o, ws: undefined });

/** JSON-RPC over an open WebSocket: request(method, params) → response; notifications go to onNotification. */
export function wsRpc(ws, { onNotification } = {}) {
  const pending = new Map();
  ws.on('message', (data) => {
    let msg;
    try {
      msg = JSON.parse(data.toString('utf8'));
    } catch {
      return;
    }
    for (const m of Array.isArray(msg) ? msg : [msg]) {
      if (m.id !== undefined && pending.has(m.id)) {
        pending.get(m.id)(m);
        pending.delete(m.id);
      } else if (m.method === 'eth_subscription') {
        onNotification?.(m.params);
      }
    }
  });
  return {
    request(method, params = [], timeoutMs = 30_000) {
      const c = call(method, params);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          pending.delete(c.id);
          reject(new Error(`${method}: no answer over WebSocket within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(c.id, (m) => {
          clearTimeout(t);
          resolve(m);
        });
        ws.send(JSON.stringify(c));
      });
    },
  };
}

// ------------------------------------------------------------------ raw TCP

/** A raw TCP connection from `from`; resolves the socket once connected. */
export function connectFrom(url, { from, timeoutMs = 10_000 } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port), localAddress: from });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect from ${from}: timed out`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/**
 * Watches a raw socket: collects what the server sends and when it closes.
 * Returns { data() (string so far), closed: Promise<{ at, error, hadData }> }.
 */
export function watchSocket(s) {
  const chunks = [];
  let error = null;
  const closed = new Promise((resolve) => {
    s.on('data', (c) => chunks.push(c));
    s.on('error', (e) => (error = e.code ?? e.message));
    s.once('close', () => resolve({ at: performance.now(), error, data: Buffer.concat(chunks).toString('utf8') }));
  });
  return { data: () => Buffer.concat(chunks).toString('utf8'), closed };
}

/** Runs `fn(i)` for i in [0, n) with at most `limit` at a time; results in order. */
export async function pool(n, limit, fn) {
  const out = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  return out;
}
