//! `txnchain facilitator --rpc URL --key …`: a standalone x402 facilitator over JSON-RPC.
//!
//! It trusts its RPC endpoint: balances, authorization state, simulations and receipts all
//! come from it. Run it against a node you operate.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use alloy_primitives::Address;
use alloy_sol_types::{SolCall, sol};
use anyhow::Context;
use txnchain_x402::chain::CallOutcome;
use txnchain_x402::server::{Access, ServerConfig};
use txnchain_x402::{Chain, Facilitator, FacilitatorConfig, JsonRpcChain, TokenInfo};

sol! {
    interface IToken {
        function name() external view returns (string);
        function version() external view returns (string);
        function symbol() external view returns (string);
        function decimals() external view returns (uint8);
    }
}

/// Arguments.
#[derive(clap::Args)]
pub struct FacilitatorArgs {
    /// JSON-RPC endpoint of the chain (trusted).
    #[arg(long)]
    rpc: String,
    /// Settlement key (hex); repeat for a pool. Also TXNCHAIN_FACILITATOR_KEYS (comma-separated).
    #[arg(
        long = "key",
        env = "TXNCHAIN_FACILITATOR_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    keys: Vec<String>,
    /// Address to serve on (`/verify`, `/settle`, `/supported`, `/metrics`, also under `/x402`).
    #[arg(long, default_value = "127.0.0.1:8403")]
    listen: SocketAddr,
    /// The EIP-3009 token advertised (default: the dev stablecoin).
    #[arg(long, default_value_t = txnchain_node::dev::STABLECOIN)]
    token: Address,
    /// Settle only for these payees (repeat).
    #[arg(long = "allow-pay-to")]
    allow_pay_to: Vec<Address>,
    /// Settle for any payee on requests bearing one of these tokens (repeat). Also
    /// TXNCHAIN_FACILITATOR_TOKENS (comma-separated).
    #[arg(
        long = "bearer-token",
        env = "TXNCHAIN_FACILITATOR_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    bearer_tokens: Vec<String>,
    /// Settle for every payee (dev only: the facilitator pays the gas).
    #[arg(long)]
    open: bool,
    /// verify + settle requests per second per client IP.
    #[arg(long, default_value_t = 200)]
    rate_limit: u32,
}

async fn view<T: SolCall>(
    chain: &JsonRpcChain,
    token: Address,
    call: T,
) -> anyhow::Result<T::Return> {
    match chain
        .call(Address::ZERO, token, call.abi_encode().into(), None)
        .await?
    {
        CallOutcome::Success(b) => T::abi_decode_returns(&b).context("decoding the token's answer"),
        other => anyhow::bail!("token {token} call failed: {other:?}"),
    }
}

/// Runs the facilitator until interrupted.
pub async fn run(a: FacilitatorArgs) -> anyhow::Result<()> {
    let keys = a
        .keys
        .iter()
        .filter(|k| !k.trim().is_empty())
        .map(|k| super::parse_key(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!keys.is_empty(), "at least one --key is required");
    let access = if a.open {
        Access::Open
    } else {
        anyhow::ensure!(
            !a.allow_pay_to.is_empty() || !a.bearer_tokens.is_empty(),
            "refusing to start: give --allow-pay-to, --bearer-token, or --open (dev)"
        );
        Access::Restricted {
            pay_to: a.allow_pay_to.iter().copied().collect(),
            tokens: a.bearer_tokens.iter().cloned().collect::<HashSet<_>>(),
        }
    };
    let chain = JsonRpcChain::connect(&a.rpc)
        .await
        .with_context(|| format!("connecting to {}", a.rpc))?;
    tracing::warn!(rpc = %a.rpc, "standalone facilitator: trusting this RPC endpoint for state, simulation and receipts");
    let token = TokenInfo {
        address: a.token,
        name: view(&chain, a.token, IToken::nameCall {}).await?,
        version: view(&chain, a.token, IToken::versionCall {}).await?,
        symbol: view(&chain, a.token, IToken::symbolCall {}).await?,
        decimals: view(&chain, a.token, IToken::decimalsCall {}).await?,
    };
    let chain_id = chain.chain_id();
    let facilitator = Facilitator::new(chain, FacilitatorConfig::new(token.clone(), keys))?;
    facilitator.check_balances().await;
    let routes = txnchain_x402::server::router(
        facilitator.clone(),
        ServerConfig {
            access,
            rate_limit_per_sec: a.rate_limit,
        },
    );
    let app = axum::Router::new()
        .nest("/x402", routes.clone())
        .merge(routes);
    let listener = tokio::net::TcpListener::bind(a.listen).await?;
    let addr = listener.local_addr()?;
    println!(
        "x402 facilitator for eip155:{chain_id} token {} ({})",
        token.address, token.name
    );
    println!("Listening on {addr}");
    let f2: Arc<_> = facilitator.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            f2.check_balances().await;
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(crate::wait_for_signal())
    .await?;
    Ok(())
}
