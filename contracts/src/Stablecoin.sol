// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.34;

/// @dev ERC-1271 (signature validation by contract accounts).
interface IERC1271 {
    function isValidSignature(bytes32 digest, bytes memory signature) external view returns (bytes4);
}

/// @title Stablecoin — TxnChain USD (tUSD)
/// @notice A USDC-compatible (FiatToken v2.2-style) stablecoin: ERC-20, EIP-2612 `permit`,
///         EIP-3009 transfer/receive/cancel with authorization (v,r,s and `bytes signature`
///         forms), EIP-5267 `eip712Domain()`, a minter role, pause and a blocklist. Revert
///         strings follow FiatToken so that payment software (x402 facilitators) can map
///         them to reason codes.
///
/// @dev GENESIS SYSTEM CONTRACT. The node places `deployedBytecode` at a fixed address in
///      genesis `alloc`; constructors never run there, so this contract has NO constructor,
///      NO immutables and NO state initialised in declarations. Name, symbol, decimals,
///      currency and EIP-712 version are compile-time constants; the EIP-712 domain
///      separator is computed from `block.chainid` and `address(this)` at call time, so
///      the same code is correct under any `--chain-id` and at any address.
///
///      STORAGE LAYOUT (stable; genesis writes these slots; also in contracts/README.md).
///      All values are 32-byte big-endian words; an address is right-aligned (left-padded
///      with zeros); a bool is 0 or 1. "map(k) at slot p" means the value for key k lives at
///      keccak256(abi.encode(k, p)) — k left-padded to 32 bytes, then p as uint256.
///
///        slot 0  owner            address  admin: pause, blocklist, minters, ownership
///        slot 1  totalSupply      uint256  must equal the sum of all balances
///        slot 2  paused           bool
///        slot 3  balanceOf        mapping(address => uint256)
///        slot 4  allowance        mapping(address owner => mapping(address spender => uint256))
///                                 value at keccak256(abi.encode(spender, keccak256(abi.encode(owner, 4))))
///        slot 5  minters          mapping(address => bool)   1 = may mint and burn
///        slot 6  blacklisted      mapping(address => bool)
///        slot 7  nonces           mapping(address => uint256) EIP-2612 permit nonces
///        slot 8  authorizationStates mapping(address authorizer => mapping(bytes32 nonce => bool))
///
///      Dev genesis: owner = dev account #0; minters[#0] = 1; balanceOf[each dev account] =
///      1_000_000 * 10**6; totalSupply = the sum. `contracts/check.mjs` asserts this layout
///      against the compiler's storage layout, so it cannot drift silently.
///
///      Roles: the owner holds FiatToken's pauser, blacklister and masterMinter duties
///      (one admin key keeps genesis simple); minters mint to anyone and burn their own
///      balance, without a per-minter allowance.
contract Stablecoin {
    // ------------------------------------------------------------------ constants

    string public constant name = "TxnChain USD";
    string public constant symbol = "tUSD";
    uint8 public constant decimals = 6;
    string public constant currency = "USD";
    /// @notice EIP-712 domain version.
    string public constant version = "1";

    bytes32 public constant EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 public constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    /// @dev = 0x7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267
    bytes32 public constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    /// @dev = 0xd099cc98ef71107a616c4f0f941f04c322d8e254fe26b3c6668db87aae413de8
    bytes32 public constant RECEIVE_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    /// @dev = 0x158b0a9edf7a828aad02f63cd515c68ef2f50ba807396f6d12842833a1597429
    bytes32 public constant CANCEL_AUTHORIZATION_TYPEHASH =
        keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");

    bytes32 private constant NAME_HASH = keccak256(bytes(name));
    bytes32 private constant VERSION_HASH = keccak256(bytes(version));

    /// @dev secp256k1n / 2: signatures with a larger `s` are malleable and rejected.
    uint256 private constant HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    bytes4 private constant ERC1271_MAGIC = 0x1626ba7e;

    // ------------------------------------------------------------------ storage (see layout above)

    /// @notice Admin account (slot 0).
    address public owner;
    /// @notice Total supply (slot 1).
    uint256 public totalSupply;
    /// @notice Whether transfers, approvals, authorizations, mint and burn are paused (slot 2).
    bool public paused;
    mapping(address => uint256) private _balances; // slot 3
    mapping(address => mapping(address => uint256)) private _allowed; // slot 4
    mapping(address => bool) private _minters; // slot 5
    mapping(address => bool) private _blacklisted; // slot 6
    mapping(address => uint256) private _permitNonces; // slot 7
    mapping(address => mapping(bytes32 => bool)) private _authorizationStates; // slot 8

    // ------------------------------------------------------------------ events

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
    event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce);
    event Mint(address indexed minter, address indexed to, uint256 amount);
    event Burn(address indexed burner, uint256 amount);
    event MinterConfigured(address indexed minter);
    event MinterRemoved(address indexed oldMinter);
    event Blacklisted(address indexed account);
    event UnBlacklisted(address indexed account);
    event Pause();
    event Unpause();
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    /// @notice EIP-5267: the domain never changes at a given address and chain, but is
    ///         declared so tools that listen for it find the event in the ABI.
    event EIP712DomainChanged();

    // ------------------------------------------------------------------ modifiers

    modifier onlyOwner() {
        require(msg.sender == owner, "Ownable: caller is not the owner");
        _;
    }

    modifier onlyMinters() {
        require(_minters[msg.sender], "FiatToken: caller is not a minter");
        _;
    }

    modifier whenNotPaused() {
        require(!paused, "Pausable: paused");
        _;
    }

    modifier notBlacklisted(address account) {
        require(!_blacklisted[account], "Blacklistable: account is blacklisted");
        _;
    }

    // ------------------------------------------------------------------ ERC-20

    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    function allowance(address holder, address spender) external view returns (uint256) {
        return _allowed[holder][spender];
    }

    function transfer(address to, uint256 value)
        external
        whenNotPaused
        notBlacklisted(msg.sender)
        notBlacklisted(to)
        returns (bool)
    {
        _transfer(msg.sender, to, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value)
        external
        whenNotPaused
        notBlacklisted(msg.sender)
        notBlacklisted(from)
        notBlacklisted(to)
        returns (bool)
    {
        uint256 allowed = _allowed[from][msg.sender];
        require(value <= allowed, "ERC20: transfer amount exceeds allowance");
        _transfer(from, to, value);
        unchecked {
            _allowed[from][msg.sender] = allowed - value;
        }
        return true;
    }

    function approve(address spender, uint256 value)
        external
        whenNotPaused
        notBlacklisted(msg.sender)
        notBlacklisted(spender)
        returns (bool)
    {
        _approve(msg.sender, spender, value);
        return true;
    }

    function increaseAllowance(address spender, uint256 increment)
        external
        whenNotPaused
        notBlacklisted(msg.sender)
        notBlacklisted(spender)
        returns (bool)
    {
        _approve(msg.sender, spender, _allowed[msg.sender][spender] + increment);
        return true;
    }

    function decreaseAllowance(address spender, uint256 decrement)
        external
        whenNotPaused
        notBlacklisted(msg.sender)
        notBlacklisted(spender)
        returns (bool)
    {
        uint256 current = _allowed[msg.sender][spender];
        require(decrement <= current, "ERC20: decreased allowance below zero");
        unchecked {
            _approve(msg.sender, spender, current - decrement);
        }
        return true;
    }

    // ------------------------------------------------------------------ EIP-712 / EIP-5267

    /// @notice The EIP-712 domain separator for the current chain id and this address.
    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return keccak256(abi.encode(EIP712_DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    /// @notice EIP-5267.
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name_,
            string memory version_,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", name, version, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    // ------------------------------------------------------------------ EIP-2612 permit

    function nonces(address holder) external view returns (uint256) {
        return _permitNonces[holder];
    }

    function permit(
        address holder,
        address spender,
        uint256 value,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        _permit(holder, spender, value, deadline, abi.encodePacked(r, s, v));
    }

    /// @notice `permit` with a packed signature (65 bytes r‖s‖v, 64-byte EIP-2098, or any
    ///         ERC-1271 signature when `holder` is a contract).
    function permit(address holder, address spender, uint256 value, uint256 deadline, bytes memory signature)
        external
    {
        _permit(holder, spender, value, deadline, signature);
    }

    function _permit(address holder, address spender, uint256 value, uint256 deadline, bytes memory signature)
        internal
        whenNotPaused
        notBlacklisted(holder)
        notBlacklisted(spender)
    {
        require(deadline == type(uint256).max || deadline >= block.timestamp, "FiatTokenV2: permit is expired");
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, holder, spender, value, _permitNonces[holder]++, deadline));
        require(_isValidSignature(holder, _digest(structHash), signature), "EIP2612: invalid signature");
        _approve(holder, spender, value);
    }

    // ------------------------------------------------------------------ EIP-3009

    /// @notice Whether `nonce` of `authorizer` has been used or canceled.
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool) {
        return _authorizationStates[authorizer][nonce];
    }

    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        _transferWithAuthorization(from, to, value, validAfter, validBefore, nonce, abi.encodePacked(r, s, v));
    }

    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external {
        _transferWithAuthorization(from, to, value, validAfter, validBefore, nonce, signature);
    }

    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        _receiveWithAuthorization(from, to, value, validAfter, validBefore, nonce, abi.encodePacked(r, s, v));
    }

    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external {
        _receiveWithAuthorization(from, to, value, validAfter, validBefore, nonce, signature);
    }

    function cancelAuthorization(address authorizer, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external {
        _cancelAuthorization(authorizer, nonce, abi.encodePacked(r, s, v));
    }

    function cancelAuthorization(address authorizer, bytes32 nonce, bytes memory signature) external {
        _cancelAuthorization(authorizer, nonce, signature);
    }

    function _transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) internal whenNotPaused notBlacklisted(from) notBlacklisted(to) {
        _requireValidAuthorization(from, nonce, validAfter, validBefore);
        bytes32 structHash = keccak256(
            abi.encode(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce)
        );
        require(_isValidSignature(from, _digest(structHash), signature), "FiatTokenV2: invalid signature");
        _markAuthorizationAsUsed(from, nonce);
        _transfer(from, to, value);
    }

    function _receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) internal whenNotPaused notBlacklisted(from) notBlacklisted(to) {
        require(to == msg.sender, "FiatTokenV2: caller must be the payee");
        _requireValidAuthorization(from, nonce, validAfter, validBefore);
        bytes32 structHash = keccak256(
            abi.encode(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce)
        );
        require(_isValidSignature(from, _digest(structHash), signature), "FiatTokenV2: invalid signature");
        _markAuthorizationAsUsed(from, nonce);
        _transfer(from, to, value);
    }

    function _cancelAuthorization(address authorizer, bytes32 nonce, bytes memory signature)
        internal
        whenNotPaused
    {
        _requireUnusedAuthorization(authorizer, nonce);
        bytes32 structHash = keccak256(abi.encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce));
        require(_isValidSignature(authorizer, _digest(structHash), signature), "FiatTokenV2: invalid signature");
        _authorizationStates[authorizer][nonce] = true;
        emit AuthorizationCanceled(authorizer, nonce);
    }

    function _requireUnusedAuthorization(address authorizer, bytes32 nonce) private view {
        require(!_authorizationStates[authorizer][nonce], "FiatTokenV2: authorization is used or canceled");
    }

    /// @dev Strict on both edges, as FiatToken: valid iff validAfter < now < validBefore.
    function _requireValidAuthorization(address authorizer, bytes32 nonce, uint256 validAfter, uint256 validBefore)
        private
        view
    {
        require(block.timestamp > validAfter, "FiatTokenV2: authorization is not yet valid");
        require(block.timestamp < validBefore, "FiatTokenV2: authorization is expired");
        _requireUnusedAuthorization(authorizer, nonce);
    }

    function _markAuthorizationAsUsed(address authorizer, bytes32 nonce) private {
        _authorizationStates[authorizer][nonce] = true;
        emit AuthorizationUsed(authorizer, nonce);
    }

    // ------------------------------------------------------------------ minting, burning

    function isMinter(address account) external view returns (bool) {
        return _minters[account];
    }

    function mint(address to, uint256 amount)
        external
        whenNotPaused
        onlyMinters
        notBlacklisted(msg.sender)
        notBlacklisted(to)
        returns (bool)
    {
        require(to != address(0), "FiatToken: mint to the zero address");
        require(amount > 0, "FiatToken: mint amount not greater than 0");
        totalSupply += amount;
        _balances[to] += amount;
        emit Mint(msg.sender, to, amount);
        emit Transfer(address(0), to, amount);
        return true;
    }

    /// @notice Burns `amount` from the caller's (a minter's) own balance.
    function burn(uint256 amount) external whenNotPaused onlyMinters notBlacklisted(msg.sender) {
        uint256 bal = _balances[msg.sender];
        require(amount > 0, "FiatToken: burn amount not greater than 0");
        require(bal >= amount, "FiatToken: burn amount exceeds balance");
        unchecked {
            totalSupply -= amount;
            _balances[msg.sender] = bal - amount;
        }
        emit Burn(msg.sender, amount);
        emit Transfer(msg.sender, address(0), amount);
    }

    function configureMinter(address minter) external whenNotPaused onlyOwner returns (bool) {
        require(minter != address(0), "FiatToken: minter is the zero address");
        _minters[minter] = true;
        emit MinterConfigured(minter);
        return true;
    }

    function removeMinter(address minter) external onlyOwner returns (bool) {
        _minters[minter] = false;
        emit MinterRemoved(minter);
        return true;
    }

    // ------------------------------------------------------------------ compliance: blocklist, pause

    function isBlacklisted(address account) external view returns (bool) {
        return _blacklisted[account];
    }

    function blacklist(address account) external onlyOwner {
        _blacklisted[account] = true;
        emit Blacklisted(account);
    }

    function unBlacklist(address account) external onlyOwner {
        _blacklisted[account] = false;
        emit UnBlacklisted(account);
    }

    function pause() external onlyOwner {
        paused = true;
        emit Pause();
    }

    function unpause() external onlyOwner {
        paused = false;
        emit Unpause();
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0), "Ownable: new owner is the zero address");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    // ------------------------------------------------------------------ internals

    function _transfer(address from, address to, uint256 value) internal {
        require(from != address(0), "ERC20: transfer from the zero address");
        require(to != address(0), "ERC20: transfer to the zero address");
        uint256 bal = _balances[from];
        require(value <= bal, "ERC20: transfer amount exceeds balance");
        unchecked {
            _balances[from] = bal - value;
        }
        _balances[to] += value;
        emit Transfer(from, to, value);
    }

    function _approve(address holder, address spender, uint256 value) internal {
        require(holder != address(0), "ERC20: approve from the zero address");
        require(spender != address(0), "ERC20: approve to the zero address");
        _allowed[holder][spender] = value;
        emit Approval(holder, spender, value);
    }

    function _digest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", DOMAIN_SEPARATOR(), structHash));
    }

    /// @dev Signature validation, FiatToken v2.2 semantics extended for EIP-7702 accounts:
    ///      - `signer` without code: the signature must be a well-formed secp256k1 signature
    ///        (65 bytes r‖s‖v with v ∈ {27, 28}, or 64 bytes EIP-2098 r‖vs) with low s,
    ///        recovering to `signer`. Malformed signatures revert with ECRecover's messages
    ///        ("ECRecover: invalid signature length" / "'s' value" / "'v' value" /
    ///        "ECRecover: invalid signature"); a well-formed one for another key returns false.
    ///      - `signer` with code (a contract wallet, or an EOA with an EIP-7702 delegation):
    ///        valid if the signature recovers to `signer` (malformed ones are not an error
    ///        here) or if ERC-1271 `isValidSignature` returns the magic value.
    function _isValidSignature(address signer, bytes32 digest, bytes memory signature)
        internal
        view
        returns (bool)
    {
        (address recovered, uint8 err) = _tryRecover(digest, signature);
        if (signer.code.length == 0) {
            if (err == 1) revert("ECRecover: invalid signature length");
            if (err == 2) revert("ECRecover: invalid signature 's' value");
            if (err == 3) revert("ECRecover: invalid signature 'v' value");
            if (err == 4) revert("ECRecover: invalid signature");
            return recovered == signer;
        }
        if (err == 0 && recovered == signer) return true;
        (bool ok, bytes memory ret) =
            signer.staticcall(abi.encodeWithSelector(IERC1271.isValidSignature.selector, digest, signature));
        return ok && ret.length >= 32 && abi.decode(ret, (bytes32)) == bytes32(ERC1271_MAGIC);
    }

    /// @dev Returns (recovered, 0) or (address(0), error): 1 bad length, 2 high s, 3 bad v,
    ///      4 recovery failed.
    function _tryRecover(bytes32 digest, bytes memory signature) private pure returns (address, uint8) {
        bytes32 r;
        bytes32 s;
        uint8 v;
        if (signature.length == 65) {
            assembly ("memory-safe") {
                r := mload(add(signature, 0x20))
                s := mload(add(signature, 0x40))
                v := byte(0, mload(add(signature, 0x60)))
            }
        } else if (signature.length == 64) {
            bytes32 vs;
            assembly ("memory-safe") {
                r := mload(add(signature, 0x20))
                vs := mload(add(signature, 0x40))
            }
            s = vs & bytes32(0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff);
            v = uint8(uint256(vs) >> 255) + 27;
        } else {
            return (address(0), 1);
        }
        if (uint256(s) > HALF_CURVE_ORDER) return (address(0), 2);
        if (v != 27 && v != 28) return (address(0), 3);
        address recovered = ecrecover(digest, v, r, s);
        if (recovered == address(0)) return (address(0), 4);
        return (recovered, 0);
    }
}
