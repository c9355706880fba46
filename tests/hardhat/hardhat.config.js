// A hardhat 2 project configured the way hardhat's docs show, with two things this test bed
// needs: the network under test comes from the environment (`run.mjs` starts it), and solc comes
// from npm (hardhat cannot download compilers on a machine without internet access).
require("@nomicfoundation/hardhat-ethers");
require("@nomicfoundation/hardhat-chai-matchers");
require("@nomicfoundation/hardhat-ignition-ethers");

const { extendProvider, subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");

const SOLC_VERSION = require("solc/package.json").version;

// Hardhat's compiler-resolution subtask, answered with the npm `solc` (solc-js) instead of a
// download from binaries.soliditylang.org.
subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args, _hre, runSuper) => {
  if (args.solcVersion !== SOLC_VERSION) return runSuper();
  const solc = require("solc");
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: args.solcVersion,
    longVersion: solc.version(),
  };
});

// Counts the transactions the suite sends, for the timing comparison with anvil (run.mjs).
extendProvider(async (provider) => require("./test/timing.js").countSends(provider));

const MNEMONIC = "test test test test test test test test test test test junk";

/** @type import('hardhat/config').HardhatUserConfig */
module.exports = {
  solidity: SOLC_VERSION,
  defaultNetwork: "devchain",
  networks: {
    devchain: {
      url: process.env.DEVCHAIN_RPC_URL ?? "http://127.0.0.1:8545",
      accounts: { mnemonic: MNEMONIC },
    },
  },
  mocha: {
    timeout: 60_000,
    rootHooks: require("./test/timing.js").rootHooks,
  },
};
