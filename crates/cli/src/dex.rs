//! `txnchain dex`: Pixie DEX from the command line (docs/pixie.md). Orders, cancels, deposits
//! and withdrawals are sent as enveloped transactions and the trader's own state is read with
//! signed queries, both through `txnchain send/call --confidential` (so the network's key is
//! verified against the trusted service identity first); markets and clearings are public.

use std::path::PathBuf;

use alloy_primitives::{Address, B256, U256, address};
use alloy_signer::SignerSync;
use anyhow::Context;
use serde_json::json;
use txnchain_pixie::Order;

use crate::confidential::{self, CallArgs, Rpc, SendArgs, Target, quantity};

/// The exchange's address.
const PIXIE: Address = address!("0000000000000000000000000000000000000c02");
const KEY_ENV: &str = "TXNCHAIN_KEY";
const ORDER_TUPLE: &str = "(address,uint32,bool,uint64,uint64,uint64,uint64,uint64,bool)";

/// What every `dex` command takes.
#[derive(clap::Args)]
pub(crate) struct Common {
    /// The node's JSON-RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    rpc: String,
    /// The service identity to trust (0x + 32 bytes, e.g. printed by `txnchain attest verify`).
    #[arg(long)]
    service_identity: Option<String>,
    /// Or: verify the node's attestation evidence with this policy (a TOML file, or `dev`
    /// for virtual evidence) and trust the service identity it states.
    #[arg(long)]
    policy: Option<String>,
    /// File holding the trader's private key (hex); else `TXNCHAIN_KEY`.
    #[arg(long)]
    key_file: Option<PathBuf>,
}

/// `txnchain dex`.
#[derive(clap::Args)]
pub(crate) struct DexArgs {
    #[command(subcommand)]
    command: DexCommand,
}

#[derive(clap::Subcommand)]
enum DexCommand {
    /// The listed markets (public).
    Markets(Common),
    /// A market's recent batch results: batch, close time, price, lots, base volume (public).
    Clearings {
        #[command(flatten)]
        common: Common,
        /// The market.
        #[arg(long, default_value = "1")]
        market: u32,
    },
    /// Approve the exchange for `amount` of `token` and deposit it (atomic units).
    Deposit {
        #[command(flatten)]
        common: Common,
        /// The token.
        token: Address,
        /// How much, in the token's atomic units.
        amount: U256,
    },
    /// Withdraw free balance.
    Withdraw {
        #[command(flatten)]
        common: Common,
        /// The token.
        token: Address,
        /// How much, in the token's atomic units.
        amount: U256,
    },
    /// Sign a limit order with the trader's key and place it (enveloped).
    Order {
        #[command(flatten)]
        common: Common,
        /// The market.
        #[arg(long, default_value = "1")]
        market: u32,
        /// Buy base (else `--sell`).
        #[arg(long, conflicts_with = "sell", required_unless_present = "sell")]
        buy: bool,
        /// Sell base.
        #[arg(long)]
        sell: bool,
        /// Limit price, in ticks.
        #[arg(long)]
        price: u64,
        /// Amount, in lots.
        #[arg(long)]
        lots: u64,
        /// The order's nonce (default: milliseconds since the Unix epoch).
        #[arg(long)]
        nonce: Option<u64>,
        /// Trade in batches closing at a timestamp ≤ this (default: until cancelled).
        #[arg(long)]
        expiry: Option<u64>,
        /// Your own reference.
        #[arg(long, default_value = "0")]
        client_id: u64,
        /// Immediate or cancel: one batch, never rests.
        #[arg(long)]
        ioc: bool,
    },
    /// Cancel one of your open orders.
    Cancel {
        #[command(flatten)]
        common: Common,
        /// The order's id.
        id: B256,
    },
    /// Your open orders (signed query).
    Orders(Common),
    /// Your most recent fills (signed query).
    Fills(Common),
    /// Your balance of a token held by the exchange: free and locked (signed query).
    Balance {
        #[command(flatten)]
        common: Common,
        /// The token.
        token: Address,
    },
}

impl Common {
    fn target(&self, to: Address, signature: &str, args: Vec<String>) -> Target {
        Target::confidential(
            &self.rpc,
            to,
            self.service_identity.clone(),
            self.policy.clone(),
            signature,
            args,
        )
    }

    async fn send(&self, signature: &str, args: Vec<String>) -> anyhow::Result<()> {
        let target = self.target(PIXIE, signature, args);
        confidential::send(SendArgs::new(target, self.key_file.clone())).await
    }

    async fn query(&self, signature: &str, args: Vec<String>) -> anyhow::Result<()> {
        let target = self.target(PIXIE, signature, args);
        confidential::call(CallArgs::new(target, true, self.key_file.clone())).await
    }

    async fn public(&self, signature: &str, args: Vec<String>) -> anyhow::Result<()> {
        let target = self.target(PIXIE, signature, args).plain();
        confidential::call(CallArgs::new(target, false, None)).await
    }
}

pub(crate) async fn run(a: DexArgs) -> anyhow::Result<()> {
    match a.command {
        DexCommand::Markets(c) => {
            c.public(
                "markets() returns ((uint32,address,address,uint128,uint128,uint16,address)[])",
                vec![],
            )
            .await
        }
        DexCommand::Clearings { common, market } => {
            common
                .public(
                    "clearings(uint32) returns ((uint64,uint64,uint64,uint128,uint128)[])",
                    vec![market.to_string()],
                )
                .await
        }
        DexCommand::Deposit {
            common,
            token,
            amount,
        } => {
            // The approval is a public token operation anyway.
            let approve = common
                .target(
                    token,
                    "approve(address,uint256) returns (bool)",
                    vec![PIXIE.to_string(), amount.to_string()],
                )
                .plain();
            confidential::send(SendArgs::new(approve, common.key_file.clone())).await?;
            common
                .send(
                    "deposit(address,uint256)",
                    vec![token.to_string(), amount.to_string()],
                )
                .await
        }
        DexCommand::Withdraw {
            common,
            token,
            amount,
        } => {
            common
                .send(
                    "withdraw(address,uint256)",
                    vec![token.to_string(), amount.to_string()],
                )
                .await
        }
        DexCommand::Order {
            common,
            market,
            buy,
            sell: _,
            price,
            lots,
            nonce,
            expiry,
            client_id,
            ioc,
        } => {
            let Some(key) = crate::secrets::from_file_or_env(common.key_file.as_deref(), KEY_ENV)?
            else {
                anyhow::bail!("the trader's key is required: --key-file PATH or {KEY_ENV}");
            };
            let signer = crate::secrets::parse_key(&key)?;
            let rpc = Rpc::new(&common.rpc)?;
            let chain_id = quantity(&rpc.call("eth_chainId", json!([])).await?)?;
            let nonce = match nonce {
                Some(n) => n,
                None => u64::try_from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .context("the clock is before 1970")?
                        .as_millis(),
                )
                .context("the clock is past 2^64 ms")?,
            };
            let order = Order {
                trader: signer.address(),
                market,
                buy,
                price,
                lots,
                expiry: expiry.unwrap_or(u64::MAX),
                clientId: client_id,
                nonce,
                immediateOrCancel: ioc,
            };
            let domain = txnchain_pixie::order::domain(chain_id, PIXIE);
            let id = txnchain_pixie::order::order_id(&order, &domain);
            let signature = signer.sign_hash_sync(&id)?;
            eprintln!("order {id} (nonce {nonce})");
            let tuple = format!(
                "({},{},{},{},{},{},{},{},{})",
                order.trader,
                order.market,
                order.buy,
                order.price,
                order.lots,
                order.expiry,
                order.clientId,
                order.nonce,
                order.immediateOrCancel
            );
            common
                .send(
                    &format!("placeOrder({ORDER_TUPLE},bytes) returns (bytes32)"),
                    vec![
                        tuple,
                        format!("0x{}", alloy_primitives::hex::encode(signature.as_bytes())),
                    ],
                )
                .await
        }
        DexCommand::Cancel { common, id } => {
            common
                .send("cancelOrder(bytes32)", vec![id.to_string()])
                .await
        }
        DexCommand::Orders(c) => {
            c.query(
                &format!(
                    "openOrders() returns ((bytes32,{ORDER_TUPLE},uint64,uint128,uint64)[])"
                ),
                vec![],
            )
            .await
        }
        DexCommand::Fills(c) => {
            c.query(
                "fills() returns ((uint64,uint32,bytes32,bool,uint64,uint64,uint128,uint128,uint128)[])",
                vec![],
            )
            .await
        }
        DexCommand::Balance { common, token } => {
            common
                .query(
                    "balanceOf(address) returns ((uint128,uint128))",
                    vec![token.to_string()],
                )
                .await
        }
    }
}
