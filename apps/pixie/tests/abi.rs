//! The exchange's ABI: the Rust definition is the compiled Solidity interface, and calls go
//! through `abi::execute` with the token moves, return data and custom errors a client sees.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{SolCall, SolError, SolEvent, SolInterface};
use common::*;
use txnchain_pixie::abi::{
    self, Executed, Failure, IPixieDex, IPixieDex::IPixieDexCalls, IPixieDex::IPixieDexErrors,
    TokenMove,
};

fn artifact_abi() -> JsonAbi {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/artifacts/IPixieDex.json"
    );
    let artifact: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    serde_json::from_value(artifact["abi"].clone()).unwrap()
}

#[test]
fn the_rust_abi_is_the_compiled_solidity_interface() {
    let abi = artifact_abi();
    let functions: BTreeSet<[u8; 4]> = abi.functions().map(|f| f.selector().0).collect();
    let ours: BTreeSet<[u8; 4]> = IPixieDexCalls::SELECTORS.iter().copied().collect();
    assert_eq!(functions, ours);
    let errors: BTreeSet<[u8; 4]> = abi.errors().map(|e| e.selector().0).collect();
    let ours: BTreeSet<[u8; 4]> = IPixieDexErrors::SELECTORS.iter().copied().collect();
    assert_eq!(errors, ours);
    let events: Vec<B256> = abi.events().map(alloy_json_abi::Event::selector).collect();
    assert_eq!(events, vec![IPixieDex::BatchCleared::SIGNATURE_HASH]);
    // The returns too: a client decodes what the engine encodes.
    let markets = abi.function("markets").unwrap()[0].clone();
    assert_eq!(
        markets.outputs[0].selector_type(),
        "(uint32,address,address,uint128,uint128,uint16,address)[]"
    );
}

fn call(ex: &mut Ex, caller: Address, data: Vec<u8>) -> Result<Executed, Failure> {
    abi::execute(&mut ex.0, caller, &data, T0, false)
}

fn reverted_with(result: Result<Executed, Failure>) -> IPixieDexErrors {
    match result {
        Err(Failure::Revert(data)) => IPixieDexErrors::abi_decode(&data).unwrap(),
        other => panic!("expected a revert, got {other:?}"),
    }
}

#[test]
fn deposits_and_withdrawals_name_the_token_move() {
    let a = trader(1);
    let mut ex = exchange(0);
    let deposit = IPixieDex::depositCall {
        token: QUOTE,
        amount: U256::from(5_000),
    };
    let done = call(&mut ex, a.address(), deposit.abi_encode()).unwrap();
    assert_eq!(
        done.token_move,
        Some(TokenMove::Pull {
            token: QUOTE,
            from: a.address(),
            amount: U256::from(5_000),
            permit: None
        })
    );
    assert_eq!(ex.balance(a.address(), QUOTE).free, 5_000);

    let permit = IPixieDex::depositWithPermitCall {
        token: BASE,
        amount: U256::from(7),
        deadline: U256::from(99),
        v: 27,
        r: B256::repeat_byte(1),
        s: B256::repeat_byte(2),
    };
    let done = call(&mut ex, a.address(), permit.abi_encode()).unwrap();
    assert!(matches!(
        done.token_move,
        Some(TokenMove::Pull { permit: Some(p), .. }) if p.deadline == U256::from(99) && p.v == 27
    ));

    let withdraw = IPixieDex::withdrawCall {
        token: QUOTE,
        amount: U256::from(2_000),
    };
    let done = call(&mut ex, a.address(), withdraw.abi_encode()).unwrap();
    assert_eq!(
        done.token_move,
        Some(TokenMove::Push {
            token: QUOTE,
            to: a.address(),
            amount: U256::from(2_000)
        })
    );
    assert_eq!(ex.balance(a.address(), QUOTE).free, 3_000);

    // Too much: the custom error with the figures, and nothing changed.
    let before = ex.clone();
    let greedy = IPixieDex::withdrawCall {
        token: QUOTE,
        amount: U256::from(3_001),
    };
    assert_eq!(
        reverted_with(call(&mut ex, a.address(), greedy.abi_encode())),
        IPixieDexErrors::InsufficientBalance(IPixieDex::InsufficientBalance {
            token: QUOTE,
            available: 3_000,
            needed: 3_001
        })
    );
    let huge = IPixieDex::depositCall {
        token: QUOTE,
        amount: U256::MAX,
    };
    assert_eq!(
        reverted_with(call(&mut ex, a.address(), huge.abi_encode())),
        IPixieDexErrors::AmountOverflow(IPixieDex::AmountOverflow {})
    );
    let zero = IPixieDex::depositCall {
        token: QUOTE,
        amount: U256::ZERO,
    };
    assert_eq!(
        reverted_with(call(&mut ex, a.address(), zero.abi_encode())),
        IPixieDexErrors::ZeroAmount(IPixieDex::ZeroAmount {})
    );
    assert_eq!(ex, before);
}

#[test]
fn orders_trade_through_calldata_and_each_trader_reads_only_its_own() {
    let (a, b) = (trader(1), trader(2));
    let mut ex = exchange(0);
    fund(&mut ex, &a, 0, 20_000);
    fund(&mut ex, &b, 10 * LOT, 0);
    let buy = order(&a, true, 105, 10, 1);
    let sell = order(&b, false, 100, 10, 1);
    let buy_call = IPixieDex::placeOrderCall {
        signature: sign(&ex, &a, &buy).into(),
        order: buy.clone(),
    };
    // Anyone may submit a signed order: here a relayer (trader 5) does.
    let relayer = trader(5).address();
    let done = call(&mut ex, relayer, buy_call.abi_encode()).unwrap();
    let id = IPixieDex::placeOrderCall::abi_decode_returns(&done.output).unwrap();
    assert_eq!(id, txnchain_pixie::order::order_id(&buy, ex.domain()));
    assert_eq!(done.token_move, None);

    // A replay is refused with the nonce named.
    assert_eq!(
        reverted_with(call(&mut ex, relayer, buy_call.abi_encode())),
        IPixieDexErrors::NonceUsed(IPixieDex::NonceUsed { nonce: 1 })
    );
    // A static call cannot place.
    let sell_call = IPixieDex::placeOrderCall {
        signature: sign(&ex, &b, &sell).into(),
        order: sell,
    };
    let data = sell_call.abi_encode();
    assert_eq!(
        abi::execute(&mut ex.0, b.address(), &data, T0, true),
        Err(Failure::Revert(IPixieDex::StaticCall {}.abi_encode()))
    );
    call(&mut ex, b.address(), data).unwrap();

    let batch = |ex: &mut Ex, who| {
        let out = abi::execute(
            &mut ex.0,
            who,
            &IPixieDex::currentBatchCall {}.abi_encode(),
            T0,
            true,
        )
        .unwrap()
        .output;
        IPixieDex::currentBatchCall::abi_decode_returns(&out).unwrap()
    };
    let open = batch(&mut ex, Address::ZERO);
    assert_eq!((open.batch, open.open, open.openedAt), (0, true, T0));

    let outcome = ex.0.end_of_block(T0 + 1).unwrap().unwrap();
    let logs = abi::batch_cleared_logs(&outcome);
    assert_eq!(logs.len(), 1);
    let log = IPixieDex::BatchCleared::decode_log_data(&logs[0]).unwrap();
    assert_eq!(
        (log.market, log.batch, log.price, log.baseVolume),
        (1, 0, 100, 10 * LOT)
    );

    let view = |ex: &mut Ex, who: Address, data: Vec<u8>| {
        abi::execute(&mut ex.0, who, &data, T0 + 1, true)
            .unwrap()
            .output
    };
    let fills = view(&mut ex, a.address(), IPixieDex::fillsCall {}.abi_encode());
    let fills = IPixieDex::fillsCall::abi_decode_returns(&fills).unwrap();
    assert_eq!(fills.len(), 1);
    assert_eq!(
        (fills[0].order, fills[0].buy, fills[0].lots, fills[0].price),
        (id, true, 10, 100)
    );
    // Address zero (an unsigned call) and other traders see nothing of a's.
    for who in [Address::ZERO, b.address()] {
        let theirs = view(&mut ex, who, IPixieDex::fillsCall {}.abi_encode());
        let theirs = IPixieDex::fillsCall::abi_decode_returns(&theirs).unwrap();
        assert!(theirs.iter().all(|f| f.order != id));
    }
    let balance = view(
        &mut ex,
        a.address(),
        IPixieDex::balanceOfCall { token: BASE }.abi_encode(),
    );
    let balance = IPixieDex::balanceOfCall::abi_decode_returns(&balance).unwrap();
    assert_eq!((balance.free, balance.locked), (10 * LOT, 0));
    let nobody = view(
        &mut ex,
        Address::ZERO,
        IPixieDex::balanceOfCall { token: BASE }.abi_encode(),
    );
    let nobody = IPixieDex::balanceOfCall::abi_decode_returns(&nobody).unwrap();
    assert_eq!((nobody.free, nobody.locked), (0, 0));

    let markets = view(
        &mut ex,
        Address::ZERO,
        IPixieDex::marketsCall {}.abi_encode(),
    );
    let markets = IPixieDex::marketsCall::abi_decode_returns(&markets).unwrap();
    assert_eq!(markets.len(), 1);
    assert_eq!(
        (markets[0].id, markets[0].lotSize, markets[0].tickSize),
        (1, LOT, TICK)
    );
}

#[test]
fn cancels_and_open_orders_through_calldata() {
    let a = trader(1);
    let mut ex = exchange(0);
    fund(&mut ex, &a, 0, 10_000);
    let id = place(&mut ex, &a, order(&a, true, 100, 2, 1), T0);
    let orders = call(
        &mut ex,
        a.address(),
        IPixieDex::openOrdersCall {}.abi_encode(),
    )
    .unwrap();
    let orders = IPixieDex::openOrdersCall::abi_decode_returns(&orders.output).unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(
        (orders[0].id, orders[0].remaining, orders[0].locked),
        (id, 2, 2_000)
    );

    // Someone else cannot cancel it.
    let cancel = IPixieDex::cancelOrderCall { id }.abi_encode();
    assert_eq!(
        reverted_with(call(&mut ex, trader(2).address(), cancel.clone())),
        IPixieDexErrors::UnknownOrder(IPixieDex::UnknownOrder { id })
    );
    call(&mut ex, a.address(), cancel).unwrap();
    assert_eq!(ex.balance(a.address(), QUOTE).free, 10_000);

    let void = IPixieDex::cancelNonceCall { nonce: 9 }.abi_encode();
    let out = call(&mut ex, a.address(), void.clone()).unwrap();
    assert!(!IPixieDex::cancelNonceCall::abi_decode_returns(&out.output).unwrap());
    let used = call(
        &mut ex,
        a.address(),
        IPixieDex::nonceUsedCall { nonce: 9 }.abi_encode(),
    )
    .unwrap();
    assert!(IPixieDex::nonceUsedCall::abi_decode_returns(&used.output).unwrap());
}

#[test]
fn calldata_that_is_no_call_of_the_interface_reverts_without_data() {
    let mut ex = exchange(0);
    let before = ex.clone();
    let deposit = IPixieDex::depositCall {
        token: QUOTE,
        amount: U256::from(1),
    }
    .abi_encode();
    for data in [
        Vec::new(),
        vec![0xde, 0xad, 0xbe, 0xef],
        deposit[..deposit.len() - 1].to_vec(),
        // A dirty high byte in the address word.
        {
            let mut d = deposit.clone();
            d[4] = 1;
            d
        },
    ] {
        assert_eq!(
            call(&mut ex, trader(1).address(), data),
            Err(Failure::Revert(Vec::new()))
        );
    }
    assert_eq!(ex, before);
}
