//! A revm database that layers writes over committed state.
//!
//! The block builder executes a block's transactions on an overlay; replaying followers do the
//! same; `eth_call` and gas estimation use a throwaway overlay (optionally with state
//! overrides). [`Overlay::into_changes`] yields exactly what the block wrote.

use std::collections::{BTreeMap, HashMap, HashSet};

use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256};
use revm::bytecode::Bytecode;
use revm::state::{Account, AccountInfo};
use revm::{Database, DatabaseCommit, DatabaseRef};
use txnchain_storage::{AccountRecord, StateChanges};

use crate::{ExecError, StateSource};

/// Writes layered over a [`StateSource`].
pub struct Overlay<S> {
    base: S,
    accounts: HashMap<Address, Option<AccountInfo>>,
    storage: HashMap<Address, HashMap<U256, U256>>,
    cleared: HashSet<Address>,
    new_code: BTreeMap<B256, Bytes>,
    base_accounts: HashMap<Address, Option<AccountRecord>>,
    /// Analysed bytecode by hash, so a block calling the same contract many times reads and
    /// analyses its code once. Code is immutable per hash, so the cache never goes stale.
    code_cache: HashMap<B256, Bytecode>,
    /// Set by [`Overlay::refuse_confidential`]: the method to name when a read reaches a
    /// confidential contract.
    refuse_confidential: Option<&'static str>,
}

fn info_from(record: &AccountRecord) -> AccountInfo {
    AccountInfo {
        balance: record.balance,
        nonce: record.nonce,
        code_hash: record.code_hash,
        code: None,
        ..Default::default()
    }
}

fn code_from(bytes: Bytes) -> Bytecode {
    Bytecode::new_raw_checked(bytes.clone()).unwrap_or_else(|_| Bytecode::new_legacy(bytes))
}

impl<S: StateSource> Overlay<S> {
    /// An overlay with no writes yet.
    pub fn new(base: S) -> Self {
        Overlay {
            base,
            accounts: HashMap::new(),
            storage: HashMap::new(),
            cleared: HashSet::new(),
            new_code: BTreeMap::new(),
            base_accounts: HashMap::new(),
            code_cache: HashMap::new(),
            refuse_confidential: None,
        }
    }

    /// From now on, reading any confidential contract's account fails with
    /// [`ExecError::ConfidentialReached`] naming `method`, before any of its code runs. For
    /// calls with state overrides: code put at an ordinary address (its owner's, say) could
    /// otherwise call the contract as that address and answer what it returns. The registry is
    /// read from the committed state, which overrides cannot change.
    pub fn refuse_confidential(&mut self, method: &'static str) {
        self.refuse_confidential = Some(method);
    }

    fn check_confidential(&self, address: Address) -> Result<(), ExecError> {
        if let Some(method) = self.refuse_confidential
            && !self
                .base
                .storage(
                    crate::confidential::REGISTRY,
                    crate::confidential::registry_slot(address),
                )?
                .is_zero()
        {
            return Err(ExecError::ConfidentialReached { address, method });
        }
        Ok(())
    }

    /// The state this overlay reads through to.
    pub fn base(&self) -> &S {
        &self.base
    }

    fn read_account(&self, address: Address) -> Result<Option<AccountInfo>, ExecError> {
        self.check_confidential(address)?;
        if let Some(a) = self.accounts.get(&address) {
            return Ok(a.clone());
        }
        if let Some(r) = self.base_accounts.get(&address) {
            return Ok(r.as_ref().map(info_from));
        }
        Ok(self.base.account(address)?.as_ref().map(info_from))
    }

    fn read_storage(&self, address: Address, slot: U256) -> Result<U256, ExecError> {
        if let Some(v) = self.storage.get(&address).and_then(|s| s.get(&slot)) {
            return Ok(*v);
        }
        if self.cleared.contains(&address) {
            return Ok(U256::ZERO);
        }
        self.base.storage(address, slot)
    }

    fn read_code(&self, hash: B256) -> Result<Bytecode, ExecError> {
        if hash == KECCAK256_EMPTY || hash == B256::ZERO {
            return Ok(Bytecode::default());
        }
        if let Some(b) = self.new_code.get(&hash) {
            return Ok(code_from(b.clone()));
        }
        match self.base.code(hash)? {
            Some(b) => Ok(code_from(b)),
            None => Err(ExecError::Evm(format!("code {hash} not found"))),
        }
    }

    /// Credits `amount` to `address` (block fees).
    pub fn add_balance(&mut self, address: Address, amount: U256) -> Result<(), ExecError> {
        let mut info = self.read_account(address)?.unwrap_or_default();
        info.balance = info.balance.saturating_add(amount);
        self.accounts.insert(address, Some(info));
        Ok(())
    }

    /// Applies an `eth_call` state override for one account.
    pub fn override_account(
        &mut self,
        address: Address,
        balance: Option<U256>,
        nonce: Option<u64>,
        code: Option<Bytes>,
        replace_storage: Option<&HashMap<B256, B256>>,
        patch_storage: Option<&HashMap<B256, B256>>,
    ) -> Result<(), ExecError> {
        let mut info = self.read_account(address)?.unwrap_or_default();
        if let Some(b) = balance {
            info.balance = b;
        }
        if let Some(n) = nonce {
            info.nonce = n;
        }
        if let Some(c) = code {
            let hash = alloy_primitives::keccak256(&c);
            info.code_hash = hash;
            info.code = None;
            self.new_code.insert(hash, c);
        }
        self.accounts.insert(address, Some(info));
        if let Some(all) = replace_storage {
            self.cleared.insert(address);
            let slots = self.storage.entry(address).or_default();
            slots.clear();
            for (k, v) in all {
                slots.insert(U256::from_be_bytes(k.0), U256::from_be_bytes(v.0));
            }
        }
        if let Some(diff) = patch_storage {
            let slots = self.storage.entry(address).or_default();
            for (k, v) in diff {
                slots.insert(U256::from_be_bytes(k.0), U256::from_be_bytes(v.0));
            }
        }
        Ok(())
    }

    /// What the executed transactions wrote so far, leaving the overlay as it is (a simulated
    /// block's state root).
    pub fn changes(&self) -> StateChanges {
        let mut changes = StateChanges::default();
        for (address, info) in &self.accounts {
            changes.accounts.insert(
                *address,
                info.as_ref().map(|i| (i.nonce, i.balance, i.code_hash)),
            );
        }
        for (address, slots) in &self.storage {
            if slots.is_empty() {
                continue;
            }
            changes
                .storage
                .insert(*address, slots.iter().map(|(k, v)| (*k, *v)).collect());
        }
        changes.code = self.new_code.clone();
        changes
    }

    /// What the executed transactions wrote.
    pub fn into_changes(self) -> StateChanges {
        let mut changes = StateChanges::default();
        for (address, info) in self.accounts {
            changes
                .accounts
                .insert(address, info.map(|i| (i.nonce, i.balance, i.code_hash)));
        }
        for (address, slots) in self.storage {
            if slots.is_empty() {
                continue;
            }
            changes.storage.insert(address, slots.into_iter().collect());
        }
        changes.code = self.new_code;
        changes
    }

    fn commit_account(&mut self, address: Address, account: Account) {
        if !account.is_touched() {
            return;
        }
        if account.is_selfdestructed() || account.is_empty() {
            self.accounts.insert(address, None);
            self.storage.remove(&address);
            self.cleared.insert(address);
            return;
        }
        if account.is_created() {
            self.storage.remove(&address);
            self.cleared.insert(address);
        }
        let mut info = account.info.clone();
        if let Some(code) = info.code.take()
            && info.code_hash != KECCAK256_EMPTY
            && !self.new_code.contains_key(&info.code_hash)
            && !code.is_empty()
        {
            self.new_code.insert(info.code_hash, code.original_bytes());
        }
        self.accounts.insert(address, Some(info));
        let mut changed = account.changed_storage_slots().peekable();
        if changed.peek().is_some() {
            let slots = self.storage.entry(address).or_default();
            for (k, v) in changed {
                slots.insert(*k, v.present_value);
            }
        }
    }
}

impl<S: StateSource> DatabaseRef for Overlay<S> {
    type Error = ExecError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, ExecError> {
        self.read_account(address)
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, ExecError> {
        self.read_code(code_hash)
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, ExecError> {
        self.read_storage(address, index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, ExecError> {
        Ok(self.base.block_hash(number)?.unwrap_or_default())
    }
}

impl<S: StateSource> Database for Overlay<S> {
    type Error = ExecError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, ExecError> {
        self.check_confidential(address)?;
        if let Some(a) = self.accounts.get(&address) {
            return Ok(a.clone());
        }
        if let Some(r) = self.base_accounts.get(&address) {
            return Ok(r.as_ref().map(info_from));
        }
        let r = self.base.account(address)?;
        self.base_accounts.insert(address, r);
        Ok(r.as_ref().map(info_from))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, ExecError> {
        if let Some(code) = self.code_cache.get(&code_hash) {
            return Ok(code.clone());
        }
        let code = self.read_code(code_hash)?;
        self.code_cache.insert(code_hash, code.clone());
        Ok(code)
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, ExecError> {
        self.read_storage(address, index)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, ExecError> {
        self.block_hash_ref(number)
    }
}

impl<S: StateSource> DatabaseCommit for Overlay<S> {
    fn commit(&mut self, changes: revm::primitives::AddressMap<Account>) {
        for (address, account) in changes {
            self.commit_account(address, account);
        }
    }
}
