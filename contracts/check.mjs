#!/usr/bin/env node
// Rebuilds every artifact in memory with the pinned solc and fails if any committed
// file under contracts/artifacts/ differs, is missing, or is stale. Also asserts the
// Stablecoin storage layout that the node writes at genesis (see contracts/README.md).
//
// Usage: node check.mjs        (exit 0 = artifacts are reproducible and up to date)

import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildArtifacts, ARTIFACTS_DIR } from './build.mjs';

/**
 * The Stablecoin storage layout genesis depends on. Changing it is a breaking change for
 * the node's genesis writer: update the node, contracts/README.md and this table together.
 */
const STABLECOIN_LAYOUT = [
  { label: 'owner', slot: '0', offset: 0, type: 'address' },
  { label: 'totalSupply', slot: '1', offset: 0, type: 'uint256' },
  { label: 'paused', slot: '2', offset: 0, type: 'bool' },
  { label: '_balances', slot: '3', offset: 0, type: 'mapping(address => uint256)' },
  { label: '_allowed', slot: '4', offset: 0, type: 'mapping(address => mapping(address => uint256))' },
  { label: '_minters', slot: '5', offset: 0, type: 'mapping(address => bool)' },
  { label: '_blacklisted', slot: '6', offset: 0, type: 'mapping(address => bool)' },
  { label: '_permitNonces', slot: '7', offset: 0, type: 'mapping(address => uint256)' },
  { label: '_authorizationStates', slot: '8', offset: 0, type: 'mapping(address => mapping(bytes32 => bool))' },
];

/** Describes the first difference between two texts, with a few lines of context. */
function describeDiff(expected, actual) {
  const e = expected.split('\n');
  const a = actual.split('\n');
  const n = Math.max(e.length, a.length);
  for (let i = 0; i < n; i++) {
    if (e[i] !== a[i]) {
      const clip = (s) => (s === undefined ? '<end of file>' : s.length > 160 ? s.slice(0, 160) + '…' : s);
      return `first difference at line ${i + 1}:\n    committed: ${clip(a[i])}\n    rebuilt:   ${clip(e[i])}`;
    }
  }
  return 'texts differ only in trailing content';
}

function fieldDiffs(expectedText, actualText) {
  let exp, act;
  try {
    exp = JSON.parse(expectedText);
    act = JSON.parse(actualText);
  } catch {
    return ['committed file is not valid JSON'];
  }
  const keys = new Set([...Object.keys(exp), ...Object.keys(act)]);
  return [...keys].filter((k) => JSON.stringify(exp[k]) !== JSON.stringify(act[k]));
}

function main() {
  const problems = [];
  const rebuilt = buildArtifacts();
  const committed = existsSync(ARTIFACTS_DIR) ? readdirSync(ARTIFACTS_DIR).filter((f) => f.endsWith('.json')) : [];

  for (const [f, text] of rebuilt) {
    const path = join(ARTIFACTS_DIR, f);
    if (!existsSync(path)) {
      problems.push(`artifacts/${f} is missing (run \`npm run build\` in contracts/)`);
      continue;
    }
    const onDisk = readFileSync(path, 'utf8');
    if (onDisk !== text) {
      problems.push(
        `artifacts/${f} differs from a fresh build; differing fields: ${fieldDiffs(text, onDisk).join(', ') || '(formatting only)'}\n  ` +
          describeDiff(text, onDisk),
      );
    }
  }
  for (const f of committed) {
    if (!rebuilt.has(f)) problems.push(`artifacts/${f} has no source contract (stale; run \`npm run build\`)`);
  }

  const stable = rebuilt.get('Stablecoin.json');
  if (!stable) {
    problems.push('Stablecoin artifact was not produced');
  } else {
    const layout = JSON.parse(stable).storageLayout;
    if (JSON.stringify(layout) !== JSON.stringify(STABLECOIN_LAYOUT.map((x) => sortObj(x)))) {
      problems.push(
        'Stablecoin storage layout changed; genesis writes these slots (contracts/README.md):\n  expected ' +
          JSON.stringify(STABLECOIN_LAYOUT) +
          '\n  got      ' +
          JSON.stringify(layout),
      );
    }
  }

  if (problems.length) {
    console.error(`contracts check FAILED (${problems.length} problem${problems.length > 1 ? 's' : ''}):`);
    for (const p of problems) console.error('- ' + p);
    console.error('If the source change is intended, run `npm run build` in contracts/ and commit the artifacts.');
    process.exit(1);
  }
  console.log(`contracts check OK: ${rebuilt.size} artifacts match a fresh build (${[...rebuilt.keys()].join(', ')})`);
}

function sortObj(o) {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

try {
  main();
} catch (e) {
  console.error('contracts check FAILED: ' + e.message);
  process.exit(1);
}
