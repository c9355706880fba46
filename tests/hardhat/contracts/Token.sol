// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// A minimal fixed-supply token: the shape of the contract hardhat's tutorial tests.
contract Token {
    string public constant name = "Hardhat Test Token";
    string public constant symbol = "HTT";
    uint256 public immutable totalSupply;
    address public immutable owner;

    mapping(address => uint256) private balances;

    event Transfer(address indexed from, address indexed to, uint256 value);

    error ZeroAddress();

    constructor(uint256 supply) {
        totalSupply = supply;
        owner = msg.sender;
        balances[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 amount) external {
        if (to == address(0)) revert ZeroAddress();
        require(balances[msg.sender] >= amount, "Not enough tokens");
        balances[msg.sender] -= amount;
        balances[to] += amount;
        emit Transfer(msg.sender, to, amount);
    }

    function balanceOf(address account) external view returns (uint256) {
        return balances[account];
    }
}
