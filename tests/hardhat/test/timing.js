// Mocha root hooks: how long the suite took and how many transactions it sent, written to
// $HARDHAT_TIMING_FILE (if set) for `run.mjs --compare-anvil`. Sends are counted by a provider
// wrapper (hardhat's `extendProvider`) registered in hardhat.config.js.
const fs = require("node:fs");

const SEND_METHODS = new Set(["eth_sendRawTransaction", "eth_sendTransaction"]);

const counters = { sends: 0, sendMs: 0 };

/** Wraps hardhat's provider to count transaction sends and the time their answers took. */
function countSends(provider) {
  const { ProviderWrapper } = require("hardhat/plugins");
  class SendCounter extends ProviderWrapper {
    async request(args) {
      if (!SEND_METHODS.has(args.method)) return this._wrappedProvider.request(args);
      const started = performance.now();
      const result = await this._wrappedProvider.request(args);
      counters.sends += 1;
      counters.sendMs += performance.now() - started;
      return result;
    }
  }
  return new SendCounter(provider);
}

let started;

const rootHooks = {
  beforeAll() {
    started = performance.now();
  },
  afterAll() {
    const file = process.env.HARDHAT_TIMING_FILE;
    if (!file) return;
    const suiteMs = performance.now() - started;
    fs.writeFileSync(file, JSON.stringify({ suiteMs, ...counters }));
  },
};

module.exports = { rootHooks, countSends };
