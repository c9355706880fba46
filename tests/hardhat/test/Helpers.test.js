// hardhat-network-helpers and hardhat-ethers' dev-node features beyond fixtures and time:
// mine, setBalance, setCode, setStorageAt, setNonce, snapshots, impersonation, automine.
const helpers = require("@nomicfoundation/hardhat-network-helpers");
const { expect } = require("chai");
const { ethers, network } = require("hardhat");

describe("Network helpers", function () {
  it("mines blocks, with the timestamp interval asked for", async function () {
    const before = await helpers.time.latestBlock();
    const t0 = await helpers.time.latest();
    await helpers.mine(100, { interval: 15 });
    expect(await helpers.time.latestBlock()).to.equal(before + 100);
    expect(await helpers.time.latest()).to.be.greaterThanOrEqual(t0 + 99 * 15);
  });

  it("moves the clock forward with time.increase", async function () {
    const t0 = await helpers.time.latest();
    await helpers.time.increase(3600);
    expect(await helpers.time.latest()).to.be.greaterThanOrEqual(t0 + 3600);
  });

  it("sets the next block's timestamp", async function () {
    const target = (await helpers.time.latest()) + 1000;
    await helpers.time.setNextBlockTimestamp(target);
    await helpers.mine();
    expect(await helpers.time.latest()).to.equal(target);
  });

  it("sets balances, nonces, code and storage", async function () {
    const who = ethers.Wallet.createRandom().address;
    await helpers.setBalance(who, 123n * 10n ** 18n);
    expect(await ethers.provider.getBalance(who)).to.equal(123n * 10n ** 18n);
    await helpers.setNonce(who, 7);
    expect(await ethers.provider.getTransactionCount(who)).to.equal(7);
    // PUSH1 0x2a PUSH1 0 MSTORE PUSH1 0x20 PUSH1 0 RETURN: returns 42
    await helpers.setCode(who, "0x602a60005260206000f3");
    expect(await ethers.provider.call({ to: who })).to.equal(ethers.toBeHex(42, 32));
    await helpers.setStorageAt(who, 3, 99);
    expect(await ethers.provider.getStorage(who, 3)).to.equal(ethers.toBeHex(99, 32));
  });

  it("takes and restores snapshots", async function () {
    const who = ethers.Wallet.createRandom().address;
    const snapshot = await helpers.takeSnapshot();
    const [owner] = await ethers.getSigners();
    await owner.sendTransaction({ to: who, value: 5n });
    expect(await ethers.provider.getBalance(who)).to.equal(5n);
    await snapshot.restore();
    expect(await ethers.provider.getBalance(who)).to.equal(0n);
  });

  it("sends from an impersonated account without its key", async function () {
    const whale = ethers.Wallet.createRandom().address;
    const to = ethers.Wallet.createRandom().address;
    await helpers.setBalance(whale, 10n ** 18n);
    await helpers.impersonateAccount(whale);
    // Hardhat's own provider signs locally for the configured mnemonic and refuses other
    // senders, so the impersonated sender goes through a plain JSON-RPC provider, whose
    // eth_sendTransaction the node signs for (as on anvil).
    const remote = new ethers.JsonRpcProvider(network.config.url, undefined, { staticNetwork: true });
    const signer = await remote.getSigner(whale);
    const tx = await signer.sendTransaction({ to, value: 1000n });
    const receipt = await tx.wait();
    expect(receipt.from).to.equal(whale);
    expect(await ethers.provider.getBalance(to)).to.equal(1000n);
    await helpers.stopImpersonatingAccount(whale);
    await expect(signer.sendTransaction({ to, value: 1n })).to.be.rejected;
    remote.destroy();
  });

  it("reports automine and, when it is off, mines on request", async function () {
    expect(await network.provider.send("hardhat_getAutomine")).to.equal(true);
    await network.provider.send("evm_setAutomine", [false]);
    try {
      const [owner] = await ethers.getSigners();
      const to = ethers.Wallet.createRandom().address;
      const tx = await owner.sendTransaction({ to, value: 1n });
      expect(await ethers.provider.getTransactionReceipt(tx.hash)).to.equal(null);
      await helpers.mine();
      const receipt = await ethers.provider.getTransactionReceipt(tx.hash);
      expect(receipt.status).to.equal(1);
    } finally {
      await network.provider.send("evm_setAutomine", [true]);
    }
    expect(await network.provider.send("hardhat_getAutomine")).to.equal(true);
  });
});
