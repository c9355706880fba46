// The honest client, on its own thread (its own event loop, so the attack's work in the main
// thread does not show up as probe latency): POST eth_blockNumber every `intervalMs` from
// `localAddress` over one keep-alive connection, and record each latency.
//
// Messages in: { cmd: 'phase', name } tags the following samples; { cmd: 'stop' } ends and
// answers { samples, sockets }. Message out: { ready: true } after the first good answer.

import { parentPort, workerData } from 'node:worker_threads';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const { url, localAddress, intervalMs, timeoutMs } = workerData;
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress });
const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] });

let phase = 'warmup';
let stopping = false;
let readySent = false;
const samples = []; // [phase, startedAtMs, latencyMs, error|null]
const seenSockets = new WeakSet();
let sockets = 0;

function once() {
  return new Promise((resolve) => {
    const started = performance.now();
    const startedPhase = phase;
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      samples.push([startedPhase, started, performance.now() - started, err]);
      if (!err && !readySent) {
        readySent = true;
        parentPort.postMessage({ ready: true });
      }
      resolve();
    };
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname || '/',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) return finish(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`);
          let json;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            return finish('unparsable response');
          }
          if (json.error) return finish(`RPC error ${json.error.code}: ${json.error.message}`);
          if (typeof json.result !== 'string' || !/^0x[0-9a-f]+$/.test(json.result)) return finish(`bad result ${JSON.stringify(json.result)}`);
          finish(null);
        });
        res.on('error', (e) => finish(`response error: ${e.message}`));
      },
    );
    req.on('socket', (s) => {
      if (!seenSockets.has(s)) {
        seenSockets.add(s);
        sockets += 1;
      }
    });
    const timer = setTimeout(() => {
      finish(`no answer within ${timeoutMs} ms`);
      req.destroy();
    }, timeoutMs);
    req.on('error', (e) => finish(`request error: ${e.code ?? e.message}`));
    req.end(body);
  });
}

async function loop() {
  let next = performance.now();
  while (!stopping) {
    await once();
    next += intervalMs;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else next = performance.now(); // fell behind: do not burst to catch up
  }
}

const running = loop();

parentPort.on('message', async (msg) => {
  if (msg.cmd === 'phase') phase = msg.name;
  if (msg.cmd === 'stop') {
    stopping = true;
    await running;
    agent.destroy();
    parentPort.postMessage({ samples, sockets });
  }
});
