#!/usr/bin/env node
// Compiles every contracts/src/*.sol and examples/*/*.sol with the pinned solc-js (offline, no compiler
// download) through the standard JSON interface and writes one artifact per concrete
// contract (and per interface named in ABI_ONLY) to contracts/artifacts/<ContractName>.json:
//
//   { contractName, sourceName, abi, bytecode, deployedBytecode,
//     compiler: { version, settings }, storageLayout }
//
// The output is deterministic: sources are read in sorted order, the settings are fixed
// below, nested object keys are sorted, arrays keep the compiler's order, two-space
// indentation and a trailing newline. `node check.mjs` rebuilds in memory and compares.
//
// Usage: node build.mjs            (writes artifacts/)
//        import { buildArtifacts } from './build.mjs'   (returns Map<fileName, text>)

import { readFileSync, readdirSync, writeFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const solc = require('solc');

export const ROOT = dirname(fileURLToPath(import.meta.url));

/** Interfaces whose ABI is an artifact: native system contracts with no EVM code. */
export const ABI_ONLY = new Set(['IPixieDex']);
export const SRC_DIR = join(ROOT, 'src');
export const ARTIFACTS_DIR = join(ROOT, 'artifacts');
/** The worked examples (../examples/<name>/*.sol), compiled with the same settings. */
export const EXAMPLES_DIR = join(ROOT, '..', 'examples');

/** The exact compiler version pinned in package.json (devDependencies.solc). */
export const PINNED_SOLC = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).devDependencies.solc;

/**
 * Compiler settings. Changing anything here changes the bytecode of the genesis
 * predeploys (Multicall3, Stablecoin): do it deliberately and rebuild.
 * - evmVersion "prague": the hard fork TxnChain pins in dev genesis.
 * - metadata.bytecodeHash "none": no IPFS/Swarm hash of the metadata in the bytecode,
 *   so comments, whitespace and line endings do not change the bytecode; the CBOR
 *   trailer still records the solc version.
 */
export const SETTINGS = Object.freeze({
  evmVersion: 'prague',
  optimizer: { enabled: true, runs: 200 },
  metadata: { bytecodeHash: 'none' },
  viaIR: false,
  remappings: [],
});

const OUTPUT_SELECTION = {
  '*': {
    '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'storageLayout'],
  },
};

/** Deterministic JSON: object keys sorted recursively (except `topOrder` at the top level). */
export function stableStringify(value, topOrder = null) {
  const sortKeys = (v, order) => {
    if (Array.isArray(v)) return v.map((x) => sortKeys(x, null));
    if (v && typeof v === 'object') {
      const keys = Object.keys(v);
      const ordered = order
        ? [...order.filter((k) => keys.includes(k)), ...keys.filter((k) => !order.includes(k)).sort()]
        : keys.sort();
      const out = {};
      for (const k of ordered) out[k] = sortKeys(v[k], null);
      return out;
    }
    return v;
  };
  return JSON.stringify(sortKeys(value, topOrder), null, 2) + '\n';
}

const ARTIFACT_KEY_ORDER = [
  'contractName',
  'sourceName',
  'abi',
  'bytecode',
  'deployedBytecode',
  'compiler',
  'storageLayout',
];

/** Source unit names (`src/<file>`, `examples/<dir>/<file>`) and their paths, sorted. */
function listSources() {
  const out = readdirSync(SRC_DIR)
    .filter((f) => f.endsWith('.sol'))
    .map((f) => [`src/${f}`, join(SRC_DIR, f)]);
  if (existsSync(EXAMPLES_DIR)) {
    for (const d of readdirSync(EXAMPLES_DIR, { withFileTypes: true })) {
      if (!d.isDirectory()) continue;
      for (const f of readdirSync(join(EXAMPLES_DIR, d.name))) {
        if (f.endsWith('.sol')) out.push([`examples/${d.name}/${f}`, join(EXAMPLES_DIR, d.name, f)]);
      }
    }
  }
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function simplifyStorageLayout(layout) {
  if (!layout || !Array.isArray(layout.storage)) return [];
  return layout.storage.map((s) => ({
    label: s.label,
    slot: s.slot,
    offset: s.offset,
    type: layout.types?.[s.type]?.label ?? s.type,
  }));
}

/**
 * Compiles all sources and returns Map<artifactFileName, artifactText>.
 * Throws with the compiler's messages on any error.
 */
export function buildArtifacts() {
  const version = solc.version();
  if (!version.startsWith(PINNED_SOLC + '+')) {
    throw new Error(
      `installed solc is ${version} but package.json pins ${PINNED_SOLC}; run \`npm ci\` in contracts/`,
    );
  }
  const files = listSources();
  if (files.length === 0) throw new Error(`no .sol files in ${SRC_DIR}`);
  const sources = {};
  for (const [name, path] of files) {
    // Normalise line endings so a checkout with CRLF compiles to the same output.
    sources[name] = { content: readFileSync(path, 'utf8').replace(/\r\n/g, '\n') };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: { ...SETTINGS, outputSelection: OUTPUT_SELECTION },
  };
  const output = JSON.parse(
    solc.compile(JSON.stringify(input), {
      import: (p) => ({ error: `import ${p}: only source units of this build (src/…, examples/…) can be imported` }),
    }),
  );
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  const warnings = (output.errors ?? []).filter((e) => e.severity !== 'error');
  for (const w of warnings) process.stderr.write(`solc ${w.severity}: ${w.formattedMessage ?? w.message}\n`);
  if (errors.length) {
    throw new Error('solc failed:\n' + errors.map((e) => e.formattedMessage ?? e.message).join('\n'));
  }

  const artifacts = new Map();
  for (const sourceName of Object.keys(output.contracts ?? {}).sort()) {
    const contracts = output.contracts[sourceName];
    for (const contractName of Object.keys(contracts).sort()) {
      const c = contracts[contractName];
      const bytecode = c.evm?.bytecode?.object ?? '';
      // Interfaces and abstract contracts have no bytecode; the ones in ABI_ONLY (the ABIs of
      // native system contracts) still get an artifact, with empty bytecode, for their ABI.
      if (!bytecode && !ABI_ONLY.has(contractName)) continue;
      const fileName = `${contractName}.json`;
      if (artifacts.has(fileName)) throw new Error(`duplicate contract name ${contractName}`);
      const artifact = {
        contractName,
        sourceName,
        abi: c.abi,
        bytecode: '0x' + bytecode,
        deployedBytecode: '0x' + (c.evm?.deployedBytecode?.object ?? ''),
        compiler: { version, settings: { ...SETTINGS } },
        storageLayout: simplifyStorageLayout(c.storageLayout),
      };
      artifacts.set(fileName, stableStringify(artifact, ARTIFACT_KEY_ORDER));
    }
  }
  return artifacts;
}

function main() {
  const artifacts = buildArtifacts();
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  // Remove artifacts of contracts that no longer exist.
  if (existsSync(ARTIFACTS_DIR)) {
    for (const f of readdirSync(ARTIFACTS_DIR)) {
      if (f.endsWith('.json') && !artifacts.has(f)) {
        rmSync(join(ARTIFACTS_DIR, f));
        console.log(`removed stale artifacts/${f}`);
      }
    }
  }
  for (const [f, text] of artifacts) {
    writeFileSync(join(ARTIFACTS_DIR, f), text);
    console.log(`wrote artifacts/${f}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main();
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
