//! A fake ICRC-1/ICRC-2 ledger and runtime: balances, allowances, fees,
//! deduplication of identical transactions (as the real ledger does, by
//! content including `created_at_time` and memo), and injected faults.

use crate::runtime::{CallError, LedgerReply, Runtime, UtxoFilter, UtxoPage};
use crate::state::{install_state, State};
use crate::types::*;
use candid::{Nat, Principal};
use ic_stable_structures::DefaultMemoryImpl;
use icrc_ledger_types::icrc1::transfer::{TransferArg, TransferError};
use icrc_ledger_types::icrc2::transfer_from::{TransferFromArgs, TransferFromError};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// What the next ledger call does besides its normal work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Executes, but the reply is lost (`SYS_UNKNOWN`).
    ExecuteThenUnknown,
    /// Never reaches the ledger, and the caller cannot know (`SYS_UNKNOWN`).
    UnknownWithoutExecuting,
    /// Rejected before execution (e.g. `SYS_TRANSIENT`).
    Reject,
    /// The ledger answers `TemporarilyUnavailable`.
    Unavailable,
    /// The ledger answers `TooOld` (its dedup window has passed).
    TooOld,
}

#[derive(Default)]
pub struct FakeLedger {
    pub fee: u64,
    pub balances: BTreeMap<Principal, u64>,
    pub allowances: BTreeMap<(Principal, Principal), u64>,
    pub blocks: u64,
    pub seen: BTreeMap<String, u64>,
    pub faults: VecDeque<Fault>,
    pub calls: u32,
}

impl FakeLedger {
    pub fn balance(&self, p: Principal) -> u64 {
        self.balances.get(&p).copied().unwrap_or(0)
    }

    fn execute(&mut self, key: String, from: Principal, to: Principal, amount: u64) -> u64 {
        *self.balances.entry(from).or_default() -= amount + self.fee;
        *self.balances.entry(to).or_default() += amount;
        self.blocks += 1;
        self.seen.insert(key, self.blocks);
        self.blocks
    }
}

pub struct FakeRuntime {
    pub caller: RefCell<Principal>,
    pub time: RefCell<u64>,
    pub escrow: Principal,
    pub controllers: BTreeSet<Principal>,
    pub ledger: RefCell<FakeLedger>,
    pub btc: RefCell<super::fake_btc::FakeBitcoin>,
}

pub const LEDGER: Principal = Principal::from_slice(&[0x1e, 0xd6]);
pub const ESCROW: Principal = Principal::from_slice(&[0xe5, 0xc0]);
pub const ROUTER: Principal = Principal::from_slice(&[0x70, 0x07]);
pub const ADMIN: Principal = Principal::from_slice(&[0xad]);

pub fn user(i: u8) -> Principal {
    Principal::from_slice(&[0x05, i])
}

pub fn account(p: Principal) -> Account {
    Account::from(p)
}

/// A fresh escrow (router, ledger and fee account configured) over `memory`.
pub fn fresh(memory: DefaultMemoryImpl) -> FakeRuntime {
    install_state(State::new(memory));
    let rt = FakeRuntime {
        caller: RefCell::new(ADMIN),
        time: RefCell::new(1_700_000_000_000_000_000),
        escrow: ESCROW,
        controllers: [ADMIN].into(),
        ledger: RefCell::new(FakeLedger {
            fee: 10,
            ..FakeLedger::default()
        }),
        btc: RefCell::new(Default::default()),
    };
    crate::lifecycle::set_config(
        &rt,
        ConfigUpdate {
            router: Some(Some(ROUTER)),
            ckbtc_ledger: Some(Some(LEDGER)),
            fee_account: Some(Some(account(ADMIN))),
            min_deposit: Some(100),
            min_withdrawal: Some(100),
            min_bond: Some(1),
            unbond_delay_secs: Some(60),
            btc_network: Some(BtcNetwork::Regtest),
            ecdsa_key_name: Some("dfx_test_key".into()),
            btc_min_confirmations: Some(2),
            btc_min_deposit: Some(1_000),
            btc_min_withdrawal: Some(2_000),
            btc_batch_min_requests: Some(3),
            btc_batch_max_wait_secs: Some(600),
            btc_resubmit_after_secs: Some(3_600),
            ..ConfigUpdate::default()
        },
    )
    .expect("test configuration is valid");
    rt
}

pub fn setup() -> FakeRuntime {
    fresh(DefaultMemoryImpl::default())
}

impl FakeRuntime {
    pub fn as_caller(&self, p: Principal) -> &Self {
        *self.caller.borrow_mut() = p;
        self
    }

    pub fn advance_secs(&self, secs: u64) {
        *self.time.borrow_mut() += secs * 1_000_000_000;
    }

    /// Gives `p` ledger funds and approves the escrow for all of them.
    pub fn fund(&self, p: Principal, amount: u64) {
        let mut l = self.ledger.borrow_mut();
        *l.balances.entry(p).or_default() += amount;
        *l.allowances.entry((p, self.escrow)).or_default() += amount;
    }

    pub fn fault(&self, f: Fault) {
        self.ledger.borrow_mut().faults.push_back(f);
    }

    /// `deposit_ckbtc` by `p`.
    pub fn deposit(&self, p: Principal, amount: u64) -> Result<DepositReceipt, DepositError> {
        self.as_caller(p);
        futures::executor::block_on(crate::ledger::deposit(self, amount))
    }

    /// `withdraw_ckbtc` by `p` to its own ledger account.
    pub fn withdraw(&self, p: Principal, amount: u64) -> Result<WithdrawalReceipt, WithdrawError> {
        self.as_caller(p);
        futures::executor::block_on(crate::ledger::withdraw(self, amount, account(p)))
    }

    /// `get_btc_deposit_address` of `p`.
    pub fn btc_address(&self, p: Principal) -> String {
        self.as_caller(p);
        futures::executor::block_on(crate::btc::get_deposit_address(self, Some(p))).unwrap()
    }

    /// `update_btc_balance` by `p`.
    pub fn update_btc(&self, p: Principal) -> Result<BtcBalanceUpdate, BtcBalanceError> {
        self.as_caller(p);
        futures::executor::block_on(crate::btc::update_balance(self))
    }

    /// `withdraw_btc` by `p`.
    pub fn withdraw_btc(
        &self,
        p: Principal,
        address: &str,
        amount: u64,
    ) -> Result<BtcPayoutRequest, BtcWithdrawError> {
        self.as_caller(p);
        crate::btc::withdraw(self, address.into(), amount)
    }

    /// One BTC timer round.
    pub fn btc_round(&self) {
        futures::executor::block_on(crate::btc::round(self))
    }

    pub fn reconcile(&self) -> ReconcileReport {
        futures::executor::block_on(crate::ledger::reconcile(self))
    }

    /// Runs the fault (if any) around `execute`.
    fn with_fault<E>(
        &self,
        execute: impl FnOnce(&mut FakeLedger) -> Result<Nat, E>,
    ) -> LedgerReply<E>
    where
        E: From<Unavailable>,
    {
        let mut l = self.ledger.borrow_mut();
        l.calls += 1;
        match l.faults.pop_front() {
            None => Ok(execute(&mut l)),
            Some(Fault::ExecuteThenUnknown) => {
                let _ = execute(&mut l);
                Err(CallError::Unknown("SYS_UNKNOWN: timeout".into()))
            }
            Some(Fault::UnknownWithoutExecuting) => {
                Err(CallError::Unknown("SYS_UNKNOWN: timeout".into()))
            }
            Some(Fault::Reject) => Err(CallError::Rejected("SYS_TRANSIENT: queue full".into())),
            Some(Fault::Unavailable) => Ok(Err(E::from(Unavailable::Temporarily))),
            Some(Fault::TooOld) => Ok(Err(E::from(Unavailable::TooOld))),
        }
    }
}

pub enum Unavailable {
    Temporarily,
    TooOld,
}

impl From<Unavailable> for TransferFromError {
    fn from(u: Unavailable) -> Self {
        match u {
            Unavailable::Temporarily => TransferFromError::TemporarilyUnavailable,
            Unavailable::TooOld => TransferFromError::TooOld,
        }
    }
}

impl From<Unavailable> for TransferError {
    fn from(u: Unavailable) -> Self {
        match u {
            Unavailable::Temporarily => TransferError::TemporarilyUnavailable,
            Unavailable::TooOld => TransferError::TooOld,
        }
    }
}

fn u64_of(n: &Nat) -> u64 {
    crate::runtime::block_index(n).expect("test amounts fit u64")
}

impl Runtime for FakeRuntime {
    fn caller(&self) -> Principal {
        *self.caller.borrow()
    }
    fn time(&self) -> u64 {
        *self.time.borrow()
    }
    fn escrow_id(&self) -> Principal {
        self.escrow
    }
    fn is_controller(&self, p: &Principal) -> bool {
        self.controllers.contains(p)
    }

    async fn icrc2_transfer_from(
        &self,
        ledger: Principal,
        args: TransferFromArgs,
    ) -> LedgerReply<TransferFromError> {
        assert_eq!(ledger, LEDGER);
        let spender = self.escrow;
        self.with_fault(|l| {
            let fee = args.fee.as_ref().map(u64_of);
            if fee != Some(l.fee) {
                return Err(TransferFromError::BadFee {
                    expected_fee: l.fee.into(),
                });
            }
            let key = format!("{spender} {args:?}");
            if let Some(block) = l.seen.get(&key) {
                return Err(TransferFromError::Duplicate {
                    duplicate_of: (*block).into(),
                });
            }
            let (from, amount) = (args.from.owner, u64_of(&args.amount));
            let allowance = l.allowances.get(&(from, spender)).copied().unwrap_or(0);
            if allowance < amount + l.fee {
                return Err(TransferFromError::InsufficientAllowance {
                    allowance: allowance.into(),
                });
            }
            if l.balance(from) < amount + l.fee {
                return Err(TransferFromError::InsufficientFunds {
                    balance: l.balance(from).into(),
                });
            }
            *l.allowances.get_mut(&(from, spender)).unwrap() -= amount + l.fee;
            Ok(l.execute(key, from, args.to.owner, amount).into())
        })
    }

    async fn icrc1_transfer(
        &self,
        ledger: Principal,
        args: TransferArg,
    ) -> LedgerReply<TransferError> {
        assert_eq!(ledger, LEDGER);
        let from = self.escrow;
        self.with_fault(|l| {
            let fee = args.fee.as_ref().map(u64_of);
            if fee != Some(l.fee) {
                return Err(TransferError::BadFee {
                    expected_fee: l.fee.into(),
                });
            }
            let key = format!("{from} {args:?}");
            if let Some(block) = l.seen.get(&key) {
                return Err(TransferError::Duplicate {
                    duplicate_of: (*block).into(),
                });
            }
            let amount = u64_of(&args.amount);
            if l.balance(from) < amount + l.fee {
                return Err(TransferError::InsufficientFunds {
                    balance: l.balance(from).into(),
                });
            }
            Ok(l.execute(key, from, args.to.owner, amount).into())
        })
    }

    async fn bitcoin_get_utxos(
        &self,
        network: tensormine_bitcoin::Network,
        address: String,
        filter: UtxoFilter,
    ) -> Result<UtxoPage, String> {
        assert_eq!(network, tensormine_bitcoin::Network::Regtest);
        let mut b = self.btc.borrow_mut();
        if b.utxo_calls_to_fail > 0 {
            b.utxo_calls_to_fail -= 1;
            return Err("bitcoin_get_utxos: SYS_TRANSIENT".into());
        }
        let (offset, min_conf) = match filter {
            UtxoFilter::MinConfirmations(n) => (0, n),
            UtxoFilter::Page(token) => (
                usize::from_be_bytes(token[..8].try_into().unwrap()),
                u32::from_be_bytes(token[8..].try_into().unwrap()),
            ),
        };
        let (utxos, next_page) = b.get_utxos(&address, offset, min_conf);
        Ok(UtxoPage {
            utxos,
            next_page,
            tip_height: b.tip,
        })
    }

    async fn bitcoin_fee_percentiles(
        &self,
        _network: tensormine_bitcoin::Network,
    ) -> Result<Vec<u64>, String> {
        Ok(self.btc.borrow().percentiles.clone())
    }

    async fn bitcoin_send_transaction(
        &self,
        _network: tensormine_bitcoin::Network,
        tx: Vec<u8>,
    ) -> Result<(), String> {
        let mut b = self.btc.borrow_mut();
        if b.sends_to_refuse > 0 {
            b.sends_to_refuse -= 1;
            return Err("bitcoin_send_transaction: QueueFull".into());
        }
        b.sent.push(tx.clone());
        b.mempool.push(tx);
        Ok(())
    }

    async fn ecdsa_public_key(&self, key_name: String) -> Result<(Vec<u8>, Vec<u8>), String> {
        assert_eq!(key_name, "dfx_test_key");
        let mut b = self.btc.borrow_mut();
        b.key_calls += 1;
        Ok(b.master_key())
    }

    async fn sign_with_ecdsa(
        &self,
        key_name: String,
        path: Vec<Vec<u8>>,
        message_hash: [u8; 32],
    ) -> Result<Vec<u8>, String> {
        assert_eq!(key_name, "dfx_test_key");
        Ok(self.btc.borrow_mut().sign(&path, message_hash))
    }
}
