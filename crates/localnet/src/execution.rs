//! Running one entry point of an installed module atomically.
//!
//! Before each message the executor saves the heap and every mutable global
//! and starts an undo log on stable memory; a trap (or a query, whose changes
//! never persist) restores all three, as the IC interface specification requires.

use crate::system_api::{HostTrap, MessageCtx, StoreData, WasmClosure};
use crate::wasm::{PreparedModule, TABLE_EXPORT};
use ic_error_types::ErrorCode;
use std::sync::Arc;
use wasmtime::{Engine, Global, Instance, Memory, Ref, Store, Table, Val};

/// Which entry point to run.
#[derive(Clone, Debug)]
pub enum EntryPoint {
    /// An exported function, by its full export name (e.g. `canister_update foo`).
    Export(String),
    /// A function in the table, called with its environment (callbacks).
    Closure(WasmClosure),
}

/// What survives a message that did not trap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Heap, globals and stable memory (updates, callbacks, init, timers).
    All,
    /// Only stable memory (pre_upgrade: the old heap is thrown away or kept as it was).
    StableOnly,
    /// Nothing (queries, inspect_message).
    Nothing,
}

/// Why a message failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecError {
    pub code: ErrorCode,
    pub message: String,
}

/// The outcome of running an entry point.
pub struct Execution {
    pub ctx: MessageCtx,
    pub result: Result<(), ExecError>,
    pub instructions: u64,
}

/// An instantiated canister module with its wasmtime store.
pub struct WasmInstance {
    pub prepared: Arc<PreparedModule>,
    store: Store<StoreData>,
    instance: Instance,
    memory: Option<Memory>,
    globals: Vec<Global>,
    table: Option<Table>,
    heap_snapshot: Vec<u8>,
    global_snapshot: Vec<Val>,
}

impl WasmInstance {
    /// Instantiates the module; `ctx` is what a start function would see.
    pub fn new(
        engine: &Engine,
        prepared: Arc<PreparedModule>,
        ctx: MessageCtx,
    ) -> Result<(Self, MessageCtx), ExecError> {
        let limit = ctx.instruction_limit;
        let mut store = Store::new(engine, StoreData { ctx, memory: None });
        store.set_fuel(limit).map_err(engine_error)?;
        let instance = prepared
            .instance_pre
            .instantiate(&mut store)
            .map_err(|e| map_error(e, limit))?;
        let (memory, globals, table) = handles(&mut store, &instance, &prepared);
        store.data_mut().memory = memory;
        let idle = idle_ctx(&store.data().ctx);
        let ctx = std::mem::replace(&mut store.data_mut().ctx, idle);
        let wasm = WasmInstance {
            prepared,
            store,
            instance,
            memory,
            globals,
            table,
            heap_snapshot: Vec::new(),
            global_snapshot: Vec::new(),
        };
        Ok((wasm, ctx))
    }

    /// Runs `entry` with `ctx`, committing according to `commit` if it does not trap.
    pub fn run(&mut self, entry: &EntryPoint, mut ctx: MessageCtx, commit: Commit) -> Execution {
        let limit = ctx.instruction_limit;
        self.save_snapshot();
        ctx.stable.begin();
        let idle = idle_ctx(&ctx);
        self.store.data_mut().ctx = ctx;
        let result = self
            .store
            .set_fuel(limit)
            .map_err(engine_error)
            .and_then(|()| self.call(entry, limit));
        let instructions = limit - self.store.get_fuel().unwrap_or(0);
        let mut ctx = std::mem::replace(&mut self.store.data_mut().ctx, idle);
        let keep_heap = result.is_ok() && commit == Commit::All;
        let keep_stable = result.is_ok() && commit != Commit::Nothing;
        if keep_stable {
            ctx.stable.commit();
        } else {
            ctx.stable.rollback();
        }
        if !keep_heap {
            self.restore_snapshot();
        }
        Execution {
            ctx,
            result,
            instructions,
        }
    }

    fn call(&mut self, entry: &EntryPoint, limit: u64) -> Result<(), ExecError> {
        let outcome = match entry {
            EntryPoint::Export(name) => {
                let func = self
                    .instance
                    .get_typed_func::<(), ()>(&mut self.store, name)
                    .map_err(|e| ExecError {
                        code: ErrorCode::CanisterFunctionNotFound,
                        message: format!("Canister has no entry point '{name}': {e}"),
                    })?;
                func.call(&mut self.store, ())
            }
            EntryPoint::Closure(closure) => {
                let func = self.table_func(closure.func)?;
                let typed = func.typed::<i32, ()>(&self.store).map_err(|e| ExecError {
                    code: ErrorCode::CanisterContractViolation,
                    message: format!("callback {} has the wrong type: {e}", closure.func),
                })?;
                typed.call(&mut self.store, closure.env as i32)
            }
        };
        outcome.map_err(|e| map_error(e, limit))
    }

    fn table_func(&mut self, index: u32) -> Result<wasmtime::Func, ExecError> {
        let missing = || ExecError {
            code: ErrorCode::CanisterContractViolation,
            message: format!(
                "callback function index {index} is not a function in the canister's table"
            ),
        };
        let table = self.table.ok_or_else(missing)?;
        match table.get(&mut self.store, index as u64) {
            Some(Ref::Func(Some(func))) => Ok(func),
            _ => Err(missing()),
        }
    }

    fn save_snapshot(&mut self) {
        if let Some(memory) = self.memory {
            let data = memory.data(&self.store);
            self.heap_snapshot.clear();
            self.heap_snapshot.extend_from_slice(data);
        }
        self.global_snapshot.clear();
        for global in &self.globals {
            self.global_snapshot.push(global.get(&mut self.store));
        }
    }

    fn restore_snapshot(&mut self) {
        let grew = self
            .memory
            .is_some_and(|m| m.data_size(&self.store) > self.heap_snapshot.len());
        if grew {
            // Wasm memories cannot shrink: start from a fresh instance of the
            // same module and put the saved state into it.
            self.reinstantiate();
        }
        if let Some(memory) = self.memory {
            memory.data_mut(&mut self.store)[..self.heap_snapshot.len()]
                .copy_from_slice(&self.heap_snapshot);
        }
        for (global, value) in self.globals.iter().zip(&self.global_snapshot) {
            global
                .set(&mut self.store, *value)
                .expect("restoring a global to a value of its own type");
        }
    }

    fn reinstantiate(&mut self) {
        self.store.set_fuel(u64::MAX / 2).expect("fuel is enabled");
        let instance = self
            .prepared
            .instance_pre
            .instantiate(&mut self.store)
            .expect("a module that instantiated once instantiates again");
        let (memory, globals, table) = handles(&mut self.store, &instance, &self.prepared);
        if let Some(memory) = memory {
            let pages_needed = (self.heap_snapshot.len() as u64).div_ceil(65536);
            let current = memory.size(&self.store);
            if pages_needed > current {
                memory
                    .grow(&mut self.store, pages_needed - current)
                    .expect("growing to a size the module had before");
            }
        }
        self.store.data_mut().memory = memory;
        self.instance = instance;
        self.memory = memory;
        self.globals = globals;
        self.table = table;
    }

    /// Bytes of Wasm memory in use (for canister_status and metrics).
    pub fn memory_size(&self) -> u64 {
        self.memory.map_or(0, |m| m.data_size(&self.store) as u64)
    }
}

fn handles(
    store: &mut Store<StoreData>,
    instance: &Instance,
    prepared: &PreparedModule,
) -> (Option<Memory>, Vec<Global>, Option<Table>) {
    let memory = instance.get_memory(&mut *store, crate::wasm::MEMORY_EXPORT);
    let globals = prepared
        .globals
        .iter()
        .map(|name| {
            instance
                .get_global(&mut *store, name)
                .expect("instrumentation exported every mutable global")
        })
        .collect();
    let table = if prepared.has_table {
        instance.get_table(&mut *store, TABLE_EXPORT)
    } else {
        None
    };
    (memory, globals, table)
}

fn idle_ctx(ctx: &MessageCtx) -> MessageCtx {
    MessageCtx::new(
        ctx.api,
        ctx.canister_id,
        ctx.costs.clone(),
        ctx.root_key_der.clone(),
    )
}

fn engine_error(e: wasmtime::Error) -> ExecError {
    ExecError {
        code: ErrorCode::CanisterWasmEngineError,
        message: format!("Wasm engine error: {e:#}"),
    }
}

/// Maps a wasmtime failure to the replica's error code and message.
fn map_error(e: wasmtime::Error, limit: u64) -> ExecError {
    if let Some(host) = e.downcast_ref::<HostTrap>() {
        if host.code == ErrorCode::CanisterInstructionLimitExceeded {
            return instruction_limit(limit);
        }
        return ExecError {
            code: host.code,
            message: host.message.clone(),
        };
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => instruction_limit(limit),
        Some(trap) => ExecError {
            code: ErrorCode::CanisterTrapped,
            message: format!("Canister trapped: {}", trap_name(trap)),
        },
        None => engine_error(e),
    }
}

fn instruction_limit(limit: u64) -> ExecError {
    ExecError {
        code: ErrorCode::CanisterInstructionLimitExceeded,
        message: format!(
            "Canister exceeded the limit of {limit} instructions for single message execution."
        ),
    }
}

/// The replica's wording for Wasm traps.
fn trap_name(trap: &wasmtime::Trap) -> String {
    use wasmtime::Trap::*;
    match trap {
        UnreachableCodeReached => "unreachable".into(),
        MemoryOutOfBounds => "heap out of bounds".into(),
        StackOverflow => "stack overflow".into(),
        IntegerDivisionByZero => "integer division by 0".into(),
        IntegerOverflow => "integer overflow".into(),
        TableOutOfBounds => "table out of bounds".into(),
        IndirectCallToNull | BadSignature => "indirect call to null or wrong signature".into(),
        BadConversionToInteger => "bad conversion to integer".into(),
        other => other.to_string(),
    }
}
