// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// Holds the ether it is deployed with until `unlockTime`, then lets its owner withdraw it: the
/// shape of hardhat's sample project, whose tests move the chain's clock.
contract Vault {
    uint256 public immutable unlockTime;
    address payable public immutable owner;

    event Withdrawal(uint256 amount, uint256 when);

    constructor(uint256 unlockAt) payable {
        require(block.timestamp < unlockAt, "Unlock time should be in the future");
        unlockTime = unlockAt;
        owner = payable(msg.sender);
    }

    function withdraw() external {
        require(block.timestamp >= unlockTime, "You can't withdraw yet");
        require(msg.sender == owner, "You aren't the owner");
        uint256 amount = address(this).balance;
        emit Withdrawal(amount, block.timestamp);
        (bool sent, ) = owner.call{value: amount}("");
        require(sent, "Transfer failed");
    }
}
