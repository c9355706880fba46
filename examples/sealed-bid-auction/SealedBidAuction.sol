// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import "src/TxnChain.sol";

/// @title SealedBidAuction
/// @notice A sealed-bid second-price (Vickrey) auction for a confidential TxnChain contract
///         (deploy it with an enveloped transaction). Every bidder locks the same public
///         deposit, so the value of a bid transaction says nothing about the bid; the bid
///         itself travels in the envelope and lives in storage nobody can read. At the close
///         the contract publishes the winner and the price — the second-highest bid, or the
///         reserve — through the public-log precompile; losing bids are never revealed.
/// @dev What stays public: who bid (senders of transactions to this contract), how many, the
///      deposit and reserve, and the outcome. Gas: `bid` costs the same whatever the amount
///      (every bid writes two fresh slots and bumps a non-zero counter); `close` walks all bids and pads
///      its gas to a fixed amount per bidder, so its gasUsed does not reveal how often the
///      running maximum changed. `close` needs a block whose timestamp is at or after
///      `closesAt`, and `bid` one strictly before it: no single call or transaction can both
///      bid and learn the outcome.
contract SealedBidAuction {
    /// Emitted privately to the bidder, inside its sealed result.
    event BidPlaced(address indexed bidder, uint256 amount);
    /// Published at the close (a public log of this contract).
    event AuctionClosed(address indexed winner, uint256 price, uint256 bidders);

    error BiddingClosed();
    error BiddingOpen();
    error AlreadyBid();
    error WrongDeposit(uint256 expected);
    error BadAmount(uint256 max);
    error AlreadyClosed();
    error NothingToWithdraw();
    error SenderRequired();

    /// Gas `close` is padded to per bidder (above the worst case of one loop step).
    uint256 internal constant CLOSE_GAS_PER_BIDDER = 40_000;
    /// Gas `close` is padded to beyond the loop (payouts and the public log).
    uint256 internal constant CLOSE_GAS_BASE = 160_000;

    address public immutable seller;
    uint256 public immutable closesAt;
    uint256 public immutable deposit;
    uint256 public immutable reserve;

    /// Bidders by arrival, from index 1; `slots` is the bid count plus one, so the first bid
    /// does not write a zero slot (its gas would differ from every later bid's).
    mapping(uint256 => address) private bidderAt;
    uint256 private slots = 1;
    mapping(address => uint256) private bids;
    mapping(address => uint256) private owed;

    bool public closed;
    address public winner;
    uint256 public price;

    /// @param closesAt_ the first block timestamp at which bidding is over.
    /// @param deposit_ what every bidder locks (the highest possible bid).
    /// @param reserve_ the lowest price the seller accepts.
    constructor(uint256 closesAt_, uint256 deposit_, uint256 reserve_) {
        require(reserve_ <= deposit_, "reserve above deposit");
        seller = msg.sender;
        closesAt = closesAt_;
        deposit = deposit_;
        reserve = reserve_;
    }

    /// Bids `amount` (at most the deposit), locking exactly `deposit` wei. One bid per account.
    function bid(uint256 amount) external payable {
        if (block.timestamp >= closesAt) revert BiddingClosed();
        if (msg.value != deposit) revert WrongDeposit(deposit);
        if (amount == 0 || amount > deposit) revert BadAmount(deposit);
        if (bids[msg.sender] != 0) revert AlreadyBid();
        bids[msg.sender] = amount;
        bidderAt[slots] = msg.sender;
        slots += 1;
        emit BidPlaced(msg.sender, amount);
    }

    /// The caller's own bid (0 if none). Needs a signed query: an unsigned call runs as
    /// sender zero and is refused.
    function myBid() external view returns (uint256) {
        if (msg.sender == address(0)) revert SenderRequired();
        return bids[msg.sender];
    }

    /// Number of bids so far (public anyway: bids are transactions to this contract).
    function bidders() external view returns (uint256) {
        return slots - 1;
    }

    /// Closes the auction: the highest bid at or above the reserve wins (the earliest on a
    /// tie) and pays the second-highest bid or the reserve, whichever is higher. Anyone may
    /// call it once `closesAt` has passed.
    function close() external {
        uint256 start = gasleft();
        if (block.timestamp < closesAt) revert BiddingOpen();
        if (closed) revert AlreadyClosed();
        closed = true;
        uint256 n = slots - 1;
        address best;
        uint256 first;
        uint256 second;
        for (uint256 i = 0; i < n; i++) {
            address b = bidderAt[i + 1];
            uint256 a = bids[b];
            owed[b] = deposit;
            if (a > first) {
                second = first;
                first = a;
                best = b;
            } else if (a > second) {
                second = a;
            }
        }
        if (first >= reserve && best != address(0)) {
            uint256 p = second > reserve ? second : reserve;
            winner = best;
            price = p;
            owed[best] = deposit - p;
            owed[seller] += p;
        }
        TxnChain.publish2(
            AuctionClosed.selector,
            bytes32(uint256(uint160(winner))),
            abi.encode(price, n)
        );
        TxnChain.padGas(start, CLOSE_GAS_BASE + CLOSE_GAS_PER_BIDDER * n);
    }

    /// After the close: a loser takes back the deposit, the winner the deposit minus the
    /// price, the seller the price.
    function withdraw() external {
        if (!closed) revert BiddingOpen();
        uint256 amount = owed[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        owed[msg.sender] = 0;
        (bool ok, ) = msg.sender.call{value: amount}("");
        require(ok, "transfer failed");
    }
}
