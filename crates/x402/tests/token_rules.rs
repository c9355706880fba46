//! The dev-genesis Stablecoin's rules, executed by the node's executor on the real dev
//! genesis state at chosen block timestamps (so the strict EIP-3009 window edges are exact).
//! End-to-end cases (reused and cancelled nonces, blocklist, settlement through the
//! facilitator) run against a real node in `tests/x402`.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, sol};
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
        function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes signature) external;
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
        let (genesis, keys) = dev_genesis(&DevOptions::default())?;
        let dir = tempfile::tempdir()?;
        let store =
            txnchain_storage::Store::open(&dir.path().join("chain.redb"), Default::default())?;
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
        let snap = self.store.snapshot()?;
        let chain = &self.genesis.spec;
        let ctx = BlockContext {
            number: 1,
            timestamp,
            beneficiary: chain.beneficiary,
            prevrandao: B256::ZERO,
            gas_limit: chain.block_gas_limit,
            base_fee: chain.base_fee,
            parent_hash: B256::ZERO,
        };
        let input = CallInput {
            from,
            to: Some(STABLECOIN),
            gas: 1_000_000,
            data: data.into(),
            ..Default::default()
        };
        let overlay = Overlay::new(SnapshotState::latest(&snap));
        Ok(txnchain_executor::call::call(chain, &ctx, &overlay, &input)?.result)
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
