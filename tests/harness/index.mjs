// The shared test harness: real txnchain processes (dev, node, paywall, facilitator), a tiny
// upstream HTTP service, /proc readings, and cleanup at exit. Node builtins only; see README.md.

export {
  startProcess,
  waitExit,
  onExitCleanup,
  DEFAULT_START_TIMEOUT_MS,
  DEFAULT_STOP_TIMEOUT_MS,
  DEFAULT_MAX_CAPTURE,
} from './process.mjs';
export {
  HARNESS_DIR,
  REPO_ROOT,
  START_TIMEOUT_MS,
  LISTENING_RE,
  txnchainBin,
  startNode,
  startDev,
  startGenesisNode,
  startPaywall,
  startFacilitator,
  runTxnchain,
} from './txnchain.mjs';
export { startUpstream, defaultUpstreamHandler } from './upstream.mjs';
export { procStatus, rssOf, peakRssOf, threadsOf, fdCount, sampleRss, cpuSecondsOf, MB } from './proc.mjs';
