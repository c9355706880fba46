// A tiny upstream HTTP service (the thing a paywall sells), in process: counts hits, records
// requests, and lets a test swap the handler. Node builtins only.
//
//   const up = await startUpstream();            // GET /fail → 500, /slow?ms=N → waits, else JSON
//   up.url; up.hits.count; up.requests; up.setHandler((req, res) => …); await up.close();

import { createServer } from 'node:http';

const MAX_RECORDED = 1000;

/** The default behaviour: `/fail…` → 500, `/slow?ms=N` → 200 after N ms, anything else → 200 JSON echoing the path. */
export function defaultUpstreamHandler(req, res) {
  const url = new URL(req.url, 'http://upstream');
  if (url.pathname.startsWith('/fail')) {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end('{"error":"boom"}');
    return;
  }
  const reply = () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ report: 42, path: req.url, method: req.method }));
  };
  if (url.pathname.startsWith('/slow')) {
    setTimeout(reply, Number(url.searchParams.get('ms') ?? 1000));
    return;
  }
  reply();
}

/**
 * Starts the upstream on `host:port` (default 127.0.0.1, a free port).
 * @param {object} [o]
 * @param {(req, res) => void} [o.handler]
 * @param {string} [o.host]
 * @param {number} [o.port]
 */
export function startUpstream(o = {}) {
  let handler = o.handler ?? defaultUpstreamHandler;
  const hits = { count: 0 };
  const requests = [];
  const sockets = new Set();
  const server = createServer((req, res) => {
    hits.count += 1;
    if (requests.length < MAX_RECORDED) requests.push({ method: req.method, url: req.url, headers: req.headers, at: Date.now() });
    handler(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => {
      const { address, port } = server.address();
      const host = address.includes(':') ? `[${address}]` : address;
      resolve({
        server,
        host: address,
        port,
        url: `http://${host}:${port}`,
        hits,
        requests,
        setHandler(h) {
          handler = h ?? defaultUpstreamHandler;
        },
        /** Closes the server and every open connection. */
        close() {
          for (const s of sockets) s.destroy();
          return new Promise((r) => server.close(() => r()));
        },
      });
    });
  });
}
