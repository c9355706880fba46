//! The dev-genesis Stablecoin's rules, executed by the node's executor on the real dev
//! genesis state at chosen block timestamps (so the strict EIP-3009 window edges are exact).
//! End-to-end cases (reused and cancelled nonces, blocklist, settlement through the
//! facilitator) run against a real node in `tests/x402`.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolStruct, sol};
use revm::DatabaseCommit;
use revm::context::result::ExecutionResult;
use txnchain_executor::env::CallInput;
use txnchain_executor::{BlockContext, Overlay, SnapshotState};
use txnchain_node::dev::{DEV_TUSD_BALANCE, DevOptions, STABLECOIN, dev_genesis};
use txnchain_primitives::GenesisConfig;
use txnchain_x402::eip712::{TokenDomain, TransferWithAuthorization, sign};

sol! {
    interface Token {
        function balanceOf(address) external view returns (uint256);
        function totalSupply() external view returns (uint256);
        function owner() external view returns (address);
        function isMinter(address) external view returns (bool);
        function mint(address to, uint256 amount) external returns (bool);
        function pause() external;
        function unpause() external;
        function paused() external view returns (bool);
        function transfer(address to, uint256 value) external returns (bool);
        function transferFrom(address from, address to, uint256 value) external returns (bool);
        function allowance(address holder, address spender) external view returns (uint256);
        function nonces(address holder) external view returns (uint256);
        function blacklist(address account) external;
        function unBlacklist(address account) external;
        function permit(address holder, address spender, uint256 value, uint256 deadline, bytes signature) external;
        function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes signature) external;
        function receiveWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes signature) external;
        function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
        function DOMAIN_SEPARATOR() external view returns (bytes32);
        function eip712Domain() external view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions);
    }

    /// EIP-2612.
    struct Permit {
        address owner;
        address spender;
        uint256 value;
        uint256 nonce;
        uint256 deadline;
    }

    /// EIP-3009 `receiveWithAuthorization`.
    struct ReceiveWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Chain {
    _dir: tempfile::TempDir,
    store: txnchain_storage::Store,
    genesis: GenesisConfig,
    keys: Vec<PrivateKeySigner>,
}

impl Chain {
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        Self::with(&DevOptions::default())
    }

    fn with(opts: &DevOptions) -> Result<Self, Box<dyn std::error::Error>> {
        let (genesis, keys) = dev_genesis(opts)?;
        let dir = tempfile::tempdir()?;
        let store = txnchain_storage::Store::open(
            &dir.path().join("chain.redb"),
            Default::default(),
            txnchain_storage::fresh_at_rest_codec()?,
        )?;
        txnchain_ledger::genesis::init_genesis(&store, &genesis)?;
        Ok(Chain {
            _dir: dir,
            store,
            genesis,
            keys,
        })
    }

    fn call(
        &self,
        from: Address,
        data: Vec<u8>,
        timestamp: u64,
    ) -> Result<ExecutionResult, Box<dyn std::error::Error>> {
        let mut r = self.run(&[(from, data, timestamp)])?;
        r.pop().ok_or_else(|| "no result".into())
    }

    /// Executes `steps` (from, calldata, block timestamp) in order on the genesis state,
    /// each seeing the state the previous ones left (a successful step's changes are kept).
    fn run(
        &self,
        steps: &[(Address, Vec<u8>, u64)],
    ) -> Result<Vec<ExecutionResult>, Box<dyn std::error::Error>> {
        let snap = self.store.snapshot()?;
        let chain = &self.genesis.spec;
        let mut overlay = Overlay::new(SnapshotState::latest(&snap));
        let mut out = vec![];
        for (i, (from, data, timestamp)) in steps.iter().enumerate() {
            let ctx = BlockContext {
                number: 1 + i as u64,
                timestamp: *timestamp,
                beneficiary: chain.beneficiary,
                prevrandao: B256::ZERO,
                gas_limit: chain.block_gas_limit,
                base_fee: chain.base_fee,
                parent_hash: B256::ZERO,
            };
            let input = CallInput {
                from: *from,
                to: Some(STABLECOIN),
                gas: 1_000_000,
                data: data.clone().into(),
                ..Default::default()
            };
            let limits = txnchain_executor::call::Limits::new(std::time::Duration::from_secs(10));
            let r = txnchain_executor::call::call(chain, &ctx, &overlay, &input, &limits)?;
            if r.result.is_success() {
                overlay.commit(r.state);
            }
            out.push(r.result);
        }
        Ok(out)
    }

    fn domain(&self) -> TokenDomain {
        TokenDomain {
            name: "TxnChain USD".into(),
            version: "1".into(),
            chain_id: self.genesis.spec.chain_id,
            verifying_contract: STABLECOIN,
        }
    }

    /// Signs an EIP-712 struct of the token's domain with dev key `key`.
    fn sign_struct(
        &self,
        key: usize,
        msg: &impl SolStruct,
    ) -> Result<Bytes, Box<dyn std::error::Error>> {
        let mut pre = vec![0x19, 0x01];
        pre.extend_from_slice(self.domain().separator().as_slice());
        pre.extend_from_slice(msg.eip712_hash_struct().as_slice());
        let sig = self.keys[key].sign_hash_sync(&keccak256(pre))?;
        Ok(Bytes::copy_from_slice(&sig.as_bytes()))
    }
}

fn revert_reason(r: &ExecutionResult) -> String {
    match r {
        ExecutionResult::Revert { output, .. } => alloy_sol_types::decode_revert_reason(output)
            .map(|m| m.trim_start_matches("revert: ").to_string())
            .unwrap_or_default(),
        ExecutionResult::Success { .. } => "success".into(),
        ExecutionResult::Halt { reason, .. } => format!("halt {reason:?}"),
    }
}

fn output(r: &ExecutionResult) -> Bytes {
    match r {
        ExecutionResult::Success { output, .. } => output.data().clone(),
        _ => Bytes::new(),
    }
}

fn authorization(
    c: &Chain,
    valid_after: u64,
    valid_before: u64,
    version: &str,
) -> Result<(TransferWithAuthorization, [u8; 65]), Box<dyn std::error::Error>> {
    let msg = TransferWithAuthorization {
        from: c.keys[1].address(),
        to: c.keys[2].address(),
        value: U256::from(10_000),
        validAfter: U256::from(valid_after),
        validBefore: U256::from(valid_before),
        nonce: B256::repeat_byte(7),
    };
    let domain = TokenDomain {
        name: "TxnChain USD".into(),
        version: version.into(),
        chain_id: c.genesis.spec.chain_id,
        verifying_contract: STABLECOIN,
    };
    let sig = sign(&c.keys[1], &domain, &msg)?;
    Ok((msg, sig))
}

fn twa(msg: &TransferWithAuthorization, sig: &[u8]) -> Vec<u8> {
    Token::transferWithAuthorizationCall {
        from: msg.from,
        to: msg.to,
        value: msg.value,
        validAfter: msg.validAfter,
        validBefore: msg.validBefore,
        nonce: msg.nonce,
        signature: Bytes::copy_from_slice(sig),
    }
    .abi_encode()
}

#[test]
fn genesis_balances_owner_and_minter() -> TestResult {
    let c = Chain::new()?;
    for k in &c.keys {
        let r = c.call(
            Address::ZERO,
            Token::balanceOfCall(k.address()).abi_encode(),
            1,
        )?;
        assert_eq!(
            Token::balanceOfCall::abi_decode_returns(&output(&r))?,
            U256::from(DEV_TUSD_BALANCE)
        );
    }
    let r = c.call(Address::ZERO, Token::totalSupplyCall {}.abi_encode(), 1)?;
    assert_eq!(
        Token::totalSupplyCall::abi_decode_returns(&output(&r))?,
        U256::from(DEV_TUSD_BALANCE) * U256::from(c.keys.len())
    );
    let r = c.call(Address::ZERO, Token::ownerCall {}.abi_encode(), 1)?;
    assert_eq!(
        Token::ownerCall::abi_decode_returns(&output(&r))?,
        c.keys[0].address()
    );
    let r = c.call(
        Address::ZERO,
        Token::isMinterCall(c.keys[0].address()).abi_encode(),
        1,
    )?;
    assert!(Token::isMinterCall::abi_decode_returns(&output(&r))?);
    // Minting: the minter may, others may not; pausing: only the owner.
    let mint = Token::mintCall {
        to: c.keys[3].address(),
        amount: U256::from(5),
    }
    .abi_encode();
    assert_eq!(
        revert_reason(&c.call(c.keys[0].address(), mint.clone(), 1)?),
        "success"
    );
    assert_eq!(
        revert_reason(&c.call(c.keys[1].address(), mint, 1)?),
        "FiatToken: caller is not a minter"
    );
    assert_eq!(
        revert_reason(&c.call(c.keys[1].address(), Token::pauseCall {}.abi_encode(), 1)?),
        "Ownable: caller is not the owner"
    );
    assert_eq!(
        revert_reason(&c.call(c.keys[0].address(), Token::pauseCall {}.abi_encode(), 1)?),
        "success"
    );
    Ok(())
}

#[test]
fn strict_time_window_edges() -> TestResult {
    let c = Chain::new()?;
    let (t0, t1) = (1_000_000u64, 1_000_100u64);
    let (msg, sig) = authorization(&c, t0, t1, "1")?;
    let relayer = c.keys[5].address();
    assert_eq!(
        revert_reason(&c.call(relayer, twa(&msg, &sig), t0)?),
        "FiatTokenV2: authorization is not yet valid"
    );
    assert_eq!(
        revert_reason(&c.call(relayer, twa(&msg, &sig), t0 + 1)?),
        "success"
    );
    assert_eq!(
        revert_reason(&c.call(relayer, twa(&msg, &sig), t1 - 1)?),
        "success"
    );
    assert_eq!(
        revert_reason(&c.call(relayer, twa(&msg, &sig), t1)?),
        "FiatTokenV2: authorization is expired"
    );
    Ok(())
}

#[test]
fn wrong_domain_high_s_and_compact_signatures() -> TestResult {
    let c = Chain::new()?;
    let relayer = c.keys[5].address();
    let (msg, bad) = authorization(&c, 0, 2_000_000_000, "2")?;
    assert_eq!(
        revert_reason(&c.call(relayer, twa(&msg, &bad), 10)?),
        "FiatTokenV2: invalid signature"
    );
    let (msg, sig) = authorization(&c, 0, 2_000_000_000, "1")?;
    // High-s twin of a valid signature.
    let n = alloy_primitives::uint!(
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141_U256
    );
    let mut high = sig;
    high[32..64].copy_from_slice(&(n - U256::from_be_slice(&sig[32..64])).to_be_bytes::<32>());
    high[64] = if sig[64] == 27 { 28 } else { 27 };
    assert!(revert_reason(&c.call(relayer, twa(&msg, &high), 10)?).contains("'s' value"));
    // EIP-2098 compact form is accepted.
    let mut compact = [0u8; 64];
    compact.copy_from_slice(&sig[..64]);
    if sig[64] == 28 {
        compact[32] |= 0x80;
    }
    assert_eq!(
        revert_reason(&c.call(relayer, twa(&msg, &compact), 10)?),
        "success"
    );
    assert_eq!(
        revert_reason(&c.call(relayer, twa(&msg, &sig), 10)?),
        "success"
    );
    Ok(())
}

fn balance(c: &Chain, r: &[ExecutionResult], i: usize) -> Result<U256, Box<dyn std::error::Error>> {
    let _ = c;
    Ok(Token::balanceOfCall::abi_decode_returns(&output(&r[i]))?)
}

fn transfer(to: Address, value: u64) -> Vec<u8> {
    Token::transferCall {
        to,
        value: U256::from(value),
    }
    .abi_encode()
}

fn permit_call(
    holder: Address,
    spender: Address,
    value: u64,
    deadline: u64,
    sig: Bytes,
) -> Vec<u8> {
    Token::permitCall {
        holder,
        spender,
        value: U256::from(value),
        deadline: U256::from(deadline),
        signature: sig,
    }
    .abi_encode()
}

#[test]
fn permit_valid_expired_wrong_signer_replayed() -> TestResult {
    let c = Chain::new()?;
    let (holder, spender, other) = (
        c.keys[1].address(),
        c.keys[2].address(),
        c.keys[3].address(),
    );
    let deadline = 1_000_000u64;
    let msg = |nonce: u64| Permit {
        owner: holder,
        spender,
        value: U256::from(500),
        nonce: U256::from(nonce),
        deadline: U256::from(deadline),
    };
    let good = c.sign_struct(1, &msg(0))?;
    let by_other = c.sign_struct(3, &msg(0))?;
    let relayer = c.keys[5].address();
    let r = c.run(&[
        // Expired: the deadline is inclusive, one second later is refused.
        (
            relayer,
            permit_call(holder, spender, 500, deadline, good.clone()),
            deadline + 1,
        ),
        // Signed by someone other than the holder.
        (
            relayer,
            permit_call(holder, spender, 500, deadline, by_other),
            deadline,
        ),
        // Valid, at the deadline itself; anyone may submit it.
        (
            relayer,
            permit_call(holder, spender, 500, deadline, good.clone()),
            deadline,
        ),
        (
            Address::ZERO,
            Token::allowanceCall { holder, spender }.abi_encode(),
            deadline,
        ),
        (
            Address::ZERO,
            Token::noncesCall { holder }.abi_encode(),
            deadline,
        ),
        // Replayed: the holder's permit nonce moved on, so the same signature no longer
        // recovers to the holder.
        (
            relayer,
            permit_call(holder, spender, 500, deadline, good.clone()),
            deadline,
        ),
        // The allowance is usable by the spender, and only up to its value.
        (
            spender,
            Token::transferFromCall {
                from: holder,
                to: other,
                value: U256::from(300),
            }
            .abi_encode(),
            deadline,
        ),
        (
            spender,
            Token::transferFromCall {
                from: holder,
                to: other,
                value: U256::from(201),
            }
            .abi_encode(),
            deadline,
        ),
        (
            Address::ZERO,
            Token::balanceOfCall(other).abi_encode(),
            deadline,
        ),
    ])?;
    assert_eq!(revert_reason(&r[0]), "FiatTokenV2: permit is expired");
    assert_eq!(revert_reason(&r[1]), "EIP2612: invalid signature");
    assert_eq!(revert_reason(&r[2]), "success");
    assert_eq!(
        Token::allowanceCall::abi_decode_returns(&output(&r[3]))?,
        U256::from(500)
    );
    assert_eq!(
        Token::noncesCall::abi_decode_returns(&output(&r[4]))?,
        U256::from(1)
    );
    assert_eq!(revert_reason(&r[5]), "EIP2612: invalid signature");
    assert_eq!(revert_reason(&r[6]), "success");
    assert_eq!(
        revert_reason(&r[7]),
        "ERC20: transfer amount exceeds allowance"
    );
    assert_eq!(
        balance(&c, &r, 8)?,
        U256::from(DEV_TUSD_BALANCE) + U256::from(300)
    );
    // Nonces are sequential: on a fresh state the nonce-0 permit works, then nonce 1, once.
    let next = c.sign_struct(1, &msg(1))?;
    let r = c.run(&[
        (
            relayer,
            permit_call(holder, spender, 500, deadline, good),
            deadline,
        ),
        (
            relayer,
            permit_call(holder, spender, 500, deadline, next.clone()),
            deadline,
        ),
        (
            relayer,
            permit_call(holder, spender, 500, deadline, next),
            deadline,
        ),
    ])?;
    assert_eq!(revert_reason(&r[0]), "success");
    assert_eq!(revert_reason(&r[1]), "success");
    assert_eq!(revert_reason(&r[2]), "EIP2612: invalid signature");
    Ok(())
}

#[test]
fn pause_blocks_transfers_and_authorizations_unpause_restores() -> TestResult {
    let c = Chain::new()?;
    let owner = c.keys[0].address();
    let (from, to) = (c.keys[1].address(), c.keys[2].address());
    let relayer = c.keys[5].address();
    let (msg, sig) = authorization(&c, 0, 2_000_000_000, "1")?;
    let r = c.run(&[
        (from, Token::pauseCall {}.abi_encode(), 10),
        (owner, Token::pauseCall {}.abi_encode(), 10),
        (Address::ZERO, Token::pausedCall {}.abi_encode(), 10),
        (from, transfer(to, 1), 10),
        (relayer, twa(&msg, &sig), 10),
        (from, Token::unpauseCall {}.abi_encode(), 10),
        (owner, Token::unpauseCall {}.abi_encode(), 10),
        (from, transfer(to, 1), 10),
        (relayer, twa(&msg, &sig), 10),
        (Address::ZERO, Token::balanceOfCall(to).abi_encode(), 10),
    ])?;
    assert_eq!(revert_reason(&r[0]), "Ownable: caller is not the owner");
    assert_eq!(revert_reason(&r[1]), "success");
    assert!(Token::pausedCall::abi_decode_returns(&output(&r[2]))?);
    assert_eq!(revert_reason(&r[3]), "Pausable: paused");
    assert_eq!(revert_reason(&r[4]), "Pausable: paused");
    assert_eq!(revert_reason(&r[5]), "Ownable: caller is not the owner");
    assert_eq!(revert_reason(&r[6]), "success");
    assert_eq!(revert_reason(&r[7]), "success");
    assert_eq!(revert_reason(&r[8]), "success");
    // 1 by transfer + 10,000 by the authorization, each once.
    assert_eq!(
        balance(&c, &r, 9)?,
        U256::from(DEV_TUSD_BALANCE) + U256::from(10_001)
    );
    Ok(())
}

#[test]
fn receive_with_authorization_only_the_payee_may_call() -> TestResult {
    let c = Chain::new()?;
    let (from, payee) = (c.keys[1].address(), c.keys[2].address());
    let relayer = c.keys[5].address();
    let msg = ReceiveWithAuthorization {
        from,
        to: payee,
        value: U256::from(700),
        validAfter: U256::ZERO,
        validBefore: U256::from(2_000_000_000u64),
        nonce: B256::repeat_byte(9),
    };
    let sig = c.sign_struct(1, &msg)?;
    let call = |signature: Bytes| {
        Token::receiveWithAuthorizationCall {
            from: msg.from,
            to: msg.to,
            value: msg.value,
            validAfter: msg.validAfter,
            validBefore: msg.validBefore,
            nonce: msg.nonce,
            signature,
        }
        .abi_encode()
    };
    // A transferWithAuthorization signature over the same fields is a different type.
    let twa_msg = TransferWithAuthorization {
        from,
        to: payee,
        value: msg.value,
        validAfter: msg.validAfter,
        validBefore: msg.validBefore,
        nonce: msg.nonce,
    };
    let twa_sig = Bytes::copy_from_slice(&sign(&c.keys[1], &c.domain(), &twa_msg)?);
    let r = c.run(&[
        (relayer, call(sig.clone()), 10),
        (from, call(sig.clone()), 10),
        (payee, call(twa_sig), 10),
        (payee, call(sig.clone()), 10),
        (Address::ZERO, Token::balanceOfCall(payee).abi_encode(), 10),
        (
            Address::ZERO,
            Token::authorizationStateCall {
                authorizer: from,
                nonce: msg.nonce,
            }
            .abi_encode(),
            10,
        ),
        (payee, call(sig), 10),
    ])?;
    assert_eq!(
        revert_reason(&r[0]),
        "FiatTokenV2: caller must be the payee"
    );
    assert_eq!(
        revert_reason(&r[1]),
        "FiatTokenV2: caller must be the payee"
    );
    assert_eq!(revert_reason(&r[2]), "FiatTokenV2: invalid signature");
    assert_eq!(revert_reason(&r[3]), "success");
    assert_eq!(
        balance(&c, &r, 4)?,
        U256::from(DEV_TUSD_BALANCE) + U256::from(700)
    );
    assert!(Token::authorizationStateCall::abi_decode_returns(&output(
        &r[5]
    ))?);
    assert_eq!(
        revert_reason(&r[6]),
        "FiatTokenV2: authorization is used or canceled"
    );
    Ok(())
}

#[test]
fn eip712_domain_matches_name_version_chain_id_and_contract() -> TestResult {
    for chain_id in [txnchain_primitives::chain::DEV_CHAIN_ID, 777] {
        let c = Chain::with(&DevOptions {
            chain_id,
            ..DevOptions::default()
        })?;
        let r = c.call(Address::ZERO, Token::eip712DomainCall {}.abi_encode(), 1)?;
        let d = Token::eip712DomainCall::abi_decode_returns(&output(&r))?;
        assert_eq!(d.fields.0, [0x0f]);
        assert_eq!(d.name, "TxnChain USD");
        assert_eq!(d.version, "1");
        assert_eq!(d.chainId, U256::from(chain_id));
        assert_eq!(d.verifyingContract, STABLECOIN);
        assert_eq!(d.salt, B256::ZERO);
        assert!(d.extensions.is_empty());
        // The separator the token uses is the one these fields define.
        let r = c.call(
            Address::ZERO,
            Token::DOMAIN_SEPARATORCall {}.abi_encode(),
            1,
        )?;
        assert_eq!(
            Token::DOMAIN_SEPARATORCall::abi_decode_returns(&output(&r))?,
            TokenDomain {
                name: d.name,
                version: d.version,
                chain_id: d.chainId.saturating_to(),
                verifying_contract: d.verifyingContract,
            }
            .separator()
        );
    }
    Ok(())
}

#[test]
fn blocklisted_sender_or_recipient_cannot_transfer() -> TestResult {
    let c = Chain::new()?;
    let owner = c.keys[0].address();
    let (bad, good) = (c.keys[1].address(), c.keys[2].address());
    let r = c.run(&[
        (good, Token::blacklistCall { account: bad }.abi_encode(), 10),
        (
            owner,
            Token::blacklistCall { account: bad }.abi_encode(),
            10,
        ),
        (bad, transfer(good, 1), 10),
        (good, transfer(bad, 1), 10),
        (good, transfer(c.keys[3].address(), 1), 10),
        (
            owner,
            Token::unBlacklistCall { account: bad }.abi_encode(),
            10,
        ),
        (bad, transfer(good, 1), 10),
        (good, transfer(bad, 1), 10),
    ])?;
    assert_eq!(revert_reason(&r[0]), "Ownable: caller is not the owner");
    assert_eq!(revert_reason(&r[1]), "success");
    assert_eq!(
        revert_reason(&r[2]),
        "Blacklistable: account is blacklisted"
    );
    assert_eq!(
        revert_reason(&r[3]),
        "Blacklistable: account is blacklisted"
    );
    assert_eq!(revert_reason(&r[4]), "success");
    assert_eq!(revert_reason(&r[5]), "success");
    assert_eq!(revert_reason(&r[6]), "success");
    assert_eq!(revert_reason(&r[7]), "success");
    Ok(())
}
