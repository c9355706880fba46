//! The `txnchain` command.

mod attest;
mod bench;
mod confidential;
mod dex;
mod duration;
mod ledger;
mod receipt;
mod secrets;
mod x402;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use alloy_primitives::U256;
use anyhow::Context;
use clap::{Parser, Subcommand};
use txnchain_node::dev::{DevOptions, dev_genesis};
use txnchain_node::{NodeConfig, start};
use txnchain_primitives::GenesisConfig;

#[derive(Parser)]
#[command(
    name = "txnchain",
    version,
    about = "TxnChain: a confidential EVM ledger"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a single-node development chain with prefunded accounts (like anvil).
    Dev(DevArgs),
    /// Run a node from a genesis file (no dev accounts, signing methods refused).
    Node(NodeArgs),
    /// Print the dev chain's genesis as geth-style JSON (a starting point for `node --genesis`).
    Genesis(GenesisArgs),
    /// Verify attestation evidence (a node's, or a file).
    Attest(attest::AttestArgs),
    /// Benchmarks against a running node.
    Bench(bench::BenchArgs),
    /// Standalone x402 facilitator over JSON-RPC (trusts its RPC endpoint).
    Facilitator(x402::facilitator::FacilitatorArgs),
    /// Reverse proxy that puts an HTTP service behind x402.
    Paywall(x402::paywall::PaywallArgs),
    /// Fetch a URL, paying its x402 price within a spend policy.
    Pay(x402::pay::PayArgs),
    /// Call a contract function (`--confidential`: sealed to the network, result opened).
    Call(confidential::CallArgs),
    /// Send a transaction calling a contract function (`--confidential`: sealed, result opened).
    Send(confidential::SendArgs),
    /// Fetch a transaction's receipt, or verify one offline against the service identity.
    Receipt(receipt::ReceiptArgs),
    /// Audit a node's ledger: rebuild the ledger tree from its blocks and receipts and check
    /// every header, extraData and signed root against the trusted service identity.
    Ledger(ledger::LedgerArgs),
    /// Pixie DEX: deposit, place and cancel sealed orders, read your orders, fills and balances.
    Dex(dex::DexArgs),
}

#[derive(clap::Args)]
struct CommonArgs {
    /// Persist the chain here; without it a temporary directory is used and deleted at exit.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to serve JSON-RPC (HTTP and WebSocket) on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to serve on (0 picks a free one).
    #[arg(long, default_value_t = 8545)]
    port: u16,
    /// Block cadence: below 1s, blocks are cut on demand at most this often (nothing while
    /// idle); 1s or more gives fixed-interval blocks, empty or not. Examples: 10ms, 2s.
    #[arg(long, default_value = "10ms", value_parser = duration::parse)]
    block_interval: Duration,
    /// Keep the state of every block (default: the last 10,000 blocks or hour, whichever is more).
    #[arg(long)]
    archive: bool,
    /// Serve an admin JSON-RPC listener here (every method, including `debug_*` and
    /// `txpool_content`), e.g. 127.0.0.1:8555. Off by default; keep it on loopback.
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Limits on what clients may make the node do (docs/security.md lists them all).
#[derive(clap::Args)]
struct LimitArgs {
    /// Gas of one eth_call / eth_estimateGas / eth_createAccessList / debug_traceCall at most.
    #[arg(long, default_value_t = 50_000_000)]
    rpc_gas_cap: u64,
    /// How long one call may execute.
    #[arg(long, default_value = "5s", value_parser = duration::parse)]
    rpc_evm_timeout: Duration,
    /// Threads that run calls, traces and log scans for clients (default: cores - 1, at least 1).
    #[arg(long)]
    rpc_call_threads: Option<usize>,
    /// Largest block range of eth_getLogs (default: 10,000 in `node`; none in `dev`, as on
    /// anvil, where the scan is bounded by --rpc-evm-timeout and --rpc-max-logs alone).
    #[arg(long)]
    rpc_max_log_range: Option<u64>,
    /// Most results of eth_getLogs.
    #[arg(long, default_value_t = 10_000)]
    rpc_max_logs: usize,
    /// Open TCP connections at most (default: 4096, or 3/4 of the open-file limit).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Open TCP connections per client address (IPv6: per /64) at most.
    #[arg(long, default_value_t = 256)]
    max_connections_per_ip: usize,
    /// HTTP JSON-RPC requests in flight per client address at most.
    #[arg(long, default_value_t = 128)]
    max_requests_per_ip: usize,
    /// WebSocket connections per client address at most.
    #[arg(long, default_value_t = 64)]
    max_ws_per_ip: usize,
    /// Installed filters per client address at most.
    #[arg(long, default_value_t = 512)]
    max_filters_per_ip: usize,
}

impl LimitArgs {
    /// The limits of a `dev` node (`dev`) or of a `node`.
    fn limits(&self, dev: bool) -> txnchain_node::Limits {
        let mut l = txnchain_node::Limits::default();
        if let Some(n) = self.max_connections {
            l.serve.max_connections = n;
        }
        l.serve.max_connections_per_client = self.max_connections_per_ip;
        l.rpc.max_http_requests_per_client = self.max_requests_per_ip;
        l.rpc.max_ws_connections_per_client = self.max_ws_per_ip;
        l.eth.gas_cap = self.rpc_gas_cap;
        l.eth.evm_timeout = self.rpc_evm_timeout;
        if let Some(t) = self.rpc_call_threads {
            l.eth.exec_threads = t;
        }
        l.eth.max_log_range = match self.rpc_max_log_range {
            Some(n) => n,
            None if dev => u64::MAX,
            None => 10_000,
        };
        l.eth.max_logs = self.rpc_max_logs;
        l.eth.max_filters_per_client = self.max_filters_per_ip;
        l
    }
}

#[derive(clap::Args)]
struct TeeArgs {
    /// TEE platform: auto (hardware only; never falls back to virtual), virtual, sev-snp, tdx.
    #[arg(long)]
    tee: Option<txnchain_tee::TeeChoice>,
    /// configfs-tsm report directory.
    #[arg(long, default_value = "/sys/kernel/config/tsm/report")]
    tsm_root: PathBuf,
    /// SEV-SNP: directory holding the VCEK/ASK/ARK when the host does not supply them.
    #[arg(long)]
    snp_cert_dir: Option<PathBuf>,
    /// TDX: directory holding DCAP collateral to include in evidence.
    #[arg(long)]
    tdx_collateral_dir: Option<PathBuf>,
    /// The network's verification policy (TOML, as for `attest verify --policy`): its
    /// minimum TCB is the floor for this node's sealing (SEV-SNP keys are derived at the
    /// committed TCB, never below it, and blobs bound below it are refused).
    #[arg(long)]
    tee_policy: Option<PathBuf>,
}

impl TeeArgs {
    fn platform(&self) -> anyhow::Result<txnchain_tee::PlatformConfig> {
        let sealing = match &self.tee_policy {
            Some(path) => txnchain_tee::sealing::SealingConfig::from_policy(
                &txnchain_tee::Policy::load(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            ),
            None => Default::default(),
        };
        Ok(txnchain_tee::PlatformConfig {
            configfs_root: self.tsm_root.clone(),
            snp_cert_dir: self.snp_cert_dir.clone(),
            tdx_collateral_dir: self.tdx_collateral_dir.clone(),
            sealing,
            ..Default::default()
        })
    }
}

#[derive(clap::Args)]
struct DevArgs {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    tee: TeeArgs,
    #[command(flatten)]
    dev: DevGenesisArgs,
    /// Use this geth-style genesis JSON instead of the generated one (dev keys still sign).
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// Sends answer at admission, not once their transaction is committed; blocks are still
    /// cut as soon as there is work (what `node` does). `evm_setAutomine` switches at run time.
    #[arg(long)]
    no_automine: bool,
    /// Answer `web3_clientVersion` with this instead of `txnchain/v…`. Tools that gate their
    /// dev-node helpers on the client name (hardhat-network-helpers accepts names starting
    /// with `anvil`, `HardhatNetwork` or `zksync`) need e.g. `anvil/txnchain`.
    #[arg(long, value_name = "NAME")]
    client_version: Option<String>,
}

#[derive(clap::Args)]
struct DevGenesisArgs {
    /// Chain id.
    #[arg(long, default_value_t = txnchain_primitives::chain::DEV_CHAIN_ID)]
    chain_id: u64,
    /// Number of prefunded dev accounts.
    #[arg(long, default_value_t = 10)]
    accounts: u32,
    /// Balance of each dev account, in ETH.
    #[arg(long, default_value_t = 10_000)]
    balance: u64,
}

impl DevGenesisArgs {
    fn options(&self) -> DevOptions {
        DevOptions {
            chain_id: self.chain_id,
            accounts: self.accounts,
            balance: U256::from(self.balance) * U256::from(10u64).pow(U256::from(18)),
        }
    }
}

#[derive(clap::Args)]
struct GenesisArgs {
    #[command(flatten)]
    dev: DevGenesisArgs,
}

#[derive(clap::Args)]
struct NodeArgs {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    tee: TeeArgs,
    /// Geth-style genesis JSON.
    #[arg(long)]
    genesis: PathBuf,
    /// Start even though the genesis funds keys of the public test mnemonic (or names them as
    /// token owner or minter), or x402 settlement keys come from it. Anyone can sign with
    /// those keys: only for throwaway test networks.
    #[arg(long)]
    allow_dev_keys: bool,
    #[command(flatten)]
    x402: x402::node::NodeX402Args,
}

fn read_genesis(path: &PathBuf) -> anyhow::Result<GenesisConfig> {
    let json =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    GenesisConfig::from_json(&json).with_context(|| format!("parsing {}", path.display()))
}

fn print_accounts(keys: &[alloy_signer_local::PrivateKeySigner], balance_eth: u64) {
    println!("\nAvailable Accounts\n==================\n");
    for (i, k) in keys.iter().enumerate() {
        println!(
            "({i}) {} ({balance_eth}.000000000000000000 ETH)",
            k.address()
        );
    }
    println!("\nPrivate Keys\n==================\n");
    for (i, k) in keys.iter().enumerate() {
        println!("({i}) 0x{}", alloy_primitives::hex::encode(k.to_bytes()));
    }
    println!(
        "\nWallet\n==================\nMnemonic:          {}\nDerivation path:   m/44'/60'/0'/0/\n",
        txnchain_primitives::dev::DEV_MNEMONIC
    );
}

/// `txnchain node` refuses a genesis or x402 keys that anyone can sign for, unless
/// `--allow-dev-keys` says this is a throwaway network.
fn refuse_dev_keys(
    genesis: &GenesisConfig,
    x402: Option<&txnchain_node::x402::X402Config>,
    allowed: bool,
) -> anyhow::Result<()> {
    let mut findings = txnchain_node::dev::dev_key_findings(genesis)?;
    if let Some(x) = x402 {
        for k in &x.keys {
            if txnchain_node::dev::is_public_test_address(k.address())? {
                findings.push(format!(
                    "x402 settlement key {} comes from the public test mnemonic",
                    k.address()
                ));
            }
        }
    }
    if findings.is_empty() {
        return Ok(());
    }
    if allowed {
        for f in &findings {
            tracing::warn!("--allow-dev-keys: {f}");
        }
        return Ok(());
    }
    anyhow::bail!(
        "refusing to start: this network depends on keys of the public test mnemonic, which anyone can sign with:\n  - {}\nUse your own keys in genesis (see `txnchain genesis` for the format), or pass --allow-dev-keys for a throwaway test network.",
        findings.join("\n  - ")
    )
}

async fn run(config: NodeConfig) -> anyhow::Result<()> {
    let chain_id = config.genesis.spec.chain_id;
    let node = start(config).await?;
    println!("Chain ID: {chain_id}");
    if let Some(admin) = node.admin_addr {
        println!("Admin listening on {admin}");
    }
    println!("Listening on {}", node.addr);
    wait_for_signal().await;
    tracing::info!("shutting down");
    node.stop().await;
    Ok(())
}

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn main() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // No colour escape codes in log files and pipes.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    // One TLS crypto provider for every HTTPS client the commands make.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Dev(a) => {
                let (mut genesis, keys) = dev_genesis(&a.dev.options())?;
                if let Some(path) = &a.genesis {
                    genesis = read_genesis(path)?;
                }
                tracing::warn!(
                    "dev mode: accounts use the public test mnemonic; never use them for real value"
                );
                if !a.common.host.is_loopback() {
                    tracing::warn!(
                        host = %a.common.host,
                        "DEV MODE OFF LOOPBACK: anyone who can reach this port can sign and send \
                         transactions from the unlocked dev accounts (eth_sendTransaction, eth_sign), \
                         drain them, and call it from any web page (CORS *). Use `txnchain node` for \
                         anything reachable from other hosts."
                    );
                    eprintln!(
                        "WARNING: dev mode on {}: unlocked dev accounts and CORS * are exposed to the network",
                        a.common.host
                    );
                }
                print_accounts(&keys, a.dev.balance);
                let c = a.common;
                run(NodeConfig {
                    data_dir: c.data_dir,
                    listen: SocketAddr::new(c.host, c.port),
                    genesis,
                    dev_signers: keys,
                    block_interval: c.block_interval,
                    client_version: a.client_version,
                    mining: Some(if a.no_automine {
                        txnchain_node::MiningMode::OnDemand
                    } else {
                        txnchain_node::MiningMode::Automine
                    }),
                    archive: c.archive,
                    cors_origins: Some(vec!["*".into()]),
                    tee: a.tee.tee.unwrap_or(txnchain_tee::TeeChoice::Virtual),
                    platform: a.tee.platform()?,
                    x402: Some(txnchain_node::x402::X402Config::dev()?),
                    admin_listen: c.admin_listen,
                    admin_methods_public: true,
                    limits: c.limits.limits(true),
                })
                .await
            }
            Command::Node(a) => {
                let genesis = read_genesis(&a.genesis)?;
                let x402 = x402::node::config(&a.x402)?;
                refuse_dev_keys(&genesis, x402.as_ref(), a.allow_dev_keys)?;
                let c = a.common;
                run(NodeConfig {
                    data_dir: c.data_dir,
                    listen: SocketAddr::new(c.host, c.port),
                    genesis,
                    dev_signers: vec![],
                    block_interval: c.block_interval,
                    client_version: None,
                    mining: None,
                    archive: c.archive,
                    cors_origins: None,
                    tee: a.tee.tee.unwrap_or_default(),
                    platform: a.tee.platform()?,
                    x402,
                    admin_listen: c.admin_listen,
                    admin_methods_public: false,
                    limits: c.limits.limits(false),
                })
                .await
            }
            Command::Genesis(a) => {
                let (genesis, _) = dev_genesis(&a.dev.options())?;
                println!("{:#}", genesis.to_json());
                Ok(())
            }
            Command::Attest(args) => std::process::exit(attest::run(args).await),
            Command::Bench(args) => bench::run(args).await,
            Command::Facilitator(args) => x402::facilitator::run(args).await,
            Command::Paywall(args) => x402::paywall::run(args).await,
            Command::Pay(args) => std::process::exit(x402::pay::run(args).await?),
            Command::Call(args) => confidential::call(args).await,
            Command::Send(args) => confidential::send(args).await,
            Command::Receipt(args) => std::process::exit(receipt::run(args).await),
            Command::Ledger(args) => std::process::exit(ledger::run(args).await),
            Command::Dex(args) => dex::run(args).await,
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    fn limits(args: &[&str]) -> txnchain_node::Limits {
        let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
        match cli.command {
            Command::Dev(a) => a.common.limits.limits(true),
            Command::Node(a) => a.common.limits.limits(false),
            _ => panic!("not a node command"),
        }
    }

    #[test]
    fn log_range_is_unlimited_in_dev_and_10000_in_node_unless_set() {
        assert_eq!(limits(&["txnchain", "dev"]).eth.max_log_range, u64::MAX);
        let node = ["txnchain", "node", "--genesis", "g.json"];
        assert_eq!(limits(&node).eth.max_log_range, 10_000);
        let set = ["txnchain", "dev", "--rpc-max-log-range", "50"];
        assert_eq!(limits(&set).eth.max_log_range, 50);
        assert_eq!(limits(&["txnchain", "dev"]).eth.max_logs, 10_000);
    }
}
