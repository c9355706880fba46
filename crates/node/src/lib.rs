//! A running TxnChain node: opens storage, writes or checks genesis, starts the block builder
//! on the log, and serves JSON-RPC (HTTP and WebSocket on one port) and `/metrics`.
//!
//! A single node is a cluster of one: it runs the same pipeline (builder → log → apply →
//! notify) that consensus will drive, with [`LocalLog`](txnchain_ledger::LocalLog) as its log.

mod attestation;
mod confidential;
pub mod dev;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod ledger;
mod metrics;
pub mod secrets;
pub mod x402;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy_signer_local::PrivateKeySigner;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use txnchain_ledger::{BlockMode, Builder, Ledger, LocalLog, Mempool, PoolLimits};
use txnchain_primitives::GenesisConfig;
use txnchain_rpc::{EthApi, EthApiConfig};
use txnchain_storage::{Store, StoreOptions};

pub use txnchain_ledger::MiningMode;

/// Errors starting or running a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Storage could not be opened or initialised.
    #[error("storage: {0}")]
    Storage(#[from] txnchain_storage::StorageError),
    /// The ledger could not start.
    #[error(transparent)]
    Ledger(#[from] txnchain_ledger::LedgerError),
    /// I/O (data directory, socket).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The RPC module could not be built.
    #[error("rpc: {0}")]
    Rpc(String),
    /// The TEE platform or node identity could not be set up.
    #[error(transparent)]
    Tee(#[from] txnchain_tee::TeeError),
    /// The network secrets could not be created or unsealed.
    #[error("network secrets: {0}")]
    Secrets(String),
    /// The x402 facilitator could not be set up.
    #[error("x402: {0}")]
    X402(#[from] txnchain_x402::X402Error),
}

/// Everything a node needs to start.
pub struct NodeConfig {
    /// Data directory; `None` runs on a temporary directory deleted at exit.
    pub data_dir: Option<PathBuf>,
    /// Address to serve RPC on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Genesis.
    pub genesis: GenesisConfig,
    /// Dev accounts the signing methods use (empty outside dev).
    pub dev_signers: Vec<PrivateKeySigner>,
    /// Block cadence.
    pub block_interval: Duration,
    /// `dev` mining: automine, on demand or manual, switchable over JSON-RPC (`evm_mine`,
    /// `evm_setAutomine`, time travel); `None` outside `dev`, where none of it is served.
    pub mining: Option<MiningMode>,
    /// `web3_clientVersion` (default `txnchain/v<version>`).
    pub client_version: Option<String>,
    /// Keep all historical state.
    pub archive: bool,
    /// CORS origins for the RPC (`["*"]` in dev).
    pub cors_origins: Option<Vec<String>>,
    /// The TEE platform to run on (`dev` uses `virtual` explicitly; `auto` never falls back
    /// to it).
    pub tee: txnchain_tee::TeeChoice,
    /// Platform options (configfs root, certificate and collateral caches).
    pub platform: txnchain_tee::PlatformConfig,
    /// The x402 facilitator served under `/x402` (`None`: not served).
    pub x402: Option<x402::X402Config>,
    /// Where to serve the admin JSON-RPC listener (every method, `debug_*` and
    /// `txpool_content` included); `None`: no admin listener.
    pub admin_listen: Option<SocketAddr>,
    /// Serve the admin-only methods on the public listener too (dev).
    pub admin_methods_public: bool,
    /// Limits of the listeners, the JSON-RPC server and the eth API.
    pub limits: Limits,
}

/// Every limit a client runs into, in one place (defaults: `docs/security.md`).
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Connections, header and write deadlines of each listener.
    pub serve: txnchain_http::ServeLimits,
    /// JSON-RPC transport limits (bodies, batches, requests in flight, WebSockets).
    pub rpc: txnchain_jsonrpc::ServerConfig,
    /// Gas cap, EVM timeout, filters, subscriptions, call workers.
    pub eth: EthLimits,
}

/// The eth API's limits (see [`EthApiConfig`] for their meaning and defaults).
#[derive(Debug, Clone)]
pub struct EthLimits {
    /// [`EthApiConfig::gas_cap`].
    pub gas_cap: u64,
    /// [`EthApiConfig::evm_timeout`].
    pub evm_timeout: Duration,
    /// [`EthApiConfig::max_log_range`].
    pub max_log_range: u64,
    /// [`EthApiConfig::max_logs`].
    pub max_logs: usize,
    /// [`EthApiConfig::max_filters_per_client`].
    pub max_filters_per_client: usize,
    /// [`EthApiConfig::exec`]: worker threads for calls.
    pub exec_threads: usize,
}

impl Default for EthLimits {
    fn default() -> Self {
        let d = EthApiConfig::default();
        EthLimits {
            gas_cap: d.gas_cap,
            evm_timeout: d.evm_timeout,
            max_log_range: d.max_log_range,
            max_logs: d.max_logs,
            max_filters_per_client: d.max_filters_per_client,
            exec_threads: d.exec.threads,
        }
    }
}

/// A started node.
pub struct RunningNode {
    /// The bound RPC address.
    pub addr: SocketAddr,
    /// The bound admin RPC address, when one is served.
    pub admin_addr: Option<SocketAddr>,
    /// The ledger.
    pub ledger: Arc<Ledger>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    _temp: Option<tempfile::TempDir>,
}

impl RunningNode {
    /// Stops the builder and the server and waits for them.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Serves one listener until shutdown.
fn spawn_listener(
    name: &'static str,
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: txnchain_http::ServeLimits,
    served: txnchain_http::Served,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        if let Err(e) = txnchain_http::serve_with(listener, router, limits, served, stop).await {
            tracing::error!(listener = name, error = %e, "rpc server failed");
        }
    })
}

/// Opens storage, initialises genesis, and starts the builder and the RPC server.
pub async fn start(config: NodeConfig) -> Result<RunningNode, NodeError> {
    let platform = txnchain_tee::select_platform(config.tee, &config.platform)?;
    txnchain_tee::log_startup(platform.as_ref());
    let identity = Arc::new(txnchain_tee::NodeIdentity::generate(
        txnchain_tee::IdentityAlgorithm::Ed25519,
    )?);
    let platform_kind = platform.kind();
    let (dir, temp) = match &config.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            (d.clone(), None)
        }
        None => {
            let t = tempfile::Builder::new().prefix("txnchain-").tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let options = StoreOptions {
        archive: config.archive,
        ..StoreOptions::default()
    };
    let chain_path = dir.join("chain.redb");
    let (keys, created) = secrets::load_or_create(
        &dir,
        platform_kind,
        &config.platform.sealing,
        config.genesis.spec.chain_id,
        chain_path.exists(),
    )?;
    let keys = Arc::new(keys);
    let service_identity = format!("0x{}", hex::encode(keys.service_identity()));
    if created {
        tracing::info!(%service_identity, "network secrets created and sealed");
    } else {
        tracing::info!(%service_identity, "network secrets unsealed");
    }
    let attestation = Arc::new(
        txnchain_tee::NodeAttestation::new(platform, identity)?
            .with_service_identity(&keys.service_identity()),
    );
    let store = Arc::new(Store::open(
        &chain_path,
        options,
        txnchain_storage::at_rest_codec(keys.ledger()),
    )?);
    let genesis_hash = txnchain_ledger::genesis::init_genesis(&store, &config.genesis)?;
    let spec = config.genesis.spec.clone();
    let pool = Arc::new(Mempool::new(PoolLimits::default(), &spec));
    let ledger = Arc::new(
        Ledger::new(spec.clone(), store.clone(), pool, true)?.with_network_keys(keys.clone())?,
    );
    let head = *ledger.head().borrow();
    tracing::info!(%genesis_hash, head, chain_id = spec.chain_id, data_dir = %dir.display(), "chain opened");

    let (shutdown, shutdown_rx) = watch::channel(false);
    let log = Arc::new(LocalLog::new(ledger.clone()));
    let builder = Builder::new(
        ledger.clone(),
        log,
        BlockMode::from_interval(config.block_interval),
    );
    let (builder, mining) = match config.mining {
        Some(mode) => {
            let (control, requests) = txnchain_ledger::MiningControl::new(mode);
            tracing::info!(
                ?mode,
                "dev mining (evm_setAutomine, evm_mine and time travel served)"
            );
            (builder.with_mining(requests), Some(control))
        }
        None => (builder, None),
    };
    let mut tasks = vec![tokio::spawn(builder.run(shutdown_rx.clone()))];

    let eth = &config.limits.eth;
    let defaults = EthApiConfig::default();
    let api = EthApi::new(
        ledger.clone(),
        EthApiConfig {
            client_version: config
                .client_version
                .clone()
                .unwrap_or_else(|| format!("txnchain/v{}", env!("CARGO_PKG_VERSION"))),
            dev_signers: config.dev_signers.clone(),
            mining: mining.clone(),
            gas_cap: eth.gas_cap,
            evm_timeout: eth.evm_timeout,
            max_log_range: eth.max_log_range,
            max_logs: eth.max_logs,
            max_filters_per_client: eth.max_filters_per_client,
            exec: txnchain_executor::pool::PoolLimits {
                threads: eth.exec_threads.max(1),
                ..defaults.exec
            },
            ..defaults
        },
    )?;
    let mut public_module = txnchain_rpc::module().map_err(NodeError::Rpc)?;
    if mining.is_some() {
        public_module
            .merge(txnchain_rpc::dev_module().map_err(NodeError::Rpc)?)
            .map_err(|e| NodeError::Rpc(e.to_string()))?;
    }
    if !config.admin_methods_public {
        let hidden = public_module.retain(|m| !txnchain_rpc::admin_only(m));
        tracing::info!(
            methods = ?hidden,
            "admin-only methods are not served on the public listener{}",
            if config.admin_listen.is_some() { " (see the admin listener)" } else { "" }
        );
    }
    let module = Arc::new(public_module);
    let server_config = txnchain_jsonrpc::ServerConfig {
        cors_origins: config.cors_origins.clone(),
        ..config.limits.rpc.clone()
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let x402 = match config.x402.clone() {
        Some(x) => Some(x402::router(ledger.clone(), x, addr).await?),
        None => None,
    };
    let facilitator = x402.as_ref().map(|(_, f)| f.clone());
    let public_served = txnchain_http::Served {
        metrics: Arc::new(txnchain_http::ServeMetrics::default()),
        connections: txnchain_http::Quota::new(
            "connections",
            config.limits.serve.max_connections,
            config.limits.serve.max_connections_per_client,
        ),
    };
    let mut router = txnchain_jsonrpc::router(module.clone(), api.clone(), server_config.clone())
        .merge(metrics::router(
            ledger.clone(),
            module,
            facilitator,
            public_served.clone(),
        ))
        .merge(attestation::router(
            attestation,
            attestation::default_limits(),
        ))
        .merge(confidential::router(api.clone()))
        .merge(ledger::router(
            ledger.clone(),
            api.clone(),
            txnchain_ledger::receipts::Signer {
                chain_id: spec.chain_id,
                service_identity: keys.service_identity(),
            },
            ledger::WAIT_MAX,
        ));
    if let Some((x402_router, facilitator)) = x402 {
        router = router.nest("/x402", x402_router);
        let signers = facilitator.signers();
        tracing::info!(
            ?signers,
            "x402 facilitator at /x402 (verify, settle, supported, metrics)"
        );
        let mut rx = shutdown_rx.clone();
        tasks.push(tokio::spawn(async move {
            // Low-balance check of the settlement keys at start and every minute, with a
            // summary of the minute's settlements.
            loop {
                facilitator.check_balances().await;
                facilitator.log_settlement_summary();
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                    _ = rx.wait_for(|s| *s) => return,
                }
            }
        }));
    }
    tasks.push(spawn_listener(
        "public",
        listener,
        router,
        config.limits.serve.clone(),
        public_served,
        shutdown_rx.clone(),
    ));
    let admin_addr = match config.admin_listen {
        Some(admin) => {
            let mut module = txnchain_rpc::module().map_err(NodeError::Rpc)?;
            if mining.is_some() {
                module
                    .merge(txnchain_rpc::dev_module().map_err(NodeError::Rpc)?)
                    .map_err(|e| NodeError::Rpc(e.to_string()))?;
            }
            let module = Arc::new(module);
            let router = txnchain_jsonrpc::router(module, api, server_config);
            let listener = tokio::net::TcpListener::bind(admin).await?;
            let bound = listener.local_addr()?;
            if !bound.ip().is_loopback() {
                tracing::warn!(%bound, "the admin listener is reachable off this host: it serves traces and the pool's content to anyone who can connect");
            }
            tasks.push(spawn_listener(
                "admin",
                listener,
                router,
                config.limits.serve.clone(),
                txnchain_http::Served {
                    metrics: Arc::new(txnchain_http::ServeMetrics::default()),
                    connections: txnchain_http::Quota::new(
                        "connections",
                        config.limits.serve.max_connections,
                        config.limits.serve.max_connections_per_client,
                    ),
                },
                shutdown_rx.clone(),
            ));
            tracing::info!(%bound, "admin JSON-RPC (debug_*, txpool_content)");
            Some(bound)
        }
        None => None,
    };
    Ok(RunningNode {
        addr,
        admin_addr,
        ledger,
        shutdown,
        tasks,
        _temp: temp,
    })
}
