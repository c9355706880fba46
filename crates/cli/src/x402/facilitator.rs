//! `txnchain facilitator --rpc URL --key …`: a standalone x402 facilitator over JSON-RPC.
//!
//! It trusts its RPC endpoint: balances, authorization state, simulations and receipts all
//! come from it. Run it against a node you operate.
//!
//! Settlement keys and bearer tokens come from files (`--key-file`, `--bearer-token-file`)
//! or the environment (`TXNCHAIN_FACILITATOR_KEYS`, `TXNCHAIN_FACILITATOR_TOKENS`), never
//! from the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use alloy_primitives::Address;
use alloy_sol_types::{SolCall, sol};
use anyhow::Context;
use txnchain_x402::chain::CallOutcome;
use txnchain_x402::server::{Access, BearerTokens, ServerConfig};

use crate::secrets;

/// Environment variable holding settlement keys when no key file is given.
pub(crate) const KEYS_ENV: &str = "TXNCHAIN_FACILITATOR_KEYS";
/// Environment variable holding bearer tokens when no token file is given.
pub(crate) const TOKENS_ENV: &str = "TXNCHAIN_FACILITATOR_TOKENS";
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
pub(crate) struct FacilitatorArgs {
    /// JSON-RPC endpoint of the chain (trusted).
    #[arg(long)]
    rpc: String,
    /// File of settlement keys (hex, one per line or comma-separated; keep it mode 0600).
    /// Without it, the TXNCHAIN_FACILITATOR_KEYS environment variable.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Address to serve on (`/verify`, `/settle`, `/supported`, `/metrics`, also under `/x402`).
    #[arg(long, default_value = "127.0.0.1:8403")]
    listen: SocketAddr,
    /// The EIP-3009 token advertised (default: the dev stablecoin).
    #[arg(long, default_value_t = txnchain_node::dev::STABLECOIN)]
    token: Address,
    /// Settle only for these payees (repeat).
    #[arg(long = "allow-pay-to")]
    allow_pay_to: Vec<Address>,
    /// File of bearer tokens, one per line: a request bearing one is settled for any payee.
    /// Without it, the TXNCHAIN_FACILITATOR_TOKENS environment variable (comma-separated).
    #[arg(long)]
    bearer_token_file: Option<PathBuf>,
    /// Settle for every payee (dev only: the facilitator pays the gas).
    #[arg(long)]
    open: bool,
    /// verify + settle requests per second per client address (IPv6: per /64).
    #[arg(long, default_value_t = 200)]
    rate_limit: u32,
    /// verify + settle requests per second over all clients.
    #[arg(long)]
    global_rate_limit: Option<u32>,
    /// Reverse proxies (comma-separated IPs) whose X-Forwarded-For names the client.
    #[arg(long)]
    trusted_proxy: Option<String>,
    /// Base URL of the chain node's REST API as buyers reach it: settle responses name the
    /// settlement's receipt there (`extra.receipt`). Default: the --rpc URL (a TxnChain node
    /// serves REST next to JSON-RPC).
    #[arg(long)]
    receipt_base_url: Option<String>,
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
pub(crate) async fn run(a: FacilitatorArgs) -> anyhow::Result<()> {
    let source = a
        .key_file
        .as_ref()
        .map_or_else(|| KEYS_ENV.to_string(), |p| p.display().to_string());
    let keys = match secrets::from_file_or_env(a.key_file.as_deref(), KEYS_ENV)? {
        Some(text) => secrets::parse_keys(&text, &source)?,
        None => vec![],
    };
    anyhow::ensure!(
        !keys.is_empty(),
        "settlement keys are required: --key-file PATH or {KEYS_ENV}"
    );
    let tokens = match secrets::from_file_or_env(a.bearer_token_file.as_deref(), TOKENS_ENV)? {
        Some(text) => BearerTokens::new(secrets::entries(&text)),
        None => BearerTokens::default(),
    };
    let access = if a.open {
        Access::Open
    } else {
        anyhow::ensure!(
            !a.allow_pay_to.is_empty() || !tokens.is_empty(),
            "refusing to start: give --allow-pay-to, bearer tokens (--bearer-token-file / {TOKENS_ENV}), or --open (dev)"
        );
        Access::Restricted {
            pay_to: a.allow_pay_to.iter().copied().collect(),
            tokens,
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
    let mut config = FacilitatorConfig::new(token.clone(), keys);
    config.receipt_base_url = Some(a.receipt_base_url.clone().unwrap_or_else(|| a.rpc.clone()));
    let facilitator = Facilitator::new(chain, config)?;
    facilitator.check_balances().await;
    let mut server = ServerConfig::new(access, a.rate_limit);
    server.global_rate_limit_per_sec = a.global_rate_limit;
    if let Some(list) = &a.trusted_proxy {
        server.trusted_proxies = txnchain_http::TrustedProxies::parse(list)?;
    }
    let routes = txnchain_x402::server::router(facilitator.clone(), server);
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
            f2.log_settlement_summary();
        }
    });
    txnchain_http::serve(
        listener,
        app,
        txnchain_http::ServeLimits::default(),
        crate::wait_for_signal(),
    )
    .await?;
    Ok(())
}
