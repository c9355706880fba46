// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.34;

/// @title TestToken
/// @notice A minimal ERC-20 used by the interop test suite (tests/interop). It is NOT
///         meant for production: `mint` is open to anyone so that tests can create
///         balances without a privileged account.
/// @dev Besides the ERC-20 surface it has helpers that exercise node behaviour:
///      - `failWithReason` / `failWithCustomError` / `failWithPanic`: revert data of the
///        three standard shapes (Error(string), a custom error, Panic(uint256));
///      - `emitMany(n)`: emits `n` `Ping` events (log filters, bloom, pagination);
///      - `setSlot` / `getSlot`: a plain storage mapping for historical-state tests.
contract TestToken {
    string public name;
    string public symbol;
    uint8 public constant decimals = 18;
    uint256 public totalSupply;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    /// @notice Free-form storage for `eth_getStorageAt` / historical `eth_call` tests.
    mapping(uint256 => uint256) public slots;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event Ping(uint256 indexed index, address indexed sender, bytes32 data);
    event SlotSet(uint256 indexed key, uint256 value);

    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    error Unauthorized(address caller);

    constructor(string memory name_, string memory symbol_, uint256 initialSupply) {
        name = name_;
        symbol = symbol_;
        _mint(msg.sender, initialSupply);
    }

    // ---------------------------------------------------------------- ERC-20

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= value, "ERC20: insufficient allowance");
            unchecked {
                allowance[from][msg.sender] = allowed - value;
            }
        }
        _transfer(from, to, value);
        return true;
    }

    /// @notice Open mint, for tests only.
    function mint(address to, uint256 value) external {
        _mint(to, value);
    }

    // ---------------------------------------------------------------- revert helpers

    /// @notice Always reverts with `Error("TestToken: always fails")`.
    function failWithReason() external pure {
        revert("TestToken: always fails");
    }

    /// @notice Always reverts with the custom error `InsufficientBalance(caller, 0, needed)`.
    function failWithCustomError(uint256 needed) external view {
        revert InsufficientBalance(msg.sender, 0, needed);
    }

    /// @notice Always reverts with `Panic(0x12)` (division by zero).
    function failWithPanic(uint256 zero) external pure returns (uint256) {
        return 1 / zero;
    }

    /// @notice Reverts with no data at all.
    function failEmpty() external pure {
        revert();
    }

    // ---------------------------------------------------------------- log / state helpers

    /// @notice Emits `n` `Ping` events, `Ping(i, msg.sender, keccak256(i))` for i in [0, n).
    function emitMany(uint256 n) external {
        for (uint256 i = 0; i < n; ++i) {
            emit Ping(i, msg.sender, keccak256(abi.encode(i)));
        }
    }

    function setSlot(uint256 key, uint256 value) external {
        slots[key] = value;
        emit SlotSet(key, value);
    }

    function getSlot(uint256 key) external view returns (uint256) {
        return slots[key];
    }

    // ---------------------------------------------------------------- internals

    function _transfer(address from, address to, uint256 value) internal {
        require(to != address(0), "ERC20: transfer to the zero address");
        uint256 bal = balanceOf[from];
        if (bal < value) revert InsufficientBalance(from, bal, value);
        unchecked {
            balanceOf[from] = bal - value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }

    function _mint(address to, uint256 value) internal {
        require(to != address(0), "ERC20: mint to the zero address");
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }
}
