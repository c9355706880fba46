// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.34;

/// @title Multicall3 (TxnChain implementation)
/// @notice Batches calls into one. This is TxnChain's own implementation of the public
///         Multicall3 interface (same function selectors, argument and return types and
///         revert strings), so that tools which expect Multicall3 at
///         0xcA11bde05977b3631167028862bE2a173976CA11 — viem's `multicall`, ethers'
///         multicall providers, wagmi — work unchanged.
/// @dev Predeployed in dev genesis: the node writes `deployedBytecode` of the artifact at
///      the address above. The contract has no storage and no constructor, so nothing
///      else has to be written at genesis.
///
///      Behaviour (per the interface specification):
///      - `aggregate`: every call must succeed, otherwise the whole call reverts with
///        "Multicall3: call failed"; returns the block number and each call's return data.
///      - `tryAggregate(requireSuccess, …)`: as `aggregate` when `requireSuccess` is true;
///        otherwise failures are reported as `Result(false, revertData)`.
///      - `tryBlockAndAggregate` / `blockAndAggregate`: the same, also returning the
///        current block number and the hash of the current block number (`blockhash` of
///        the current block is 0 inside the EVM, exactly as in the reference behaviour).
///      - `aggregate3`: per-call `allowFailure`.
///      - `aggregate3Value`: per-call `allowFailure` and `value`; the sum of the values must
///        equal `msg.value` ("Multicall3: value mismatch").
///      - block/chain getters return the corresponding EVM context values.
contract Multicall3 {
    struct Call {
        address target;
        bytes callData;
    }

    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }

    struct Call3Value {
        address target;
        bool allowFailure;
        uint256 value;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    string private constant CALL_FAILED = "Multicall3: call failed";
    string private constant VALUE_MISMATCH = "Multicall3: value mismatch";

    // ------------------------------------------------------------------ aggregation

    /// @notice Calls every target; reverts if any call fails.
    function aggregate(Call[] calldata calls)
        public
        payable
        returns (uint256 blockNumber, bytes[] memory returnData)
    {
        blockNumber = block.number;
        uint256 n = calls.length;
        returnData = new bytes[](n);
        for (uint256 i = 0; i < n; ++i) {
            Call calldata c = calls[i];
            (bool ok, bytes memory ret) = c.target.call(c.callData);
            require(ok, CALL_FAILED);
            returnData[i] = ret;
        }
    }

    /// @notice Calls every target; if `requireSuccess`, reverts when any call fails.
    function tryAggregate(bool requireSuccess, Call[] calldata calls)
        public
        payable
        returns (Result[] memory returnData)
    {
        uint256 n = calls.length;
        returnData = new Result[](n);
        for (uint256 i = 0; i < n; ++i) {
            Call calldata c = calls[i];
            (bool ok, bytes memory ret) = c.target.call(c.callData);
            if (requireSuccess) require(ok, CALL_FAILED);
            returnData[i] = Result(ok, ret);
        }
    }

    /// @notice `tryAggregate` plus the block number and block hash.
    function tryBlockAndAggregate(bool requireSuccess, Call[] calldata calls)
        public
        payable
        returns (uint256 blockNumber, bytes32 blockHash, Result[] memory returnData)
    {
        blockNumber = block.number;
        blockHash = blockhash(block.number);
        returnData = tryAggregate(requireSuccess, calls);
    }

    /// @notice `tryBlockAndAggregate(true, calls)`.
    function blockAndAggregate(Call[] calldata calls)
        public
        payable
        returns (uint256 blockNumber, bytes32 blockHash, Result[] memory returnData)
    {
        (blockNumber, blockHash, returnData) = tryBlockAndAggregate(true, calls);
    }

    /// @notice Calls every target; a failing call reverts the batch unless its
    ///         `allowFailure` is set.
    function aggregate3(Call3[] calldata calls) public payable returns (Result[] memory returnData) {
        uint256 n = calls.length;
        returnData = new Result[](n);
        for (uint256 i = 0; i < n; ++i) {
            Call3 calldata c = calls[i];
            (bool ok, bytes memory ret) = c.target.call(c.callData);
            if (!ok && !c.allowFailure) _revertCallFailed();
            returnData[i] = Result(ok, ret);
        }
    }

    /// @notice Like `aggregate3`, with ETH sent to each target; `msg.value` must equal the
    ///         sum of the per-call values.
    function aggregate3Value(Call3Value[] calldata calls)
        public
        payable
        returns (Result[] memory returnData)
    {
        uint256 n = calls.length;
        returnData = new Result[](n);
        uint256 total = 0;
        for (uint256 i = 0; i < n; ++i) {
            Call3Value calldata c = calls[i];
            uint256 v = c.value;
            // The sum cannot realistically overflow (it is bounded by the ETH supply for
            // the calls that succeed), but keep the check so a crafted input reverts cleanly.
            total += v;
            (bool ok, bytes memory ret) = c.target.call{value: v}(c.callData);
            if (!ok && !c.allowFailure) _revertCallFailed();
            returnData[i] = Result(ok, ret);
        }
        require(msg.value == total, VALUE_MISMATCH);
    }

    // ------------------------------------------------------------------ block / chain getters

    function getBlockHash(uint256 blockNumber) public view returns (bytes32 blockHash) {
        blockHash = blockhash(blockNumber);
    }

    function getBlockNumber() public view returns (uint256 blockNumber) {
        blockNumber = block.number;
    }

    function getCurrentBlockCoinbase() public view returns (address coinbase) {
        coinbase = block.coinbase;
    }

    /// @notice After the merge the DIFFICULTY opcode returns PREVRANDAO.
    function getCurrentBlockDifficulty() public view returns (uint256 difficulty) {
        difficulty = block.prevrandao;
    }

    function getCurrentBlockGasLimit() public view returns (uint256 gaslimit) {
        gaslimit = block.gaslimit;
    }

    function getCurrentBlockTimestamp() public view returns (uint256 timestamp) {
        timestamp = block.timestamp;
    }

    function getEthBalance(address addr) public view returns (uint256 balance) {
        balance = addr.balance;
    }

    /// @notice Hash of the previous block (0 at block 0).
    function getLastBlockHash() public view returns (bytes32 blockHash) {
        if (block.number == 0) return bytes32(0);
        unchecked {
            blockHash = blockhash(block.number - 1);
        }
    }

    function getBasefee() public view returns (uint256 basefee) {
        basefee = block.basefee;
    }

    function getChainId() public view returns (uint256 chainid) {
        chainid = block.chainid;
    }

    // ------------------------------------------------------------------ internals

    function _revertCallFailed() private pure {
        revert(CALL_FAILED);
    }
}
