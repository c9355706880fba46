// The Token's tests in the style of hardhat's tutorial: a fixture through loadFixture,
// chai-matchers for events, balance changes and reverts, and an ignition module deployed from
// a test.
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");
const { expect } = require("chai");
const { ethers, ignition } = require("hardhat");
const TokenModule = require("../ignition/modules/Token");

const SUPPLY = 1_000_000n;

describe("Token", function () {
  async function deployTokenFixture() {
    const [owner, alice, bob] = await ethers.getSigners();
    const token = await ethers.deployContract("Token", [SUPPLY]);
    await token.waitForDeployment();
    return { token, owner, alice, bob };
  }

  describe("Deployment", function () {
    it("sets the owner and gives it the whole supply", async function () {
      const { token, owner } = await loadFixture(deployTokenFixture);
      expect(await token.owner()).to.equal(owner.address);
      expect(await token.totalSupply()).to.equal(SUPPLY);
      expect(await token.balanceOf(owner.address)).to.equal(SUPPLY);
    });

    it("emits the mint as a Transfer from the zero address", async function () {
      const { token, owner } = await loadFixture(deployTokenFixture);
      await expect(token.deploymentTransaction())
        .to.emit(token, "Transfer")
        .withArgs(ethers.ZeroAddress, owner.address, SUPPLY);
    });
  });

  describe("Transactions", function () {
    it("emits Transfer with the transfer's arguments", async function () {
      const { token, owner, alice } = await loadFixture(deployTokenFixture);
      await expect(token.transfer(alice.address, 50))
        .to.emit(token, "Transfer")
        .withArgs(owner.address, alice.address, 50);
    });

    it("moves the balances of both sides", async function () {
      const { token, owner, alice, bob } = await loadFixture(deployTokenFixture);
      await expect(token.transfer(alice.address, 50)).to.changeTokenBalances(token, [owner, alice], [-50, 50]);
      await expect(token.connect(alice).transfer(bob.address, 20)).to.changeTokenBalances(
        token,
        [alice, bob],
        [-20, 20],
      );
    });

    it("shows the new balance as soon as the awaited transfer returns", async function () {
      const { token, alice } = await loadFixture(deployTokenFixture);
      for (let i = 1; i <= 5; i++) {
        await token.transfer(alice.address, 7);
        expect(await token.balanceOf(alice.address)).to.equal(7n * BigInt(i));
      }
    });

    it("has the receipt when the hash comes back", async function () {
      const { token, alice } = await loadFixture(deployTokenFixture);
      const tx = await token.transfer(alice.address, 1);
      const receipt = await ethers.provider.getTransactionReceipt(tx.hash);
      expect(receipt).to.not.equal(null);
      expect(receipt.status).to.equal(1);
    });

    it("reverts with the reason when the sender lacks tokens, and changes nothing", async function () {
      const { token, owner, alice } = await loadFixture(deployTokenFixture);
      await expect(token.connect(alice).transfer(owner.address, 1)).to.be.revertedWith("Not enough tokens");
      expect(await token.balanceOf(owner.address)).to.equal(SUPPLY);
      expect(await token.balanceOf(alice.address)).to.equal(0);
    });

    it("reverts with a custom error for the zero address", async function () {
      const { token } = await loadFixture(deployTokenFixture);
      await expect(token.transfer(ethers.ZeroAddress, 1)).to.be.revertedWithCustomError(token, "ZeroAddress");
    });

    it("starts every test from the fixture's state", async function () {
      const { token, owner, alice } = await loadFixture(deployTokenFixture);
      // Earlier tests transferred from the owner; loadFixture reverted them.
      expect(await token.balanceOf(owner.address)).to.equal(SUPPLY);
      expect(await token.balanceOf(alice.address)).to.equal(0);
    });
  });

  describe("Ignition", function () {
    it("deploys the module with a parameter", async function () {
      const { token } = await ignition.deploy(TokenModule, { parameters: { TokenModule: { supply: 42n } } });
      const [owner] = await ethers.getSigners();
      expect(await token.totalSupply()).to.equal(42n);
      expect(await token.balanceOf(owner.address)).to.equal(42n);
    });
  });
});
