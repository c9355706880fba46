// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import "src/TxnChain.sol";

/// @title PrivateBallot
/// @notice A private ballot for a confidential TxnChain contract (deploy it with an enveloped
///         transaction): members vote for one of `options` choices, nobody — not the chair,
///         not the node operator, not other members — sees an individual vote, and the tally
///         is published through the public-log precompile when voting ends.
/// @dev What stays public: the member list, who voted and when (senders of transactions to
///      this contract), and the final tally. `vote` costs the same gas whatever the choice:
///      every tally slot is made non-zero at construction, so each vote turns one non-zero
///      slot into another. `end` needs a block whose timestamp is at or after `closesAt`, and
///      `vote` one strictly before it.
contract PrivateBallot {
    /// Emitted privately to the voter, inside its sealed result.
    event Voted(address indexed voter, uint256 option);
    /// Published when voting ends (a public log of this contract): votes per option.
    event Tallied(uint256[] counts);

    error NotMember();
    error AlreadyVoted();
    error NoSuchOption(uint256 options);
    error VotingClosed();
    error VotingOpen();
    error AlreadyEnded();
    error SenderRequired();

    address public immutable chair;
    uint256 public immutable closesAt;
    uint256 public immutable options;

    mapping(address => bool) public isMember;
    uint256 public members;
    /// Votes per option, each stored plus one (so no vote writes a zero slot).
    uint256[] private tally;
    /// Each member's choice plus one (0: has not voted).
    mapping(address => uint256) private choice;

    bool public ended;
    uint256[] private result;

    constructor(address[] memory members_, uint256 options_, uint256 closesAt_) {
        require(options_ >= 2 && options_ <= 32, "2 to 32 options");
        chair = msg.sender;
        options = options_;
        closesAt = closesAt_;
        for (uint256 i = 0; i < members_.length; i++) {
            if (!isMember[members_[i]]) {
                isMember[members_[i]] = true;
                members += 1;
            }
        }
        for (uint256 i = 0; i < options_; i++) tally.push(1);
    }

    /// Votes for `option` (0-based). Once per member, before `closesAt`.
    function vote(uint256 option) external {
        if (block.timestamp >= closesAt) revert VotingClosed();
        if (!isMember[msg.sender]) revert NotMember();
        if (choice[msg.sender] != 0) revert AlreadyVoted();
        if (option >= options) revert NoSuchOption(options);
        choice[msg.sender] = option + 1;
        tally[option] += 1;
        emit Voted(msg.sender, option);
    }

    /// The caller's own vote: (voted, option). Needs a signed query.
    function myVote() external view returns (bool, uint256) {
        if (msg.sender == address(0)) revert SenderRequired();
        uint256 c = choice[msg.sender];
        return c == 0 ? (false, 0) : (true, c - 1);
    }

    /// Ends voting and publishes the tally. Anyone may call it once `closesAt` has passed.
    function end() external {
        if (block.timestamp < closesAt) revert VotingOpen();
        if (ended) revert AlreadyEnded();
        ended = true;
        for (uint256 i = 0; i < options; i++) result.push(tally[i] - 1);
        TxnChain.publish1(Tallied.selector, abi.encode(result));
    }

    /// The published tally (reverts before the end).
    function results() external view returns (uint256[] memory) {
        if (!ended) revert VotingOpen();
        return result;
    }
}
