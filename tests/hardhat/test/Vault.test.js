// The Vault's tests in the style of hardhat's sample project (Lock): time.latest / increaseTo,
// revertedWith, emit with anyValue, changeEtherBalances.
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");
const { anyValue } = require("@nomicfoundation/hardhat-chai-matchers/withArgs");
const { expect } = require("chai");
const { ethers } = require("hardhat");

const ONE_YEAR = 365 * 24 * 60 * 60;
const ONE_GWEI = 1_000_000_000n;

describe("Vault", function () {
  async function deployVaultFixture() {
    const unlockTime = (await time.latest()) + ONE_YEAR;
    const [owner, other] = await ethers.getSigners();
    const vault = await ethers.deployContract("Vault", [unlockTime], { value: ONE_GWEI });
    await vault.waitForDeployment();
    return { vault, unlockTime, owner, other };
  }

  describe("Deployment", function () {
    it("sets the unlock time and the owner", async function () {
      const { vault, unlockTime, owner } = await loadFixture(deployVaultFixture);
      expect(await vault.unlockTime()).to.equal(unlockTime);
      expect(await vault.owner()).to.equal(owner.address);
    });

    it("holds the ether it was deployed with", async function () {
      const { vault } = await loadFixture(deployVaultFixture);
      expect(await ethers.provider.getBalance(vault.target)).to.equal(ONE_GWEI);
    });

    it("refuses an unlock time that is not in the future", async function () {
      const latest = await time.latest();
      await expect(ethers.deployContract("Vault", [latest], { value: 1 })).to.be.revertedWith(
        "Unlock time should be in the future",
      );
    });
  });

  describe("Withdrawals", function () {
    it("refuses before the unlock time", async function () {
      const { vault } = await loadFixture(deployVaultFixture);
      await expect(vault.withdraw()).to.be.revertedWith("You can't withdraw yet");
    });

    it("refuses another account once unlocked", async function () {
      const { vault, unlockTime, other } = await loadFixture(deployVaultFixture);
      await time.increaseTo(unlockTime);
      await expect(vault.connect(other).withdraw()).to.be.revertedWith("You aren't the owner");
    });

    it("pays the owner once unlocked, with a Withdrawal event", async function () {
      const { vault, unlockTime, owner } = await loadFixture(deployVaultFixture);
      await time.increaseTo(unlockTime);
      await expect(vault.withdraw()).to.emit(vault, "Withdrawal").withArgs(ONE_GWEI, anyValue);
    });

    it("moves the ether from the vault to the owner", async function () {
      const { vault, unlockTime, owner } = await loadFixture(deployVaultFixture);
      await time.increaseTo(unlockTime);
      await expect(vault.withdraw()).to.changeEtherBalances([owner, vault], [ONE_GWEI, -ONE_GWEI]);
    });

    it("is locked again in the next test: loadFixture rewinds the clock too", async function () {
      const { vault, unlockTime } = await loadFixture(deployVaultFixture);
      expect(await time.latest()).to.be.lessThan(unlockTime);
      await expect(vault.withdraw()).to.be.revertedWith("You can't withdraw yet");
    });
  });
});
