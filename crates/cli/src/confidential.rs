//! `txnchain send` and `txnchain call`: a function signature and arguments (like `cast`),
//! optionally `--confidential`: the calldata is sealed to the network's epoch key — only after
//! the key's signature verifies against a service identity the user trusts (pinned with
//! `--service-identity`, or taken from attestation evidence that `--policy` accepts) — and
//! the sealed result is opened and printed: status, decoded return values or revert reason,
//! and the private logs.
//!
//! The sending key comes from `--key-file` or `TXNCHAIN_KEY`, never the command line.

use std::path::PathBuf;
use std::time::Duration;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_dyn_abi::{DynSolType, DynSolValue, FunctionExt, JsonAbiExt};
use alloy_eips::Encodable2718;
use alloy_json_abi::Function;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use txnchain_crypto::envelope::{Binding, seal};
use txnchain_crypto::keys::{EpochPublicKey, verify_encryption_key};
use txnchain_crypto::result::{ExecutionResult, ResultKey, open_result};

const KEY_ENV: &str = "TXNCHAIN_KEY";

/// What both commands take.
#[derive(clap::Args)]
pub(crate) struct Target {
    /// The node's JSON-RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    rpc: String,
    /// The contract.
    #[arg(long)]
    to: Address,
    /// Seal the calldata to the network and open the sealed result.
    #[arg(long)]
    confidential: bool,
    /// The service identity to trust (0x + 32 bytes, e.g. printed by `txnchain attest verify`).
    #[arg(long)]
    service_identity: Option<String>,
    /// Or: verify the node's attestation evidence with this policy (a TOML file, or `dev`
    /// for virtual evidence) and trust the service identity it states.
    #[arg(long)]
    policy: Option<String>,
    /// The function, e.g. `transfer(address,uint256)` or `balanceOf(address) returns (uint256)`.
    signature: String,
    /// Its arguments.
    args: Vec<String>,
}

impl Target {
    /// A confidential call of `signature` with `args` on `to`, trusting the network as told.
    pub(crate) fn confidential(
        rpc: &str,
        to: Address,
        service_identity: Option<String>,
        policy: Option<String>,
        signature: &str,
        args: Vec<String>,
    ) -> Self {
        Target {
            rpc: rpc.to_owned(),
            to,
            confidential: true,
            service_identity,
            policy,
            signature: signature.to_owned(),
            args,
        }
    }

    /// The same without sealing (public calls and token approvals).
    pub(crate) fn plain(mut self) -> Self {
        self.confidential = false;
        self
    }
}

impl CallArgs {
    /// A signed query with the key of `key_file` (else `TXNCHAIN_KEY`), or, with `signed`
    /// false, an unsigned call.
    pub(crate) fn new(target: Target, signed: bool, key_file: Option<PathBuf>) -> Self {
        CallArgs {
            target,
            from: None,
            signed,
            key_file,
            block_range: 16,
        }
    }
}

impl SendArgs {
    /// A transaction from the key of `key_file` (else `TXNCHAIN_KEY`), gas estimated.
    pub(crate) fn new(target: Target, key_file: Option<PathBuf>) -> Self {
        SendArgs {
            target,
            key_file,
            gas: None,
            value: U256::ZERO,
            timeout: Duration::from_secs(60),
        }
    }
}

/// `txnchain call`.
#[derive(clap::Args)]
pub(crate) struct CallArgs {
    #[command(flatten)]
    target: Target,
    /// The caller (unsigned: a confidential contract sees sender zero).
    #[arg(long)]
    from: Option<Address>,
    /// Sign the query (EIP-712 over the plaintext call, spec §5) with the key of `--key-file`
    /// or `TXNCHAIN_KEY`, so the contract sees that account as `msg.sender`.
    #[arg(long, requires = "confidential")]
    signed: bool,
    /// File holding the signer's private key (hex), for `--signed`; else `TXNCHAIN_KEY`.
    #[arg(long, requires = "signed")]
    key_file: Option<PathBuf>,
    /// How many blocks after the latest one the signed query stays valid (at most 256).
    #[arg(long, default_value = "16", requires = "signed")]
    block_range: u64,
}

/// `txnchain send`.
#[derive(clap::Args)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    target: Target,
    /// File holding the sender's private key (hex); else `TXNCHAIN_KEY`.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Gas limit (default: estimated).
    #[arg(long)]
    gas: Option<u64>,
    /// Value in wei.
    #[arg(long, default_value = "0")]
    value: U256,
    /// Give up waiting for inclusion after this long.
    #[arg(long, default_value = "60s", value_parser = crate::duration::parse)]
    timeout: Duration,
}

/// A JSON-RPC error answer, with its `data` (a revert's, possibly a sealed result).
#[derive(Debug)]
pub(crate) struct RpcFailure {
    method: String,
    message: String,
    code: String,
    data: Option<String>,
}

impl std::fmt::Display for RpcFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.method, self.message, self.code)
    }
}

impl std::error::Error for RpcFailure {}

pub(crate) struct Rpc {
    url: String,
    http: reqwest::Client,
}

impl Rpc {
    pub(crate) fn new(url: &str) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Rpc {
            url: url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    pub(crate) async fn call(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let r: Value = self
            .http
            .post(&self.url)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .send()
            .await
            .with_context(|| format!("{method}: {}", self.url))?
            .json()
            .await
            .with_context(|| format!("{method}: not a JSON-RPC response"))?;
        if let Some(e) = r.get("error") {
            return Err(RpcFailure {
                method: method.to_owned(),
                message: e["message"].as_str().unwrap_or("error").to_owned(),
                code: e["code"].to_string(),
                data: e["data"].as_str().map(str::to_owned),
            }
            .into());
        }
        Ok(r["result"].clone())
    }
}

pub(crate) fn quantity(v: &Value) -> anyhow::Result<u64> {
    let s = v.as_str().context("expected a hex quantity")?;
    u64::from_str_radix(s.trim_start_matches("0x"), 16).context("bad hex quantity")
}

fn hex_bytes(v: &Value) -> anyhow::Result<Vec<u8>> {
    hex::decode(v.as_str().context("expected hex")?.trim_start_matches("0x")).context("bad hex")
}

fn parse_function(sig: &str) -> anyhow::Result<Function> {
    Function::parse(sig).map_err(|e| anyhow::anyhow!("function signature `{sig}`: {e}"))
}

fn encode_call(f: &Function, args: &[String]) -> anyhow::Result<Vec<u8>> {
    if args.len() != f.inputs.len() {
        bail!(
            "{} takes {} arguments, {} given",
            f.signature(),
            f.inputs.len(),
            args.len()
        );
    }
    let values = f
        .inputs
        .iter()
        .zip(args)
        .map(|(p, a)| {
            let ty = DynSolType::parse(&p.selector_type())
                .map_err(|e| anyhow::anyhow!("type {}: {e}", p.ty))?;
            ty.coerce_str(a)
                .map_err(|e| anyhow::anyhow!("argument `{a}` as {}: {e}", p.ty))
        })
        .collect::<anyhow::Result<Vec<DynSolValue>>>()?;
    f.abi_encode_input(&values)
        .map_err(|e| anyhow::anyhow!("encoding the arguments: {e}"))
}

/// The network's signed epoch key, checked against the trusted service identity.
async fn trusted_key(rpc: &Rpc, t: &Target) -> anyhow::Result<(EpochPublicKey, u64, u64)> {
    let identity: [u8; 32] = match (&t.service_identity, &t.policy) {
        (Some(id), _) => hex::decode(id.trim_start_matches("0x"))
            .ok()
            .and_then(|b| b.try_into().ok())
            .context("--service-identity: expected 0x + 32 bytes")?,
        (None, Some(policy)) => attested_identity(&t.rpc, policy).await?,
        (None, None) => bail!(
            "--confidential needs a trusted service identity: --service-identity 0x… (from \
             `txnchain attest verify`) or --policy <file|dev> to verify the node's evidence now"
        ),
    };
    let k = rpc.call("txnchain_getEncryptionKey", json!([])).await?;
    let chain = quantity(&k["chainId"])?;
    let epoch = quantity(&k["epoch"])?;
    let pk: [u8; 32] = hex_bytes(&k["publicKey"])?
        .try_into()
        .map_err(|_| anyhow::anyhow!("publicKey is not 32 bytes"))?;
    verify_encryption_key(&identity, chain, epoch, &pk, &hex_bytes(&k["signature"])?).context(
        "refusing to encrypt: the epoch key is not signed by the trusted service identity",
    )?;
    Ok((EpochPublicKey::from_bytes(&pk)?, chain, epoch))
}

async fn attested_identity(url: &str, policy: &str) -> anyhow::Result<[u8; 32]> {
    use txnchain_tee::{ExpectedReportData, TrustRoots, VerifyOptions, now_unix, verify_bundle};
    let policy = crate::attest::load_policy(Some(policy)).map_err(anyhow::Error::msg)?;
    let nonce = txnchain_tee::random_nonce()?;
    let bundle = crate::attest::fetch(url, Some(&nonce))
        .await
        .map_err(anyhow::Error::msg)?;
    let opts = VerifyOptions {
        now: now_unix(),
        expected: ExpectedReportData::Identity {
            spki_der: bundle.identity_public_key.clone().unwrap_or_default(),
            nonce: Some(nonce.to_vec()),
        },
        trust: TrustRoots::builtin(),
        collateral_dir: None,
    };
    let verdict = verify_bundle(&bundle, &policy, &opts);
    if !verdict.is_trusted() {
        bail!("the node's attestation evidence is not trusted by the policy:\n{verdict}");
    }
    if verdict.insecure {
        eprintln!("WARNING: trusting virtual (insecure) evidence: development only");
    }
    bundle
        .verify_service_statement()?
        .context("the node states no service identity")
}

fn print_result(f: &Function, result: &ExecutionResult) {
    println!(
        "status: {}",
        if result.success() {
            "success"
        } else {
            "reverted"
        }
    );
    if result.success() {
        match f.abi_decode_output(&result.output) {
            Ok(values) if !f.outputs.is_empty() => {
                for v in values {
                    println!("return: {}", render(&v));
                }
            }
            _ => println!("output: 0x{}", hex::encode(&result.output)),
        }
    } else {
        use alloy_sol_types::SolInterface;
        match alloy_sol_types::decode_revert_reason(&result.output) {
            Some(reason) => println!("revert: {reason}"),
            None => {
                match txnchain_pixie::abi::IPixieDex::IPixieDexErrors::abi_decode(&result.output) {
                    // Pixie DEX's custom errors, by name and fields.
                    Ok(e) => println!("revert: {e:?}"),
                    Err(_) => println!("revert data: 0x{}", hex::encode(&result.output)),
                }
            }
        }
    }
    for log in &result.logs {
        let topics: Vec<_> = log.topics().iter().map(ToString::to_string).collect();
        println!(
            "private log: {} topics [{}] data 0x{}",
            log.address,
            topics.join(", "),
            hex::encode(&log.data.data)
        );
    }
}

fn render(v: &DynSolValue) -> String {
    match v {
        DynSolValue::Uint(u, _) => u.to_string(),
        DynSolValue::Int(i, _) => i.to_string(),
        DynSolValue::Address(a) => a.to_string(),
        DynSolValue::Bool(b) => b.to_string(),
        DynSolValue::String(s) => format!("{s:?}"),
        DynSolValue::Bytes(b) => format!("0x{}", hex::encode(b)),
        DynSolValue::FixedBytes(w, n) => format!("0x{}", hex::encode(&w[..*n])),
        DynSolValue::Tuple(items) => {
            format!(
                "({})",
                items.iter().map(render).collect::<Vec<_>>().join(", ")
            )
        }
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) => {
            format!(
                "[{}]",
                items.iter().map(render).collect::<Vec<_>>().join(", ")
            )
        }
        other => format!("{other:?}"),
    }
}

/// `txnchain call`.
pub(crate) async fn call(a: CallArgs) -> anyhow::Result<()> {
    let t = &a.target;
    let f = parse_function(&t.signature)?;
    let data = encode_call(&f, &t.args)?;
    let rpc = Rpc::new(&t.rpc)?;
    if !t.confidential {
        let out = rpc
            .call(
                "eth_call",
                json!([{"from": a.from, "to": t.to, "data": Bytes::from(data)}, "latest"]),
            )
            .await?;
        let result = ExecutionResult {
            status: 1,
            output: hex_bytes(&out)?.into(),
            logs: vec![],
        };
        print_result(&f, &result);
        return Ok(());
    }
    let signer = if a.signed {
        let Some(key) = crate::secrets::from_file_or_env(a.key_file.as_deref(), KEY_ENV)? else {
            bail!("--signed needs the signer's key: --key-file PATH or {KEY_ENV}");
        };
        let signer = crate::secrets::parse_key(&key)?;
        if a.from.is_some_and(|f| f != signer.address()) {
            bail!(
                "--from {} is not the signing key's address {}",
                a.from.unwrap_or_default(),
                signer.address()
            );
        }
        if a.block_range > txnchain_crypto::signed_query::MAX_BLOCK_RANGE {
            bail!("--block-range {} exceeds 256", a.block_range);
        }
        Some(signer)
    } else {
        None
    };
    let from = signer
        .as_ref()
        .map(alloy_signer_local::PrivateKeySigner::address)
        .or(a.from);
    let (pk, chain, epoch) = trusted_key(&rpc, t).await?;
    let sealed = seal(&pk, chain, epoch, &Binding::Call { from, to: t.to }, &data)?;
    let calldata = match &signer {
        None => sealed.envelope.clone(),
        Some(signer) => {
            signed_query(
                &rpc,
                signer,
                chain,
                t.to,
                U256::ZERO,
                &data,
                &sealed.envelope,
                a.block_range,
            )
            .await?
        }
    };
    let out = rpc
        .call(
            "eth_call",
            json!([{"from": from, "to": t.to, "data": Bytes::from(calldata)}, "latest"]),
        )
        .await?;
    let result = open_result(&sealed.result_key, &hex_bytes(&out)?)?;
    print_result(&f, &result);
    Ok(())
}

/// `MAGIC ‖ 0x02 ‖ abi.encode(envelope, latest block, its hash, range, signature)`: the
/// envelope wrapped in a query signed by `signer` over the plaintext call (value and gas 0).
#[expect(
    clippy::too_many_arguments,
    reason = "the fields of the signed call, spelled out"
)]
async fn signed_query(
    rpc: &Rpc,
    signer: &alloy_signer_local::PrivateKeySigner,
    chain: u64,
    to: Address,
    value: U256,
    plaintext: &[u8],
    envelope: &[u8],
    block_range: u64,
) -> anyhow::Result<Vec<u8>> {
    use alloy_signer::SignerSync;
    use txnchain_crypto::signed_query::{QueriedCall, SignedQueryEnvelope, signing_hash};
    let head = rpc
        .call("eth_getBlockByNumber", json!(["latest", false]))
        .await?;
    let number = quantity(&head["number"])?;
    let hash: alloy_primitives::B256 = head["hash"]
        .as_str()
        .context("latest block: no hash")?
        .parse()
        .context("latest block: malformed hash")?;
    let call = QueriedCall {
        from: signer.address(),
        to,
        value,
        gas: 0,
        data: plaintext,
    };
    let digest = signing_hash(chain, &call, number, hash, block_range);
    let signature = signer.sign_hash_sync(&digest)?;
    Ok(SignedQueryEnvelope {
        envelope: Bytes::copy_from_slice(envelope),
        block_number: number,
        block_hash: hash,
        block_range,
        signature: Bytes::copy_from_slice(&signature.as_bytes()),
    }
    .encode())
}

/// `txnchain send`.
pub(crate) async fn send(a: SendArgs) -> anyhow::Result<()> {
    let t = &a.target;
    let Some(key) = crate::secrets::from_file_or_env(a.key_file.as_deref(), KEY_ENV)? else {
        bail!("a sender key is required: --key-file PATH or {KEY_ENV}");
    };
    let signer = crate::secrets::parse_key(&key)?;
    let from = signer.address();
    let f = parse_function(&t.signature)?;
    let plaintext = encode_call(&f, &t.args)?;
    let rpc = Rpc::new(&t.rpc)?;
    let nonce = quantity(
        &rpc.call("eth_getTransactionCount", json!([from, "pending"]))
            .await?,
    )?;
    // The calldata estimated: for an envelope, a signed query around it (spec §5), so that
    // the estimate runs as the sender, as the transaction will (unsigned, a call to a
    // confidential contract runs as address zero).
    let mut estimated: Option<Vec<u8>> = None;
    let (data, result_key): (Vec<u8>, Option<ResultKey>) = if t.confidential {
        let (pk, chain, epoch) = trusted_key(&rpc, t).await?;
        let s = seal(
            &pk,
            chain,
            epoch,
            &Binding::Tx {
                sender: from,
                to: Some(t.to),
                nonce,
            },
            &plaintext,
        )?;
        if a.gas.is_none() {
            estimated = Some(
                signed_query(
                    &rpc,
                    &signer,
                    chain,
                    t.to,
                    a.value,
                    &plaintext,
                    &s.envelope,
                    16,
                )
                .await?,
            );
        }
        (s.envelope, Some(s.result_key))
    } else {
        (plaintext, None)
    };
    let chain_id = quantity(&rpc.call("eth_chainId", json!([])).await?)?;
    let gas = match a.gas {
        Some(g) => g,
        None => {
            let est = match rpc
                .call(
                    "eth_estimateGas",
                    json!([{"from": from, "to": t.to,
                            "data": Bytes::from(estimated.clone().unwrap_or_else(|| data.clone())),
                            "value": a.value, "nonce": format!("{nonce:#x}")}]),
                )
                .await
            {
                Ok(est) => est,
                Err(e) => {
                    // A revert of an enveloped call answers a sealed result: open and show it.
                    if let (Some(key), Some(failure)) =
                        (&result_key, e.downcast_ref::<RpcFailure>())
                        && let Some(data) = &failure.data
                        && let Ok(sealed) = hex::decode(data.trim_start_matches("0x"))
                        && let Ok(result) = open_result(key, &sealed)
                    {
                        print_result(&f, &result);
                        bail!("the transaction would revert (nothing was sent)");
                    }
                    return Err(e);
                }
            };
            quantity(&est)?.saturating_mul(6) / 5
        }
    };
    let gas_price = u128::from(quantity(&rpc.call("eth_gasPrice", json!([])).await?)?);
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: gas_price.saturating_mul(2),
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(t.to),
        value: a.value,
        input: data.into(),
        ..Default::default()
    };
    let sig = signer.sign_hash_sync(&tx.signature_hash())?;
    let raw: TxEnvelope = tx.into_signed(sig).into();
    let hash = rpc
        .call(
            "eth_sendRawTransaction",
            json!([Bytes::from(raw.encoded_2718())]),
        )
        .await?;
    eprintln!("sent {hash}");
    let started = std::time::Instant::now();
    let receipt = loop {
        let r = rpc.call("eth_getTransactionReceipt", json!([hash])).await?;
        if !r.is_null() {
            break r;
        }
        if started.elapsed() > a.timeout {
            bail!("{hash} not included within {:?}", a.timeout);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "block {} gas used {} public logs {}",
        quantity(&receipt["blockNumber"])?,
        quantity(&receipt["gasUsed"])?,
        receipt["logs"].as_array().map_or(0, Vec::len)
    );
    match result_key {
        Some(key) => {
            let r = rpc
                .call("txnchain_getTransactionResult", json!([hash]))
                .await?;
            let sealed = hex_bytes(&r["result"]).context("no sealed result for the transaction")?;
            let result = open_result(&key, &sealed).context(
                "the sealed result does not open: the node could not open the envelope (epoch, \
                 key or binding), or the result was tampered with",
            )?;
            print_result(&f, &result);
        }
        None => println!(
            "status: {}",
            if receipt["status"] == "0x1" {
                "success"
            } else {
                "reverted"
            }
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_cast() {
        let f = parse_function("transfer(address,uint256) returns (bool)").unwrap();
        let data = encode_call(
            &f,
            &[
                "0x3333333333333333333333333333333333333333".into(),
                "1000".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            hex::encode(data),
            "a9059cbb000000000000000000000000333333333333333333333333333333333333333300000000000000000000000000000000000000000000000000000000000003e8"
        );
        assert!(encode_call(&f, &["0x33".into()]).is_err());
        assert!(encode_call(&f, &["nope".into(), "1".into()]).is_err());
        let _ = Address::ZERO;
    }
}
