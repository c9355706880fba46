//! `debug_traceTransaction`, `debug_traceCall`, `txpool_status`, `txpool_content`.

use std::collections::BTreeMap;

use alloy_eips::BlockId;
use alloy_primitives::{Address, B256};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_rpc_types_trace::geth::{
    GethDebugTracingCallOptions, GethDebugTracingOptions, GethTrace,
};
use serde_json::{Value, json};
use txnchain_executor::block::{context_of, execute_prefix};
use txnchain_executor::call::{Limits, call_cfg, trace};
use txnchain_executor::env::{call_env, cfg_env, tx_env};
use txnchain_jsonrpc::RpcError;
use txnchain_primitives::RecoveredTx;

use crate::api::{EthApi, call_input, to_value};
use crate::convert;
use crate::errors;

impl EthApi {
    /// `debug_traceTransaction`: replays the block up to the transaction on its parent state,
    /// then traces it.
    pub(crate) fn trace_transaction(
        &self,
        hash: B256,
        opts: GethDebugTracingOptions,
        limits: &Limits,
    ) -> Result<GethTrace, RpcError> {
        let snap = self.snapshot()?;
        let (loc, tx) = snap
            .transaction(hash)
            .map_err(errors::ledger)?
            .ok_or_else(|| RpcError::server(format!("transaction {hash} not found")))?;
        if txnchain_crypto::envelope::classify(alloy_consensus::Transaction::input(tx.envelope()))
            != txnchain_crypto::envelope::Payload::Plain
        {
            return Err(crate::policy::refused(
                alloy_consensus::Transaction::to(tx.envelope()).unwrap_or_default(),
                "debug_traceTransaction",
            ));
        }
        let header = self.header(&snap, loc.block)?;
        let parent = self.execution_state(&snap, loc.block.saturating_sub(1))?;
        let txs = snap.block_transactions(loc.block).map_err(errors::ledger)?;
        let ctx = context_of(&header.header);
        let chain = self.ledger.chain();
        let overlay = execute_prefix(
            chain,
            &ctx,
            parent,
            &txs[..loc.index as usize],
            self.ledger.network_keys().map(|k| &**k),
        )
        .map_err(errors::exec)?;
        let (trace, touched) = trace(
            chain,
            &ctx,
            &overlay,
            tx_env(&tx),
            cfg_env(chain, ctx.number),
            &opts,
            limits,
        )
        .map_err(errors::exec)?;
        self.guard_all(&snap, touched, "debug_traceTransaction")?;
        Ok(trace)
    }

    /// `debug_traceCall`.
    pub(crate) fn trace_call(
        &self,
        req: TransactionRequest,
        block: Option<BlockId>,
        opts: GethDebugTracingCallOptions,
        limits: &Limits,
    ) -> Result<GethTrace, RpcError> {
        let to = req.to.and_then(|k| k.to().copied());
        self.with_call_state(
            "debug_traceCall",
            to,
            block,
            opts.state_overrides,
            |snap, ctx, overlay, cap| {
                let mut input = call_input(&req, cap)?;
                if self.prepare_call(snap, &req, &mut input)?.is_some() {
                    return Err(crate::policy::refused(
                        to.unwrap_or_default(),
                        "debug_traceCall",
                    ));
                }
                let nonce = revm::DatabaseRef::basic_ref(overlay, input.from)
                    .map_err(errors::exec)?
                    .map_or(0, |a| a.nonce);
                let chain = self.ledger.chain();
                let env = call_env(&input, chain.chain_id, nonce);
                let cfg = call_cfg(chain, ctx.number, &input);
                let (trace, touched) =
                    trace(chain, ctx, overlay, env, cfg, &opts.tracing_options, limits)
                        .map_err(errors::exec)?;
                self.guard_all(snap, touched, "debug_traceCall")?;
                Ok(trace)
            },
        )
    }

    fn committed_nonce_fn(&self) -> Result<impl Fn(Address) -> u64, RpcError> {
        let snap = self.snapshot()?;
        Ok(move |a: Address| snap.account(a).ok().flatten().map_or(0, |r| r.nonce))
    }

    /// `txpool_status`.
    pub(crate) fn txpool_status(&self) -> Result<Value, RpcError> {
        let s = self.ledger.pool().status(self.committed_nonce_fn()?);
        Ok(json!({"pending": format!("{:#x}", s.pending), "queued": format!("{:#x}", s.queued)}))
    }

    /// `txpool_content`.
    pub(crate) fn txpool_content(&self) -> Result<Value, RpcError> {
        let (pending, queued) = self.ledger.pool().content(self.committed_nonce_fn()?);
        let render = |m: BTreeMap<Address, BTreeMap<u64, RecoveredTx>>| -> Result<Value, RpcError> {
            let mut out = serde_json::Map::new();
            for (addr, txs) in m {
                let mut by_nonce = serde_json::Map::new();
                for (nonce, tx) in txs {
                    by_nonce.insert(
                        nonce.to_string(),
                        to_value(convert::transaction(&tx, None))?,
                    );
                }
                out.insert(addr.to_checksum(None), Value::Object(by_nonce));
            }
            Ok(Value::Object(out))
        };
        Ok(json!({"pending": render(pending)?, "queued": render(queued)?}))
    }
}
