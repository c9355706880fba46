//! EVM execution for TxnChain, on revm.
//!
//! - [`state`]: the read interface to committed state (latest or at a past block);
//! - [`overlay`]: a revm database that layers a block's (or a call's) writes over committed
//!   state and yields the block's [`StateChanges`](txnchain_storage::StateChanges);
//! - [`env`]: transaction, block and config environments from TxnChain types, with the fork
//!   pinned by the chain spec;
//! - [`block`]: executing a block (building or replaying) into receipts, state changes and a
//!   sealed header with real roots;
//! - [`call`]: `eth_call`, gas estimation, access lists and geth-style traces, each under a
//!   deadline enforced inside the interpreter and (traces) a size budget;
//! - [`simulate`]: `eth_simulateV1`'s calls, run one after another in simulated blocks, with
//!   or without validation, optionally reporting ether transfers as logs;
//! - [`pixie`]: the Pixie DEX exchange as native code in the inspector, and its end-of-block
//!   batch close as a system call;
//! - [`pool`]: the fair worker pool that runs such calls for clients, off the async runtime
//!   and off block production.
//!
//! Execution is deterministic: nothing here reads the clock or any node-local state.

pub mod block;
pub mod call;
pub mod confidential;
pub mod env;
mod error;
pub mod overlay;
pub mod pixie;
pub mod pool;
pub mod simulate;
pub mod state;

pub use block::{BlockContext, Executed, Sealed, execute_block, seal_block};
pub use error::ExecError;
pub use overlay::Overlay;
pub use state::{SnapshotState, StateSource};
