//! Untimed setup of `bench transfers`: spawning or connecting to the node, deriving and
//! funding the sender accounts, deploying TestToken, and pre-signing each run's transfers.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use alloy_consensus::TxEip1559;
use alloy_primitives::{Address, B256, Bytes, TxKind, U64, U256};
use alloy_sol_types::{SolCall, SolValue, sol};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::rpc::{self, MiniReceipt, Rpc, Tracker};
use super::sign::{Key, recipient, sign_all};
use super::{Kind, TransfersArgs};

sol! {
    function transfer(address to, uint256 value) returns (bool);
    function mint(address to, uint256 value);
}

const TEST_TOKEN_ARTIFACT: &str = include_str!("../../../../contracts/artifacts/TestToken.json");

/// A node this benchmark started.
pub(super) struct Spawned {
    child: tokio::process::Child,
    pub(super) pid: u32,
    pub(super) url: String,
    dir: tempfile::TempDir,
}

impl Spawned {
    /// Starts `txnchain dev` with `accounts` dev accounts and waits until it listens.
    pub(super) async fn start(extra: &[String], accounts: usize) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the txnchain executable")?;
        let dir = tempfile::Builder::new()
            .prefix("txnchain-bench-")
            .tempdir()?;
        let log = std::fs::File::create(dir.path().join("node.log"))?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg("dev")
            .args(["--port", "0", "--accounts", &accounts.to_string()])
            // Pipelined clients: sends answer at admission, as on a `node`.
            .arg("--no-automine")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("starting txnchain dev")?;
        let pid = child.id().context("spawned node has no pid")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix("Listening on ") {
                    return Ok(addr.trim().to_string());
                }
            }
            bail!(
                "txnchain dev exited before listening; see {}",
                dir.path().join("node.log").display()
            )
        })
        .await
        .context("txnchain dev did not start listening within 60 s")??;
        // Keep draining stdout so the node never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Spawned {
            child,
            pid,
            url: format!("http://{addr}"),
            dir,
        })
    }

    /// Kills the node and removes its data directory.
    pub(super) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        drop(self.dir);
    }
}

/// Everything a phase needs.
pub(super) struct Bench {
    pub(super) args: TransfersArgs,
    pub(super) url: String,
    /// `web3_clientVersion` of the node, or `unknown`.
    pub(super) client: String,
    rpc: Rpc,
    pub(super) tracker: Tracker,
    pub(super) chain_id: u64,
    max_fee: u128,
    funder: Key,
    funder_nonce: u64,
    pub(super) senders: Vec<Key>,
    nonces: Vec<u64>,
    token: Option<Address>,
    pub(super) erc20_gas: u64,
    confidential: Option<Confidential>,
}

/// The confidential token and what sealing to the network needs.
struct Confidential {
    token: Address,
    key: txnchain_crypto::keys::EpochPublicKey,
    epoch: u64,
    gas: u64,
}

const FUND_BATCH: usize = 500;
/// Gas assumed per ERC-20 transfer when computing how much ETH each sender needs.
const ERC20_GAS_BOUND: u64 = 150_000;

impl Bench {
    /// Connects to the node at `url` (WebSocket at `ws`): waits until it answers, reads its
    /// chain id, client version and gas price, the funder's nonce, starts following its head,
    /// and derives the senders. Nothing is sent yet.
    pub(super) async fn connect(
        args: TransfersArgs,
        url: String,
        ws: String,
    ) -> anyhow::Result<Self> {
        let rpc = Rpc::new(&url)?;
        let chain_id = wait_ready(&rpc).await?;
        let client: String = rpc
            .call("web3_clientVersion", json!([]))
            .await
            .unwrap_or_else(|_| "unknown".into());
        let gas_price: U256 = rpc.call("eth_gasPrice", json!([])).await?;
        let max_fee = u128::try_from(gas_price)
            .context("gas price out of range")?
            .saturating_mul(2)
            .max(1);
        let funder = match &args.funder_key {
            Some(k) => Key::from_hex(k)?,
            None => Key::from_bytes(
                txnchain_primitives::dev::derive_key(txnchain_primitives::dev::DEV_MNEMONIC, 0)?
                    .to_bytes()
                    .0,
            )?,
        };
        let funder_nonce: U64 = rpc
            .call(
                "eth_getTransactionCount",
                json!([funder.address, "pending"]),
            )
            .await?;
        let tracker = Tracker::start(&ws, Rpc::new(&url)?).await?;
        let senders: Vec<Key> = (0u32..).take(args.senders).map(Key::derived).collect();
        Ok(Bench {
            url,
            client,
            rpc,
            tracker,
            chain_id,
            max_fee,
            funder,
            funder_nonce: funder_nonce.to(),
            senders,
            nonces: vec![],
            token: None,
            erc20_gas: 0,
            confidential: None,
            args,
        })
    }

    /// Untimed setup for `kinds`: deploys TestToken (for ERC-20 transfers), funds the senders
    /// and reads their nonces.
    pub(super) async fn prepare(&mut self, kinds: &[Kind]) -> anyhow::Result<()> {
        // The plaintext token is also the reference for the confidential transfers' gas.
        if kinds.contains(&Kind::Erc20) || kinds.contains(&Kind::ConfidentialErc20) {
            self.token = Some(self.deploy_token().await?);
        }
        if kinds.contains(&Kind::ConfidentialErc20) {
            self.deploy_confidential_token().await?;
        }
        self.fund(kinds).await?;
        self.load_nonces().await?;
        if kinds.contains(&Kind::ConfidentialErc20) {
            self.estimate_confidential().await?;
        }
        Ok(())
    }

    /// The network's epoch key, checked against the service identity the node states in its
    /// attestation (a benchmark trusts the node it measures; clients verify the evidence).
    async fn epoch_key(&self) -> anyhow::Result<(txnchain_crypto::keys::EpochPublicKey, u64)> {
        let bundle: txnchain_tee::EvidenceBundle = serde_json::from_value(
            reqwest::get(format!(
                "{}/node/attestation",
                self.url.trim_end_matches('/')
            ))
            .await?
            .json()
            .await?,
        )?;
        let identity = bundle
            .verify_service_statement()?
            .context("the node states no service identity (not a TxnChain node?)")?;
        let k: Value = self
            .rpc
            .call("txnchain_getEncryptionKey", json!([]))
            .await?;
        let hexed = |f: &str| -> anyhow::Result<Vec<u8>> {
            Ok(hex::decode(
                k[f].as_str().context("bad key")?.trim_start_matches("0x"),
            )?)
        };
        let epoch = u64::from_str_radix(
            k["epoch"]
                .as_str()
                .context("bad epoch")?
                .trim_start_matches("0x"),
            16,
        )?;
        let pk: [u8; 32] = hexed("publicKey")?
            .try_into()
            .map_err(|_| anyhow::anyhow!("publicKey is not 32 bytes"))?;
        txnchain_crypto::keys::verify_encryption_key(
            &identity,
            self.chain_id,
            epoch,
            &pk,
            &hexed("signature")?,
        )?;
        Ok((
            txnchain_crypto::keys::EpochPublicKey::from_bytes(&pk)?,
            epoch,
        ))
    }

    /// Deploys TestToken with its init code in an envelope: a confidential token.
    async fn deploy_confidential_token(&mut self) -> anyhow::Result<()> {
        let (key, epoch) = self.epoch_key().await?;
        let artifact: Value = serde_json::from_str(TEST_TOKEN_ARTIFACT)?;
        let code = artifact["bytecode"]
            .as_str()
            .context("TestToken artifact without bytecode")?;
        let mut init = hex::decode(code.trim_start_matches("0x"))?;
        init.extend(("TxnChain Confidential Bench", "CBENCH", U256::ZERO).abi_encode_params());
        let binding = txnchain_crypto::envelope::Binding::Tx {
            sender: self.funder.address,
            to: None,
            nonce: self.funder_nonce,
        };
        let sealed = txnchain_crypto::envelope::seal(&key, self.chain_id, epoch, &binding, &init)?;
        let tx = self.funder_tx(
            TxKind::Create,
            U256::ZERO,
            sealed.envelope.into(),
            3_000_000,
        );
        let signed = vec![self.funder.sign(tx)];
        let hash = signed[0].0;
        let receipts = self
            .send_and_wait(signed, "deploying the confidential TestToken")
            .await?;
        let token = receipts
            .get(&hash)
            .and_then(|r| r.contract_address)
            .context("confidential deployment receipt without contractAddress")?;
        self.confidential = Some(Confidential {
            token,
            key,
            epoch,
            gas: 0,
        });
        Ok(())
    }

    /// Gas of one enveloped transfer. An unsigned estimate of a confidential contract runs
    /// as sender zero (which holds no tokens), so it is derived from the plaintext token's
    /// estimate plus the envelope's extra calldata at 16 gas a byte, as a wallet without
    /// signed queries would set an explicit limit.
    async fn estimate_confidential(&mut self) -> anyhow::Result<()> {
        let c = self
            .confidential
            .as_ref()
            .context("no confidential token")?;
        let data = transferCall {
            to: recipient(0),
            value: U256::from(1),
        }
        .abi_encode();
        let binding = txnchain_crypto::envelope::Binding::Tx {
            sender: self.senders[0].address,
            to: Some(c.token),
            nonce: 0,
        };
        let sealed =
            txnchain_crypto::envelope::seal(&c.key, self.chain_id, c.epoch, &binding, &data)?;
        let extra = 16 * sealed.envelope.len() as u64;
        let gas = (self.erc20_gas + extra).min(ERC20_GAS_BOUND);
        if let Some(c) = self.confidential.as_mut() {
            c.gas = gas;
        }
        Ok(())
    }

    /// When a wait that starts now gives up (`--timeout`).
    pub(super) fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs(self.args.timeout)
    }

    /// Sends signed transactions in batches on one connection, in order, and waits until all
    /// are included; returns their receipts.
    async fn send_and_wait(
        &mut self,
        signed: Vec<(B256, Vec<u8>)>,
        what: &str,
    ) -> anyhow::Result<HashMap<B256, MiniReceipt>> {
        let mut expected: HashSet<B256> = signed.iter().map(|(h, _)| *h).collect();
        for chunk in signed.chunks(FUND_BATCH) {
            let calls: Vec<(&str, Value)> = chunk
                .iter()
                .map(|(_, raw)| {
                    (
                        "eth_sendRawTransaction",
                        json!([format!("0x{}", hex::encode(raw))]),
                    )
                })
                .collect();
            let results: Vec<Result<B256, rpc::RpcErr>> = self.rpc.batch(&calls).await?;
            for r in results {
                r.map_err(|e| anyhow::anyhow!("{what}: eth_sendRawTransaction: {e}"))?;
            }
        }
        let deadline = self.deadline();
        let mut receipts = HashMap::new();
        while !expected.is_empty() {
            let Some(block) = self.tracker.next(deadline).await? else {
                bail!(
                    "{what}: {} transactions not included within {} s",
                    expected.len(),
                    self.args.timeout
                );
            };
            for r in block.receipts {
                if expected.remove(&r.transaction_hash) {
                    receipts.insert(r.transaction_hash, r);
                }
            }
        }
        if let Some(failed) = receipts.values().find(|r| !r.success()) {
            bail!("{what}: transaction {} failed", failed.transaction_hash);
        }
        Ok(receipts)
    }

    fn funder_tx(&mut self, to: TxKind, value: U256, input: Bytes, gas: u64) -> TxEip1559 {
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.funder_nonce,
            gas_limit: gas,
            max_fee_per_gas: self.max_fee,
            max_priority_fee_per_gas: 0,
            to,
            value,
            input,
            ..Default::default()
        };
        self.funder_nonce += 1;
        tx
    }

    async fn deploy_token(&mut self) -> anyhow::Result<Address> {
        let artifact: Value = serde_json::from_str(TEST_TOKEN_ARTIFACT)?;
        let code = artifact["bytecode"]
            .as_str()
            .context("TestToken artifact without bytecode")?;
        let mut init = hex::decode(code.trim_start_matches("0x"))?;
        init.extend(("TxnChain Bench", "BENCH", U256::ZERO).abi_encode_params());
        let init = Bytes::from(init);
        let est: U64 = self
            .rpc
            .call(
                "eth_estimateGas",
                json!([{"from": self.funder.address, "input": init}]),
            )
            .await
            .context("estimating the TestToken deployment")?;
        let gas = est.to::<u64>() * 3 / 2;
        let tx = self.funder_tx(TxKind::Create, U256::ZERO, init, gas);
        let signed = vec![self.funder.sign(tx)];
        let hash = signed[0].0;
        let receipts = self.send_and_wait(signed, "deploying TestToken").await?;
        receipts
            .get(&hash)
            .and_then(|r| r.contract_address)
            .context("TestToken deployment receipt without contractAddress")
    }

    /// Sender nonces as the node reports them (`pending`).
    async fn load_nonces(&mut self) -> anyhow::Result<()> {
        let mut nonces = Vec::with_capacity(self.senders.len());
        for chunk in self.senders.chunks(FUND_BATCH) {
            let calls: Vec<(&str, Value)> = chunk
                .iter()
                .map(|k| ("eth_getTransactionCount", json!([k.address, "pending"])))
                .collect();
            for r in self.rpc.batch::<U64>(&calls).await? {
                nonces.push(
                    r.map_err(|e| anyhow::anyhow!("eth_getTransactionCount: {e}"))?
                        .to(),
                );
            }
        }
        self.nonces = nonces;
        Ok(())
    }

    /// Gives every sender enough ETH for all runs, and tokens.
    async fn fund(&mut self, kinds: &[Kind]) -> anyhow::Result<()> {
        let per_sender = self.args.txs.div_ceil(self.senders.len()) as u64
            * (self.args.warmup + self.args.runs) as u64;
        let mut gas_per_sender = 0u64;
        for k in kinds {
            gas_per_sender += per_sender
                * match k {
                    Kind::Native => 21_000,
                    Kind::Erc20 | Kind::ConfidentialErc20 => ERC20_GAS_BOUND,
                };
        }
        // Twice the worst case plus the native transfers' values (1 wei each).
        let eth_each = U256::from(gas_per_sender) * U256::from(self.max_fee) * U256::from(2)
            + U256::from(per_sender);
        let total = eth_each * U256::from(self.senders.len());
        let balance: U256 = self
            .rpc
            .call("eth_getBalance", json!([self.funder.address, "latest"]))
            .await?;
        if balance < total {
            bail!(
                "the funder {} holds {balance} wei; the senders need {total} wei",
                self.funder.address
            );
        }
        let mut txs = Vec::new();
        let senders: Vec<Address> = self.senders.iter().map(|k| k.address).collect();
        for a in &senders {
            let tx = self.funder_tx(TxKind::Call(*a), eth_each, Bytes::new(), 21_000);
            txs.push(tx);
        }
        let tokens: Vec<Address> = self
            .token
            .into_iter()
            .chain(self.confidential.as_ref().map(|c| c.token))
            .collect();
        for token in tokens {
            let amount = U256::from(10u64).pow(U256::from(30u64));
            let mint_gas = {
                let data = Bytes::from(
                    mintCall {
                        to: senders[0],
                        value: amount,
                    }
                    .abi_encode(),
                );
                let est: U64 = self
                    .rpc
                    .call(
                        "eth_estimateGas",
                        json!([{"from": self.funder.address, "to": token, "input": data}]),
                    )
                    .await
                    .context("estimating mint")?;
                est.to::<u64>() * 3 / 2
            };
            for a in &senders {
                let data = Bytes::from(
                    mintCall {
                        to: *a,
                        value: amount,
                    }
                    .abi_encode(),
                );
                let tx = self.funder_tx(TxKind::Call(token), U256::ZERO, data, mint_gas);
                txs.push(tx);
            }
        }
        let funder = self.funder.clone();
        let jobs = txs.into_iter().map(|t| (0usize, t)).collect();
        let signed = sign_all(std::slice::from_ref(&funder), jobs);
        self.send_and_wait(signed, "funding senders").await?;
        if let Some(token) = self.token {
            let data = Bytes::from(
                transferCall {
                    to: recipient(0),
                    value: U256::from(1),
                }
                .abi_encode(),
            );
            let est: U64 = self
                .rpc
                .call(
                    "eth_estimateGas",
                    json!([{"from": senders[0], "to": token, "input": data}]),
                )
                .await
                .context("estimating an ERC-20 transfer")?;
            // Recipients are fresh addresses: the estimate covers a new balance slot.
            self.erc20_gas = (est.to::<u64>() * 5 / 4).min(ERC20_GAS_BOUND);
        }
        Ok(())
    }

    /// Pre-signs (not timed) one run of `kind`: `--txs` transfers spread over the senders,
    /// each sender's in nonce order on one connection, encoded as `--batch`-sized
    /// `eth_sendRawTransaction` batch bodies.
    pub(super) fn presign(&mut self, kind: Kind, run_index: usize) -> anyhow::Result<Plan> {
        let n = self.args.txs;
        let senders = self.senders.len();
        let recipients = 10_000usize;
        let mut jobs = Vec::with_capacity(n);
        for j in 0..n {
            let s = j % senders;
            let nonce = self.nonces[s];
            self.nonces[s] += 1;
            let to = recipient(u32::try_from((run_index * n + j) % recipients).unwrap_or(0));
            let (kind_to, value, input, gas) = match kind {
                Kind::ConfidentialErc20 => {
                    let c = self
                        .confidential
                        .as_ref()
                        .context("no confidential token")?;
                    let plaintext = transferCall {
                        to,
                        value: U256::from(1),
                    }
                    .abi_encode();
                    let binding = txnchain_crypto::envelope::Binding::Tx {
                        sender: self.senders[s].address,
                        to: Some(c.token),
                        nonce,
                    };
                    let sealed = txnchain_crypto::envelope::seal(
                        &c.key,
                        self.chain_id,
                        c.epoch,
                        &binding,
                        &plaintext,
                    )?;
                    (
                        TxKind::Call(c.token),
                        U256::ZERO,
                        Bytes::from(sealed.envelope),
                        c.gas,
                    )
                }
                Kind::Native => (TxKind::Call(to), U256::from(1), Bytes::new(), 21_000),
                Kind::Erc20 => (
                    TxKind::Call(self.token.context("no token")?),
                    U256::ZERO,
                    Bytes::from(
                        transferCall {
                            to,
                            value: U256::from(1),
                        }
                        .abi_encode(),
                    ),
                    self.erc20_gas,
                ),
            };
            jobs.push((
                s,
                TxEip1559 {
                    chain_id: self.chain_id,
                    nonce,
                    gas_limit: gas,
                    max_fee_per_gas: self.max_fee,
                    max_priority_fee_per_gas: 0,
                    to: kind_to,
                    value,
                    input,
                    ..Default::default()
                },
            ));
        }
        let signed = sign_all(&self.senders, jobs);
        let hashes: Vec<B256> = signed.iter().map(|(h, _)| *h).collect();
        // Each sender's transactions go through one connection, in nonce order.
        let conns = self.args.connections.max(1);
        let mut per_conn: Vec<Vec<usize>> = vec![Vec::new(); conns];
        for j in 0..n {
            per_conn[(j % senders) % conns].push(j);
        }
        let mut plans = Vec::with_capacity(conns);
        for idxs in per_conn {
            let mut batches = Vec::new();
            for chunk in idxs.chunks(self.args.batch.max(1)) {
                let mut body = String::with_capacity(chunk.len() * 320);
                body.push('[');
                for (k, &j) in chunk.iter().enumerate() {
                    if k > 0 {
                        body.push(',');
                    }
                    body.push_str(&format!(
                        r#"{{"jsonrpc":"2.0","id":{k},"method":"eth_sendRawTransaction","params":["0x{}"]}}"#,
                        hex::encode(&signed[j].1)
                    ));
                }
                body.push(']');
                batches.push((body.into_bytes(), chunk.to_vec()));
            }
            plans.push(batches);
        }
        drop(signed);
        let expected: HashMap<B256, usize> =
            hashes.iter().enumerate().map(|(i, h)| (*h, i)).collect();

        Ok(Plan {
            per_conn: plans,
            hashes,
            expected,
        })
    }
}

/// One run's pre-signed transactions, ready to submit.
pub(super) struct Plan {
    /// Per connection, its batches in order: the request body and the indices of the
    /// transactions it holds.
    pub(super) per_conn: Vec<Vec<(Vec<u8>, Vec<usize>)>>,
    /// Transaction hashes, by index.
    pub(super) hashes: Vec<B256>,
    /// Index of each transaction hash.
    pub(super) expected: HashMap<B256, usize>,
}

async fn wait_ready(rpc: &Rpc) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match rpc.call::<U64>("eth_chainId", json!([])).await {
            Ok(id) => return Ok(id.to()),
            Err(e) if Instant::now() > deadline => return Err(e.context("node not answering")),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
