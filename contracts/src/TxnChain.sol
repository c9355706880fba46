// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title TxnChain
/// @notice What a confidential contract can ask of a TxnChain node
///         (specs/confidential.md §3).
/// @dev A confidential contract's own events are private: they reach only the sender of an
///      enveloped transaction, inside its sealed result, and never appear in receipts, bloom
///      filters, eth_getLogs or subscriptions. To publish an event, call `publish`: the node
///      turns it into a public log whose address is the calling contract.
library TxnChain {
    /// The public-log precompile.
    address internal constant PUBLIC_LOG = address(0xc01);

    /// The precompile refused: more than 4 topics, a static context, or out of gas.
    error PublicLogFailed();

    /// Emits a public log with `topics` (at most 4) and `data` from this contract.
    function publish(bytes32[] memory topics, bytes memory data) internal {
        (bool ok, ) = PUBLIC_LOG.call(abi.encode(topics, data));
        if (!ok) revert PublicLogFailed();
    }

    /// `publish` with one topic (usually the event signature hash).
    function publish1(bytes32 topic0, bytes memory data) internal {
        bytes32[] memory topics = new bytes32[](1);
        topics[0] = topic0;
        publish(topics, data);
    }

    /// Burns gas until this call has used `target` gas since `startGas` (read `gasleft()` on
    /// entry), so that its public `gasUsed` does not tell which path it took. What remains is
    /// the granularity of one loop iteration (a few tens of gas). A path that needs more than
    /// `target` is not padded: pick `target` above the worst case.
    function padGas(uint256 startGas, uint256 target) internal view {
        uint256 stop = startGas > target ? startGas - target : 0;
        while (gasleft() > stop) {}
    }

    /// `publish` with two topics.
    function publish2(bytes32 topic0, bytes32 topic1, bytes memory data) internal {
        bytes32[] memory topics = new bytes32[](2);
        topics[0] = topic0;
        topics[1] = topic1;
        publish(topics, data);
    }
}

/// @notice A test contract for the public-log precompile: `announce` emits a private event
///         and publishes a public one; `tooManyTopics` asks for five topics (refused).
contract PublicLogProbe {
    event Secret(uint256 value);
    event Announced(uint256 indexed round, bytes data);

    uint256 public rounds;

    function announce(uint256 secret, bytes calldata note) external {
        emit Secret(secret);
        rounds += 1;
        TxnChain.publish2(Announced.selector, bytes32(rounds), abi.encode(note));
    }

    function tooManyTopics() external {
        bytes32[] memory topics = new bytes32[](5);
        TxnChain.publish(topics, "");
    }
}
