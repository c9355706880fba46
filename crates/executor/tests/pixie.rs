//! Pixie DEX in block execution on a real store: deposits pull real ERC-20 tokens, signed
//! orders trade at the end of the block that closes their batch (a system call, no
//! transaction), withdrawals send the tokens back, and a failed token transfer undoes the
//! exchange's writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_primitives::{Address, Bytes, TxKind, U256, address};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolInterface};
use txnchain_executor::call::{Limits, call};
use txnchain_executor::env::{BlockContext, CallInput};
use txnchain_executor::pixie::PIXIE;
use txnchain_executor::{Overlay, SnapshotState, execute_block, seal_block};
use txnchain_pixie::abi::{IPixieDex, IPixieDex::IPixieDexErrors, Order};
use txnchain_pixie::{Exchange, Market, MemorySlots};
use txnchain_primitives::{ChainSpec, GenesisAccount, GenesisConfig, RecoveredTx};
use txnchain_storage::{BlockWrite, Store, StoreOptions};

const BASE: Address = address!("00000000000000000000000000000000000ba5e0");
const QUOTE: Address = address!("0000000000000000000000000000000000009707");
const LOT: u128 = 1_000;

alloy_sol_types::sol! {
    function mint(address to, uint256 value) external;
    function approve(address spender, uint256 value) external returns (bool);
    function balanceOf(address who) external view returns (uint256);
}

struct Chain {
    _dir: tempfile::TempDir,
    store: Store,
    spec: ChainSpec,
    nonces: BTreeMap<Address, u64>,
    number: u64,
}

fn token_code() -> Bytes {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/artifacts/TestToken.json"
    );
    let artifact: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    artifact["deployedBytecode"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn chain(traders: &[&PrivateKeySigner]) -> Chain {
    let spec = ChainSpec::default();
    let mut alloc = BTreeMap::new();
    for t in traders {
        alloc.insert(
            t.address(),
            GenesisAccount {
                balance: U256::from(10u64).pow(U256::from(20)),
                ..Default::default()
            },
        );
    }
    for token in [BASE, QUOTE] {
        alloc.insert(
            token,
            GenesisAccount {
                code: token_code(),
                ..Default::default()
            },
        );
    }
    // The exchange's account with market 1 listed, as a genesis would hold it.
    let mut ex = Exchange::new(
        txnchain_executor::pixie::config(spec.chain_id),
        MemorySlots::default(),
    );
    ex.list_market(Market {
        id: 1,
        base: BASE,
        quote: QUOTE,
        lot_size: LOT,
        tick_size: 10,
        fee_bps: 0,
        fee_recipient: Address::ZERO,
    })
    .unwrap();
    let storage = ex
        .slots()
        .iter()
        .map(|(k, v)| (U256::from_be_bytes(k.0), U256::from_be_bytes(v.0)))
        .collect();
    alloc.insert(
        PIXIE,
        GenesisAccount {
            nonce: 1,
            storage,
            ..Default::default()
        },
    );
    let genesis = GenesisConfig {
        spec: spec.clone(),
        timestamp: 0,
        extra_data: Bytes::new(),
        alloc,
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("chain.redb"),
        StoreOptions::default(),
        txnchain_storage::fresh_at_rest_codec().unwrap(),
    )
    .unwrap();
    txnchain_ledger::genesis::init_genesis(&store, &genesis).unwrap();
    Chain {
        _dir: dir,
        store,
        spec,
        nonces: BTreeMap::new(),
        number: 0,
    }
}

impl Chain {
    fn tx(&mut self, key: &PrivateKeySigner, to: Address, input: Vec<u8>) -> RecoveredTx {
        let nonce = self.nonces.entry(key.address()).or_default();
        let t = TxEip1559 {
            chain_id: self.spec.chain_id,
            nonce: *nonce,
            gas_limit: 1_000_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(to),
            value: U256::ZERO,
            access_list: Default::default(),
            input: input.into(),
        };
        *nonce += 1;
        let sig = key.sign_hash_sync(&t.signature_hash()).unwrap();
        let env: TxEnvelope = t.into_signed(sig).into();
        RecoveredTx::from_envelope(env).unwrap()
    }

    fn context(&self, timestamp: u64) -> BlockContext {
        let snap = self.store.snapshot().unwrap();
        let parent = snap.header(self.number).unwrap().unwrap();
        BlockContext {
            number: self.number + 1,
            timestamp,
            beneficiary: self.spec.beneficiary,
            prevrandao: BlockContext::derive_prevrandao(parent.hash),
            gas_limit: self.spec.block_gas_limit,
            base_fee: self.spec.base_fee,
            parent_hash: parent.hash,
        }
    }

    /// Executes, seals and applies a block; the receipts' statuses.
    fn mine(&mut self, txs: Vec<RecoveredTx>, timestamp: u64) -> Vec<bool> {
        let ctx = self.context(timestamp);
        let snap = self.store.snapshot().unwrap();
        let n = txs.len();
        let executed = execute_block(
            &self.spec,
            &ctx,
            SnapshotState::latest(&snap),
            txs,
            true,
            None,
            None,
        )
        .unwrap();
        assert_eq!(executed.transactions.len(), n);
        let sealed = seal_block(&ctx, &executed, &snap).unwrap();
        // Replayed strictly, the block (with its end-of-block close) gives the same roots.
        let replay = execute_block(
            &self.spec,
            &ctx,
            SnapshotState::latest(&snap),
            executed.transactions.clone(),
            true,
            None,
            None,
        )
        .unwrap();
        let resealed = seal_block(&ctx, &replay, &snap).unwrap();
        assert_eq!(resealed.header.hash, sealed.header.hash);
        drop(snap);
        let statuses = executed.receipts.iter().map(|r| r.success).collect();
        self.store
            .apply_block(
                &BlockWrite {
                    header: sealed.header,
                    transactions: executed.transactions,
                    receipts: executed.receipts,
                    changes: executed.changes,
                    prepared: sealed.prepared,
                    sealed_results: executed.sealed_results,
                },
                true,
            )
            .unwrap();
        self.number += 1;
        statuses
    }

    /// `eth_call` from `from`.
    fn view(&self, from: Address, to: Address, data: Vec<u8>) -> Vec<u8> {
        let snap = self.store.snapshot().unwrap();
        let ctx = self.context(1_000);
        let overlay = Overlay::new(SnapshotState::latest(&snap));
        let input = CallInput {
            from,
            to: Some(to),
            gas: 5_000_000,
            data: data.into(),
            ..Default::default()
        };
        let limits = Limits::new(std::time::Duration::from_secs(5));
        let done = call(&self.spec, &ctx, &overlay, &input, &limits).unwrap();
        assert!(done.result.is_success(), "{:?}", done.result);
        done.result.output().unwrap().to_vec()
    }

    fn exchange_balance(&self, who: Address, token: Address) -> (u128, u128) {
        let out = self.view(who, PIXIE, IPixieDex::balanceOfCall { token }.abi_encode());
        let b = IPixieDex::balanceOfCall::abi_decode_returns(&out).unwrap();
        (b.free, b.locked)
    }

    fn token_balance(&self, who: Address, token: Address) -> U256 {
        let out = self.view(who, token, balanceOfCall { who }.abi_encode());
        balanceOfCall::abi_decode_returns(&out).unwrap()
    }
}

fn signed_order(c: &Chain, key: &PrivateKeySigner, buy: bool, price: u64, lots: u64) -> Vec<u8> {
    let order = Order {
        trader: key.address(),
        market: 1,
        buy,
        price,
        lots,
        expiry: u64::MAX,
        clientId: 7,
        nonce: 1,
        immediateOrCancel: false,
    };
    let domain = txnchain_pixie::order::domain(c.spec.chain_id, PIXIE);
    let hash = txnchain_pixie::order::order_id(&order, &domain);
    let signature = key.sign_hash_sync(&hash).unwrap().as_bytes().to_vec();
    IPixieDex::placeOrderCall {
        order,
        signature: signature.into(),
    }
    .abi_encode()
}

fn fund(c: &mut Chain, key: &PrivateKeySigner, token: Address, amount: u64) -> Vec<RecoveredTx> {
    vec![
        c.tx(
            key,
            token,
            mintCall {
                to: key.address(),
                value: U256::from(amount),
            }
            .abi_encode(),
        ),
        c.tx(
            key,
            token,
            approveCall {
                spender: PIXIE,
                value: U256::MAX,
            }
            .abi_encode(),
        ),
        c.tx(
            key,
            PIXIE,
            IPixieDex::depositCall {
                token,
                amount: U256::from(amount),
            }
            .abi_encode(),
        ),
    ]
}

#[test]
fn a_batch_trades_at_the_end_of_the_block_that_closes_it_and_tokens_move_for_real() {
    let (a, b) = (PrivateKeySigner::random(), PrivateKeySigner::random());
    let mut c = chain(&[&a, &b]);
    let mut txs = fund(&mut c, &a, QUOTE, 20_000);
    txs.extend(fund(&mut c, &b, BASE, 10_000));
    let buy = signed_order(&c, &a, true, 105, 10);
    let sell = signed_order(&c, &b, false, 100, 10);
    txs.push(c.tx(&a, PIXIE, buy));
    txs.push(c.tx(&b, PIXIE, sell));
    let statuses = c.mine(txs, 100);
    assert!(statuses.iter().all(|ok| *ok), "{statuses:?}");

    // The exchange holds the deposits; the orders lock them; the batch is open.
    assert_eq!(c.token_balance(PIXIE, QUOTE), U256::from(20_000));
    assert_eq!(c.token_balance(PIXIE, BASE), U256::from(10_000));
    assert_eq!(
        c.exchange_balance(a.address(), QUOTE),
        (20_000 - 10_500, 10_500)
    );
    let batch = c.view(
        Address::ZERO,
        PIXIE,
        IPixieDex::currentBatchCall {}.abi_encode(),
    );
    let batch = IPixieDex::currentBatchCall::abi_decode_returns(&batch).unwrap();
    assert_eq!((batch.batch, batch.open, batch.openedAt), (0, true, 100));

    // The next block, a second later and empty, closes the batch.
    c.mine(Vec::new(), 101);
    assert_eq!(c.exchange_balance(a.address(), QUOTE), (10_000, 0));
    assert_eq!(c.exchange_balance(a.address(), BASE), (10 * LOT, 0));
    assert_eq!(c.exchange_balance(b.address(), QUOTE), (10_000, 0));
    let fills = c.view(a.address(), PIXIE, IPixieDex::fillsCall {}.abi_encode());
    let fills = IPixieDex::fillsCall::abi_decode_returns(&fills).unwrap();
    assert_eq!(fills.len(), 1);
    assert_eq!(
        (fills[0].price, fills[0].lots, fills[0].buy),
        (100, 10, true)
    );
    // An unsigned call runs as address zero: it sees no one's fills.
    let theirs = c.view(Address::ZERO, PIXIE, IPixieDex::fillsCall {}.abi_encode());
    assert!(
        IPixieDex::fillsCall::abi_decode_returns(&theirs)
            .unwrap()
            .is_empty()
    );

    // Withdrawals send real tokens.
    let out = c.tx(
        &a,
        PIXIE,
        IPixieDex::withdrawCall {
            token: BASE,
            amount: U256::from(10 * LOT),
        }
        .abi_encode(),
    );
    assert_eq!(c.mine(vec![out], 102), vec![true]);
    assert_eq!(c.token_balance(a.address(), BASE), U256::from(10 * LOT));
    assert_eq!(c.token_balance(PIXIE, BASE), U256::ZERO);
    assert_eq!(c.exchange_balance(a.address(), BASE), (0, 0));
}

#[test]
fn a_failed_token_transfer_or_a_refusal_changes_nothing() {
    let a = PrivateKeySigner::random();
    let mut c = chain(&[&a]);
    let mint = c.tx(
        &a,
        QUOTE,
        mintCall {
            to: a.address(),
            value: U256::from(1_000),
        }
        .abi_encode(),
    );
    // No approval: the token's transferFrom reverts, so the deposit does.
    let deposit = c.tx(
        &a,
        PIXIE,
        IPixieDex::depositCall {
            token: QUOTE,
            amount: U256::from(500),
        }
        .abi_encode(),
    );
    // A "token" without code is refused, not credited.
    let nothing = c.tx(
        &a,
        PIXIE,
        IPixieDex::depositCall {
            token: Address::repeat_byte(0x77),
            amount: U256::from(5),
        }
        .abi_encode(),
    );
    // More than the free balance.
    let greedy = c.tx(
        &a,
        PIXIE,
        IPixieDex::withdrawCall {
            token: QUOTE,
            amount: U256::from(1),
        }
        .abi_encode(),
    );
    assert_eq!(
        c.mine(vec![mint, deposit, nothing, greedy], 50),
        vec![true, false, false, false]
    );
    assert_eq!(c.exchange_balance(a.address(), QUOTE), (0, 0));
    assert_eq!(
        c.exchange_balance(a.address(), Address::repeat_byte(0x77)),
        (0, 0)
    );
    assert_eq!(c.token_balance(a.address(), QUOTE), U256::from(1_000));
    assert_eq!(c.token_balance(PIXIE, QUOTE), U256::ZERO);

    // The refusal is the interface's custom error, as eth_call shows it.
    let snap = c.store.snapshot().unwrap();
    let overlay = Overlay::new(SnapshotState::latest(&snap));
    let input = CallInput {
        from: a.address(),
        to: Some(PIXIE),
        gas: 1_000_000,
        data: IPixieDex::withdrawCall {
            token: QUOTE,
            amount: U256::from(1),
        }
        .abi_encode()
        .into(),
        ..Default::default()
    };
    let done = call(
        &c.spec,
        &c.context(60),
        &overlay,
        &input,
        &Limits::new(std::time::Duration::from_secs(5)),
    )
    .unwrap();
    let revm::context::result::ExecutionResult::Revert { output, .. } = done.result else {
        panic!("{:?}", done.result);
    };
    assert_eq!(
        IPixieDexErrors::abi_decode(&output).unwrap(),
        IPixieDexErrors::InsufficientBalance(IPixieDex::InsufficientBalance {
            token: QUOTE,
            available: 0,
            needed: 1
        })
    );
}
