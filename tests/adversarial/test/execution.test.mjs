// EVM work on demand: endless-loop eth_call batches (gas cap, 5 s EVM deadline, 30 s batch
// budget, per-client queue of the call workers), memory-recording traces (trace size budget),
// and the admin-only debug/txpool methods of `txnchain node`.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { parseEther, toHex } from 'viem';
import { startTarget, startNodeTarget, freshAccount, randomAddress, CHAIN_ID, BASE_FEE } from '../lib/env.mjs';
import { underAttack, verdict, assertRpcError, tally, summary } from '../lib/attack.mjs';
import { attackerAddress, rpcFrom, batchFrom, call, pool, httpRequest } from '../lib/net.mjs';

/** `JUMPDEST PUSH1 0 JUMP`: loops until out of gas or stopped. */
const LOOP_CODE = '0x5b600056';
/** `JUMPDEST MSIZE MLOAD POP PUSH1 0 JUMP`: grows memory by one word per turn, forever. */
const MEMORY_LOOP_CODE = '0x5b595150600056';
const LOOP_AT = '0x00000000000000000000000000000000000c0de0';
const GAS = '0x2faf080'; // 50,000,000: the RPC gas cap
const BATCH_BUDGET_MS = 30_000;
/** How late a batch answer may be beyond its budget (the running calls' EVM stop, encoding, transport). */
const BATCH_SLACK_MS = 2_000;

const loopCall = (from = randomAddress()) => call('eth_call', [{ from, to: LOOP_AT, gas: GAS }, 'latest', { [LOOP_AT]: { code: LOOP_CODE } }]);

/** The answers an endless-loop eth_call may get: EVM deadline, batch budget spent, queue full. */
function assertLoopAnswer(a, what) {
  assert.ok(a?.error, `${what}: expected an error, got ${JSON.stringify(a)?.slice(0, 200)}`);
  const { code, message } = a.error;
  const ok =
    (code === -32000 && message.startsWith('execution aborted (timeout = 10ms)')) ||
    (code === -32002 && message.startsWith('request timed out')) ||
    (code === -32005 && message.startsWith('too many requests queued (limit 64 per client)'));
  assert.ok(ok, `${what}: unexpected answer ${JSON.stringify(a.error)}`);
}

after(() => {
  for (const line of summary()) console.log(`# ${line}`);
});

describe('txnchain dev', () => {
  let node;

  before(async () => {
    // A 50M-gas loop runs ~55 ms in a release build here: a 10 ms EVM timeout makes every
    // endless-loop call hit the deadline inside the interpreter (the default 5 s cannot be
    // reached within the 50M gas cap by a loop this cheap per gas).
    node = await startTarget({ extraArgs: ['--rpc-evm-timeout', '10ms'] });
  });

  after(async () => {
    await node?.destroy();
  });

  it('a batch of 1,000 endless-loop eth_calls: timeouts, answered within the 30 s batch budget', async (t) => {
    const from = attackerAddress();
    const run = await underAttack(t, node, async () => {
      // One on its own first: the EVM deadline, with geth's message.
      const s0 = performance.now();
      const single = await rpcFrom(node.url, 'eth_call', loopCall().params, { from });
      const singleMs = performance.now() - s0;
      // An honest eth_estimateGas from the probe's address while the batch occupies the workers.
      const batchP = batchFrom(node.url, Array.from({ length: 1000 }, () => loopCall()), { from });
      await new Promise((r) => setTimeout(r, 2000));
      const e0 = performance.now();
      const estimate = await rpcFrom(node.url, 'eth_estimateGas', [{ from: randomAddress(), to: randomAddress(), value: '0x0' }], { from: '127.0.0.1' });
      const estimateMs = performance.now() - e0;
      const batch = await batchP;
      return { single, singleMs, batch, estimate, estimateMs };
    });
    const r = run.result;
    if (r) t.diagnostic(`single: ${JSON.stringify(r.single.error)} in ${r.singleMs.toFixed(0)} ms; batch answered in ${r.batch.ms.toFixed(0)} ms: ${JSON.stringify(tally(r.batch.responses))}; honest eth_estimateGas ${r.estimateMs.toFixed(0)} ms`);
    verdict(run, ({ single, singleMs, batch, estimate, estimateMs }) => {
      assertRpcError(single, -32000, 'execution aborted (timeout = 10ms)', 'single endless-loop eth_call');
      assert.ok(singleMs < 1_000, `single call answered after ${singleMs.toFixed(0)} ms (EVM timeout 10 ms)`);
      assert.equal(batch.responses.length, 1000);
      for (const [i, a] of batch.responses.entries()) assertLoopAnswer(a, `batch call ${i}`);
      assert.ok(batch.responses.some((a) => a.error.code === -32000), 'some calls ran into the EVM deadline');
      assert.ok(batch.ms <= BATCH_BUDGET_MS + BATCH_SLACK_MS, `batch answered after ${batch.ms.toFixed(0)} ms (budget ${BATCH_BUDGET_MS} ms)`);
      assert.equal(estimate.result, '0x5208', `honest eth_estimateGas: ${JSON.stringify(estimate)}`);
      // Fair workers: the honest call waits for at most one running job per worker (≤ 5 s).
      assert.ok(estimateMs < 11_000, `honest eth_estimateGas took ${estimateMs.toFixed(0)} ms`);
    });
  });

  it('4 such batches in parallel from one client: timeouts or queue-full, none beyond the budget', async (t) => {
    const from = attackerAddress();
    const run = await underAttack(t, node, async () =>
      Promise.all(Array.from({ length: 4 }, () => batchFrom(node.url, Array.from({ length: 1000 }, () => loopCall()), { from }))),
    );
    if (run.result) t.diagnostic(run.result.map((b) => `${b.ms.toFixed(0)} ms: ${JSON.stringify(tally(b.responses))}`).join(' ; '));
    verdict(run, (batches) => {
      for (const [j, b] of batches.entries()) {
        assert.equal(b.responses.length, 1000);
        for (const [i, a] of b.responses.entries()) assertLoopAnswer(a, `batch ${j} call ${i}`);
        assert.ok(b.ms <= BATCH_BUDGET_MS + BATCH_SLACK_MS, `batch ${j} answered after ${b.ms.toFixed(0)} ms (budget ${BATCH_BUDGET_MS} ms)`);
      }
    });
  });

  it('debug_traceCall, struct logger with memory, on a memory-growing loop: trace too large, RSS bounded', async (t) => {
    const from = attackerAddress();
    const traceCall = () =>
      call('debug_traceCall', [
        { from: randomAddress(), to: LOOP_AT, gas: GAS },
        'latest',
        { enableMemory: true, stateOverrides: { [LOOP_AT]: { code: MEMORY_LOOP_CODE } } },
      ]);
    const run = await underAttack(t, node, async () =>
      // 40 traces, 4 at a time; the raw text, to measure a trace that does come back.
      pool(40, 4, async () => {
        const r = await httpRequest(node.url, { from, body: JSON.stringify(traceCall()) });
        return { status: r.status, bytes: r.text.length, error: r.json?.error, hasResult: r.json?.result !== undefined, ms: r.ms };
      }),
    );
    if (run.result) {
      const kinds = [...new Set(run.result.map((r) => `${r.status} ${r.bytes} B ${JSON.stringify(r.error ?? 'result')}`))];
      t.diagnostic(`${run.result.length} traces in ${Math.max(...run.result.map((r) => r.ms)).toFixed(0)} ms at most: ${kinds.join(' ; ')}`);
    }
    verdict(run, (answers) => {
      let tooLarge = 0;
      for (const [i, a] of answers.entries()) {
        assert.equal(a.status, 200, `trace ${i}: HTTP ${a.status}`);
        if (a.hasResult) {
          assert.ok(a.bytes <= 25_000_000, `trace ${i}: a ${a.bytes}-byte trace came back (budget 25 MB)`);
        } else if (a.error?.message?.startsWith('execution aborted (timeout = ')) {
          // On a loaded machine the 10 ms EVM timeout can fire before the trace reaches the
          // size budget: the other bound, equally clear.
          assertRpcError({ error: a.error }, -32000, 'execution aborted (timeout = 10ms)', `trace ${i}`);
        } else {
          assertRpcError({ error: a.error }, -32000, 'trace too large: ', `trace ${i}`);
          tooLarge += 1;
        }
      }
      // The size budget itself must be what stops some of them.
      assert.ok(tooLarge > 0, 'no trace was stopped by the size budget');
    });
  });
});

describe('txnchain node --genesis', () => {
  let node;
  const key = freshAccount();

  before(async () => {
    node = await startNodeTarget({
      config: { chainId: CHAIN_ID },
      gasLimit: toHex(30_000_000),
      baseFeePerGas: toHex(BASE_FEE),
      alloc: { [key.address]: { balance: toHex(parseEther('100')) } },
    });
  });

  after(async () => {
    await node?.destroy();
  });

  it('debug_traceCall / debug_traceTransaction / txpool_content: -32601 on the public port, served on --admin-listen', async (t) => {
    const from = attackerAddress();
    const traceParams = [{ from: randomAddress(), to: LOOP_AT, gas: GAS }, 'latest', { enableMemory: true, stateOverrides: { [LOOP_AT]: { code: MEMORY_LOOP_CODE } } }];
    const run = await underAttack(
      t,
      node,
      async () => {
        // 300 admin calls from the attacker on the public port, 16 at a time.
        const methods = [
          ['debug_traceCall', traceParams],
          ['debug_traceTransaction', ['0x' + '00'.repeat(32)]],
          ['txpool_content', []],
        ];
        const answers = await pool(300, 16, (i) => {
          const [m, p] = methods[i % 3];
          return rpcFrom(node.url, m, p, { from }).then((a) => ({ method: m, ...a }));
        });
        const admin = node.adminUrl;
        const adminTrace = await rpcFrom(admin, 'debug_traceCall', [{ from: randomAddress(), to: randomAddress(), value: '0x0' }, 'latest', { tracer: 'callTracer' }]);
        const adminPool = await rpcFrom(admin, 'txpool_content', []);
        const status = await rpcFrom(node.url, 'txpool_status', [], { from });
        return { answers, admin, adminTrace, adminPool, status };
      },
      { transferFrom: key },
    );
    verdict(run, ({ answers, admin, adminTrace, adminPool, status }) => {
      for (const a of answers) assertRpcError(a, -32601, `the method ${a.method} does not exist/is not available`, `${a.method} on the public port`);
      assert.ok(admin, `no "Admin listening on" in the output`);
      assert.equal(adminTrace.result?.type, 'CALL', `debug_traceCall on the admin port: ${JSON.stringify(adminTrace).slice(0, 300)}`);
      assert.ok(adminPool.result && 'pending' in adminPool.result, `txpool_content on the admin port: ${JSON.stringify(adminPool).slice(0, 300)}`);
      assert.ok(status.result && 'pending' in status.result, `txpool_status stays public: ${JSON.stringify(status)}`);
    });
  });
});
