//! The engine against hand-computed books: prices, fills and every balance after a batch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::Address;
use common::*;
use txnchain_pixie::{Balance, Limits, NonceCancel, Order, PixieError, Side};

fn bal(free: u128, locked: u128) -> Balance {
    Balance { free, locked }
}

#[test]
fn a_crossing_pair_trades_at_one_price_and_the_buyer_gets_its_improvement_back() {
    let (a, b) = (trader(1), trader(2));
    let mut ex = exchange(0);
    fund(&mut ex, &a, 0, 20_000);
    fund(&mut ex, &b, 10 * LOT, 0);
    let buy = place(&mut ex, &a, order(&a, true, 105, 10, 1), T0);
    let sell = place(&mut ex, &b, order(&b, false, 100, 10, 1), T0);
    assert_eq!(ex.balance(a.address(), QUOTE), bal(20_000 - 10_500, 10_500));
    assert_eq!(ex.balance(b.address(), BASE), bal(0, 10 * LOT));

    // The batch opened at T0 and closes in the first block at least a second later.
    assert_eq!(ex.end_of_block(T0), None);
    let outcome = ex.end_of_block(T0 + 1).unwrap();
    assert_eq!(outcome.batch, 0);
    let [clearing] = outcome.cleared.as_slice() else {
        panic!("one market cleared: {outcome:?}");
    };
    // D = S = 10 at 100 and at 105: no pressure, the lower median is 100.
    assert_eq!(
        (clearing.price, clearing.lots, clearing.base_volume),
        (100, 10, 10 * LOT)
    );
    assert_eq!(clearing.fills.len(), 2);
    assert!(
        clearing
            .fills
            .iter()
            .all(|f| f.price == 100 && f.lots == 10)
    );
    assert!(
        clearing
            .fills
            .iter()
            .any(|f| f.order == buy && f.side == Side::Buy)
    );
    assert!(
        clearing
            .fills
            .iter()
            .any(|f| f.order == sell && f.side == Side::Sell)
    );

    assert_eq!(ex.balance(a.address(), QUOTE), bal(10_000, 0));
    assert_eq!(ex.balance(a.address(), BASE), bal(10 * LOT, 0));
    assert_eq!(ex.balance(b.address(), QUOTE), bal(10_000, 0));
    assert_eq!(ex.balance(b.address(), BASE), bal(0, 0));
    assert!(ex.open_orders(a.address()).is_empty());
    assert!(ex.open_orders(b.address()).is_empty());
    assert_eq!(ex.fills(a.address()).len(), 1);
    assert_eq!(ex.current_batch(), 1);
    assert_eq!(ex.batch_opened_at(), None);
    // The public record of the batch: price and volume, nothing about who.
    assert_eq!(
        ex.clearings(1),
        vec![txnchain_pixie::ClearingRecord {
            batch: 0,
            closed_at: T0 + 1,
            price: 100,
            lots: 10,
            base_volume: 10 * LOT,
        }]
    );
    ex.verify_books().unwrap();

    ex.withdraw(a.address(), BASE, 10 * LOT).unwrap();
    assert_eq!(ex.total(BASE), 0);
    assert_eq!(ex.total(QUOTE), 20_000);
}

#[test]
fn a_book_that_does_not_cross_rests_and_trades_in_a_later_batch() {
    let (a, b, c) = (trader(1), trader(2), trader(3));
    let mut ex = exchange(0);
    fund(&mut ex, &a, 0, 10_000);
    fund(&mut ex, &b, 5 * LOT, 0);
    fund(&mut ex, &c, 5 * LOT, 0);
    let buy = place(&mut ex, &a, order(&a, true, 99, 5, 1), T0);
    place(&mut ex, &b, order(&b, false, 100, 5, 1), T0);
    let outcome = ex.end_of_block(T0 + 1).unwrap();
    assert!(outcome.cleared.is_empty(), "{outcome:?}");
    assert!(
        ex.clearings(1).is_empty(),
        "a batch that did not cross is not recorded"
    );
    assert_eq!(ex.open_orders(a.address()).len(), 1);
    assert_eq!(ex.open_orders(a.address())[0].batch, 0);

    // A new seller at 99 crosses the resting buy in batch 1.
    place(&mut ex, &c, order(&c, false, 99, 5, 1), T0 + 5);
    assert_eq!(ex.end_of_block(T0 + 5), None);
    let outcome = ex.end_of_block(T0 + 6).unwrap();
    assert_eq!(outcome.batch, 1);
    let clearing = &outcome.cleared[0];
    assert_eq!((clearing.price, clearing.lots), (99, 5));
    assert!(clearing.fills.iter().any(|f| f.order == buy));
    assert_eq!(ex.balance(c.address(), QUOTE), bal(5 * 99 * 10, 0));
    // The seller at 100 still rests.
    assert_eq!(ex.open_orders(b.address()).len(), 1);
    ex.verify_books().unwrap();
}

#[test]
fn one_sided_books_close_without_trades() {
    let (a, b) = (trader(1), trader(2));
    let mut ex = exchange(0);
    fund(&mut ex, &a, 0, 100_000);
    fund(&mut ex, &b, 0, 100_000);
    place(&mut ex, &a, order(&a, true, 100, 5, 1), T0);
    place(&mut ex, &b, order(&b, true, 120, 5, 1), T0);
    let outcome = ex.end_of_block(T0 + 3).unwrap();
    assert!(outcome.cleared.is_empty());
    assert_eq!(
        ex.open_orders(a.address()).len() + ex.open_orders(b.address()).len(),
        2
    );
    // With nothing placed since, no batch is open and none closes.
    assert_eq!(ex.end_of_block(T0 + 100), None);
}

#[test]
fn the_marginal_level_is_shared_pro_rata_with_largest_remainders() {
    let (a, b, d, s) = (trader(1), trader(2), trader(4), trader(9));
    let mut ex = exchange(0);
    for t in [&a, &b, &d] {
        fund(&mut ex, t, 0, 10_000);
    }
    fund(&mut ex, &s, 7 * LOT, 0);
    let oa = place(&mut ex, &a, order(&a, true, 100, 5, 1), T0);
    let ob = place(&mut ex, &b, order(&b, true, 100, 3, 1), T0);
    let od = place(&mut ex, &d, order(&d, true, 100, 4, 1), T0);
    place(&mut ex, &s, order(&s, false, 100, 7, 1), T0);
    let outcome = ex.end_of_block(T0 + 1).unwrap();
    let clearing = &outcome.cleared[0];
    assert_eq!((clearing.price, clearing.lots), (100, 7));
    let filled = |id| {
        clearing
            .fills
            .iter()
            .find(|f| f.order == id)
            .map_or(0, |f| f.lots)
    };
    // 7 of 12 lots: ⌊35/12⌋ = 2 r 11, ⌊21/12⌋ = 1 r 9, ⌊28/12⌋ = 2 r 4; the two lots left over
    // go to the remainders 11 and 9.
    assert_eq!((filled(oa), filled(ob), filled(od)), (3, 2, 2));
    let open = ex.order(&oa).unwrap();
    assert_eq!((open.remaining, open.locked), (2, 2 * 100 * 10));
    assert_eq!(ex.balance(a.address(), BASE), bal(3 * LOT, 0));
    ex.verify_books().unwrap();
}

#[test]
fn better_limits_fill_first_and_everyone_pays_the_clearing_price() {
    let (a, b, s) = (trader(1), trader(2), trader(9));
    let mut ex = exchange(0);
    fund(&mut ex, &a, 0, 10_000);
    fund(&mut ex, &b, 0, 10_000);
    fund(&mut ex, &s, 7 * LOT, 0);
    let oa = place(&mut ex, &a, order(&a, true, 110, 5, 1), T0);
    let ob = place(&mut ex, &b, order(&b, true, 100, 5, 1), T0);
    place(&mut ex, &s, order(&s, false, 100, 7, 1), T0);
    let clearing = ex.end_of_block(T0 + 1).unwrap().cleared.remove(0);
    // V(100) = min(10, 7) = 7, V(110) = min(5, 7) = 5.
    assert_eq!(clearing.price, 100);
    let filled = |id| {
        clearing
            .fills
            .iter()
            .find(|f| f.order == id)
            .map_or(0, |f| f.lots)
    };
    assert_eq!((filled(oa), filled(ob)), (5, 2));
    // a locked 5·110·10 and paid 5·100·10.
    assert_eq!(ex.balance(a.address(), QUOTE), bal(10_000 - 5_000, 0));
    assert_eq!(
        ex.balance(b.address(), QUOTE),
        bal(10_000 - 5_000, 3 * 100 * 10)
    );
    ex.verify_books().unwrap();
}

#[test]
fn arrival_order_inside_a_batch_decides_nothing() {
    let (a, b, s) = (trader(1), trader(2), trader(9));
    let run = |a_first: bool| {
        let mut ex = exchange(0);
        fund(&mut ex, &a, 0, 1_000);
        fund(&mut ex, &b, 0, 1_000);
        fund(&mut ex, &s, LOT, 0);
        // Two equal buys for the one lot on sale: the remainders tie.
        if a_first {
            place(&mut ex, &a, order(&a, true, 100, 1, 7), T0);
            place(&mut ex, &b, order(&b, true, 100, 1, 7), T0);
        } else {
            place(&mut ex, &s, order(&s, false, 100, 1, 7), T0);
            place(&mut ex, &b, order(&b, true, 100, 1, 7), T0);
        }
        if a_first {
            place(&mut ex, &s, order(&s, false, 100, 1, 7), T0);
        } else {
            place(&mut ex, &a, order(&a, true, 100, 1, 7), T0);
        }
        let clearing = ex.end_of_block(T0 + 1).unwrap().cleared.remove(0);
        let buyer: Vec<Address> = clearing
            .fills
            .iter()
            .filter(|f| f.side == Side::Buy)
            .map(|f| f.trader)
            .collect();
        assert_eq!(buyer.len(), 1);
        (buyer[0], ex)
    };
    let (first, ex_first) = run(true);
    let (second, ex_second) = run(false);
    assert_eq!(first, second);
    // Everything observable is the same, whatever the arrival order (only the order of the
    // engine's internal lists differs).
    assert_eq!(ex_first.observable(), ex_second.observable());
}

#[test]
fn immediate_or_cancel_orders_never_rest() {
    let (a, s) = (trader(1), trader(9));
    let mut ex = exchange(0);
    fund(&mut ex, &a, 0, 10_000);
    fund(&mut ex, &s, 4 * LOT, 0);
    let ioc = Order {
        immediateOrCancel: true,
        ..order(&a, true, 100, 10, 1)
    };
    let id = place(&mut ex, &a, ioc, T0);
    place(&mut ex, &s, order(&s, false, 100, 4, 1), T0);
    let outcome = ex.end_of_block(T0 + 1).unwrap();
    assert_eq!(outcome.cleared[0].lots, 4);
    assert_eq!(outcome.cancelled, vec![id]);
    assert!(ex.order(&id).is_none());
    assert_eq!(ex.balance(a.address(), QUOTE), bal(10_000 - 4_000, 0));
    assert_eq!(ex.balance(a.address(), BASE), bal(4 * LOT, 0));

    // One that does not cross leaves after its batch too.
    let lone = Order {
        immediateOrCancel: true,
        ..order(&a, true, 90, 1, 2)
    };
    let id = place(&mut ex, &a, lone, T0 + 10);
    let outcome = ex.end_of_block(T0 + 11).unwrap();
    assert!(outcome.cleared.is_empty());
    assert_eq!(outcome.cancelled, vec![id]);
    assert_eq!(ex.balance(a.address(), QUOTE), bal(6_000, 0));
    ex.verify_books().unwrap();
}

#[test]
fn expired_orders_leave_at_the_close_and_cannot_be_placed() {
    let (a, s) = (trader(1), trader(9));
    let mut ex = exchange(0);
    fund(&mut ex, &a, 0, 10_000);
    fund(&mut ex, &s, 10 * LOT, 0);
    let short = Order {
        expiry: T0 + 5,
        ..order(&a, true, 100, 10, 1)
    };
    let id = place(&mut ex, &a, short, T0);
    // Not crossed in batch 0 (nothing on the other side).
    assert!(ex.end_of_block(T0 + 1).unwrap().cleared.is_empty());
    // A seller arrives after the expiry: the buy leaves before the clearing.
    place(&mut ex, &s, order(&s, false, 100, 10, 1), T0 + 9);
    let outcome = ex.end_of_block(T0 + 10).unwrap();
    assert_eq!(outcome.expired, vec![id]);
    assert!(outcome.cleared.is_empty());
    assert_eq!(ex.balance(a.address(), QUOTE), bal(10_000, 0));

    let stale = Order {
        expiry: T0 + 20,
        ..order(&a, true, 100, 1, 2)
    };
    let signature = sign(&ex, &a, &stale);
    assert_eq!(
        ex.place(stale, &signature, T0 + 20),
        Err(PixieError::Expired {
            expiry: T0 + 20,
            now: T0 + 20
        })
    );
}

#[test]
fn fees_are_charged_on_both_sides_and_rounded_down() {
    let (a, s) = (trader(1), trader(9));
    let mut ex = exchange(30);
    fund(&mut ex, &a, 0, 50_000);
    fund(&mut ex, &s, 3 * LOT, 0);
    // Locks 7·333·10 = 23,310 plus ⌊69.93⌋ = 69.
    let buy = place(&mut ex, &a, order(&a, true, 333, 7, 1), T0);
    assert_eq!(ex.balance(a.address(), QUOTE), bal(50_000 - 23_379, 23_379));
    place(&mut ex, &s, order(&s, false, 300, 3, 1), T0);
    let clearing = ex.end_of_block(T0 + 1).unwrap().cleared.remove(0);
    // V = 3 at 300 and 333 with buyers left over at both: the highest, 333.
    assert_eq!((clearing.price, clearing.lots), (333, 3));
    // Notional 9,990; each side pays ⌊29.97⌋ = 29.
    assert!(
        clearing
            .fills
            .iter()
            .all(|f| f.quote == 9_990 && f.fee == 29)
    );
    assert_eq!(ex.balance(s.address(), QUOTE), bal(9_990 - 29, 0));
    assert_eq!(ex.balance(FEES, QUOTE), bal(58, 0));
    // The rest of the buy still locks 23,379 − (9,990 + 29) = 13,360, one unit more than a
    // fresh order of its 4 lots would (13,320 + 39): rounding never leaves it short.
    let open = ex.order(&buy).unwrap();
    assert_eq!((open.remaining, open.locked), (4, 13_360));
    ex.cancel(a.address(), buy).unwrap();
    assert_eq!(ex.balance(a.address(), QUOTE), bal(50_000 - 10_019, 0));
    assert_eq!(ex.total(QUOTE), 50_000);
    ex.verify_books().unwrap();
}

#[test]
fn refused_operations_change_nothing() {
    let (a, b) = (trader(1), trader(2));
    let mut ex = exchange_with(
        0,
        Limits {
            max_orders_per_trader: 2,
            ..Limits::default()
        },
    );
    fund(&mut ex, &a, LOT, 10_000);
    let first = place(&mut ex, &a, order(&a, true, 100, 1, 1), T0);
    let before = ex.clone();

    let mut attempts: Vec<(Order, Vec<u8>, PixieError)> = Vec::new();
    // Signed by b for a.
    let forged = order(&a, true, 100, 1, 2);
    attempts.push((
        forged.clone(),
        sign(&ex, &b, &forged),
        PixieError::WrongSigner {
            recovered: b.address(),
            trader: a.address(),
        },
    ));
    let reused = order(&a, true, 101, 1, 1);
    attempts.push((
        reused.clone(),
        sign(&ex, &a, &reused),
        PixieError::NonceUsed(1),
    ));
    let unknown = Order {
        market: 9,
        ..order(&a, true, 100, 1, 3)
    };
    attempts.push((
        unknown.clone(),
        sign(&ex, &a, &unknown),
        PixieError::UnknownMarket(9),
    ));
    let zero = order(&a, true, 100, 0, 3);
    attempts.push((zero.clone(), sign(&ex, &a, &zero), PixieError::ZeroAmount));
    let big = order(&a, true, 100, 100, 3);
    attempts.push((
        big.clone(),
        sign(&ex, &a, &big),
        PixieError::InsufficientBalance {
            token: QUOTE,
            available: 9_000,
            needed: 100_000,
        },
    ));
    let huge = order(&a, true, 100, (1 << 48) + 1, 3);
    attempts.push((
        huge.clone(),
        sign(&ex, &a, &huge),
        PixieError::TooLarge {
            lots: (1 << 48) + 1,
            max: 1 << 48,
        },
    ));
    let short_sig = order(&a, true, 100, 1, 3);
    attempts.push((short_sig, vec![0u8; 64], PixieError::BadSignature));
    for (order, signature, error) in attempts {
        assert_eq!(ex.place(order, &signature, T0), Err(error));
        assert_eq!(ex, before);
    }

    assert_eq!(
        ex.cancel(b.address(), first),
        Err(PixieError::UnknownOrder(first))
    );
    assert_eq!(
        ex.withdraw(a.address(), QUOTE, 9_001),
        Err(PixieError::InsufficientBalance {
            token: QUOTE,
            available: 9_000,
            needed: 9_001
        })
    );
    assert_eq!(
        ex.deposit(a.address(), QUOTE, u128::MAX),
        Err(PixieError::Overflow)
    );
    assert_eq!(ex, before);

    // The per-trader limit.
    place(&mut ex, &a, order(&a, false, 200, 1, 4), T0);
    let third = order(&a, true, 100, 1, 5);
    let signature = sign(&ex, &a, &third);
    assert_eq!(
        ex.place(third, &signature, T0),
        Err(PixieError::TooManyOrders(2))
    );
}

#[test]
fn a_nonce_can_be_voided_before_its_order_is_placed() {
    let a = trader(1);
    let mut ex = exchange(0);
    fund(&mut ex, &a, 0, 10_000);
    let id = place(&mut ex, &a, order(&a, true, 100, 1, 1), T0);
    assert_eq!(
        ex.cancel_nonce(a.address(), 1),
        Ok(NonceCancel::Cancelled(id))
    );
    assert_eq!(ex.balance(a.address(), QUOTE), bal(10_000, 0));
    assert_eq!(ex.cancel_nonce(a.address(), 2), Ok(NonceCancel::Voided));
    assert_eq!(
        ex.cancel_nonce(a.address(), 2),
        Err(PixieError::NonceUsed(2))
    );
    // A relayer holding the order signed with nonce 2 can no longer place it.
    let held = order(&a, true, 100, 1, 2);
    let signature = sign(&ex, &a, &held);
    assert_eq!(
        ex.place(held, &signature, T0),
        Err(PixieError::NonceUsed(2))
    );
}

#[test]
fn orders_are_bound_to_the_chain_and_the_exchange() {
    let a = trader(1);
    let mut ex = exchange(0);
    fund(&mut ex, &a, 0, 10_000);
    let mut other = txnchain_pixie::Exchange::new(
        txnchain_pixie::Config {
            chain_id: CHAIN_ID + 1,
            ..ex.config().clone()
        },
        txnchain_pixie::MemorySlots::default(),
    );
    other.list_market(ex.market(1).unwrap().clone()).unwrap();
    let o = order(&a, true, 100, 1, 1);
    let signed_elsewhere = sign(&other, &a, &o);
    assert!(matches!(
        ex.place(o, &signed_elsewhere, T0),
        Err(PixieError::WrongSigner { .. })
    ));
}
