// The paying honest client, on its own thread: every `intervalMs`, one whole x402 purchase
// through a paywall from `localAddress` over one keep-alive connection — GET (402 with
// PAYMENT-REQUIRED), sign an EIP-3009 authorization with viem, GET again with
// PAYMENT-SIGNATURE (200 with a successful PAYMENT-RESPONSE: the settlement committed) — and
// record how long the whole purchase took.
//
// Messages as in probe-worker.mjs: { cmd: 'phase', name }, { cmd: 'stop' } → { samples, sockets };
// { ready: true } after the first good purchase.

import { parentPort, workerData } from 'node:worker_threads';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { privateKeyToAccount } from 'viem/accounts';
import { makePayment, unb64 } from './eip3009.mjs';

const { url, path, privateKey, localAddress, intervalMs, timeoutMs } = workerData;
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress });
const account = privateKeyToAccount(privateKey);

let phase = 'warmup';
let stopping = false;
let readySent = false;
const samples = []; // [phase, startedAtMs, latencyMs, error|null, settlement transaction|null]
const seenSockets = new WeakSet();
let sockets = 0;

function get(headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: target.hostname, port: target.port, path, method: 'GET', agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('socket', (s) => {
      if (!seenSockets.has(s)) {
        seenSockets.add(s);
        sockets += 1;
      }
    });
    req.on('error', reject);
    req.end();
  });
}

async function purchase() {
  const unpaid = await get({});
  if (unpaid.status !== 402) throw new Error(`unpaid: HTTP ${unpaid.status}: ${unpaid.text.slice(0, 200)}`);
  const header = unpaid.headers['payment-required'];
  if (!header) throw new Error('unpaid: 402 without PAYMENT-REQUIRED');
  const { header: signature } = await makePayment(account, unb64(header));
  const paid = await get({ 'payment-signature': signature });
  if (paid.status !== 200) {
    const why = paid.headers['payment-required'] ? JSON.stringify(unb64(paid.headers['payment-required']).error ?? '') : '';
    throw new Error(`paid: HTTP ${paid.status} ${why}: ${paid.text.slice(0, 200)}`);
  }
  const receipt = paid.headers['payment-response'] ? unb64(paid.headers['payment-response']) : null;
  if (!receipt?.success) throw new Error(`paid: PAYMENT-RESPONSE ${JSON.stringify(receipt)}`);
  return receipt.transaction;
}

async function once() {
  const started = performance.now();
  const startedPhase = phase;
  let timer;
  let err = null;
  let tx = null;
  try {
    tx = await Promise.race([
      purchase(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no purchase within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    err = e.message;
  } finally {
    clearTimeout(timer);
  }
  samples.push([startedPhase, started, performance.now() - started, err, tx]);
  if (!err && !readySent) {
    readySent = true;
    parentPort.postMessage({ ready: true });
  }
}

async function loop() {
  let next = performance.now();
  while (!stopping) {
    await once();
    next += intervalMs;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else next = performance.now();
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
