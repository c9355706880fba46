// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// The account ledger of Caliper's "simple" benchmark: open an account with an amount,
/// query it, move money between two accounts.
contract Simple {
    mapping(string => int256) private accounts;

    function open(string calldata account, int256 amount) external {
        accounts[account] = amount;
    }

    function query(string calldata account) external view returns (int256) {
        return accounts[account];
    }

    function transfer(string calldata from, string calldata to, int256 amount) external {
        accounts[from] -= amount;
        accounts[to] += amount;
    }
}
