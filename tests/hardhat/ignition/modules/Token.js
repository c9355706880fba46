// The Token deployed with ignition's default configuration (`hardhat ignition deploy`).
const { buildModule } = require("@nomicfoundation/hardhat-ignition/modules");

module.exports = buildModule("TokenModule", (m) => {
  const supply = m.getParameter("supply", 1_000_000n);
  const token = m.contract("Token", [supply]);
  return { token };
});
