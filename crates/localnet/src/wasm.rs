//! Turning the bytes of `install_code` into a module wasmtime can run: gzip
//! decoding, the checks the IC makes at install time, and the instrumentation
//! localnet needs to roll a canister back after a trap.

use crate::system_api::{StoreData, SYSTEM_API_NAMES};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;
use wasmtime::{Engine, InstancePre, Linker, Module};

/// The IC's limit on a decompressed canister module.
pub const MAX_WASM_SIZE: usize = 100 * 1024 * 1024;
/// Prefix of the exports localnet adds for every mutable global, so that a
/// trapped message can restore them (the IC's own instrumentation does the same).
pub const GLOBAL_EXPORT_PREFIX: &str = "__localnet_global_";
/// Export name under which localnet exposes the module's function table, needed
/// to run reply/reject/cleanup callbacks by table index.
pub const TABLE_EXPORT: &str = "__localnet_table";
pub const MEMORY_EXPORT: &str = "__localnet_memory";

/// What a canister module exports that the IC cares about.
#[derive(Clone, Debug, Default)]
pub struct CanisterExports {
    pub updates: BTreeSet<String>,
    pub queries: BTreeSet<String>,
    pub composite_queries: BTreeSet<String>,
    pub init: bool,
    pub pre_upgrade: bool,
    pub post_upgrade: bool,
    pub inspect_message: bool,
    pub heartbeat: bool,
    pub global_timer: bool,
    pub on_low_wasm_memory: bool,
}

/// A module that passed the install-time checks, compiled.
pub struct PreparedModule {
    /// The module linked against localnet's system API, ready to instantiate.
    pub instance_pre: InstancePre<StoreData>,
    /// sha256 of the module as installed (after gzip decoding), as canister_status reports it.
    pub module_hash: [u8; 32],
    pub exports: CanisterExports,
    /// Names of the exported mutable globals, in a stable order.
    pub globals: Vec<String>,
    pub has_table: bool,
    /// Custom sections named `icp:public <name>` (true) or `icp:private <name>`
    /// (false), by name, as the state tree's `/canister/<id>/metadata/<name>` shows them.
    pub metadata: BTreeMap<String, (bool, Vec<u8>)>,
}

/// Why a module was refused at install time (IC0505 CanisterInvalidWasm).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct InvalidWasm(pub String);

fn invalid(msg: impl Into<String>) -> InvalidWasm {
    InvalidWasm(msg.into())
}

/// Decodes a possibly gzipped module, checks it and compiles it.
pub fn prepare(
    engine: &Engine,
    linker: &Linker<StoreData>,
    bytes: &[u8],
) -> Result<PreparedModule, InvalidWasm> {
    let wasm = decode(bytes)?;
    let module_hash: [u8; 32] = Sha256::digest(&wasm).into();
    let parsed = walrus::ModuleConfig::new()
        .generate_producers_section(false)
        .parse(&wasm)
        .map_err(|e| invalid(format!("Wasm module is not valid: {e:#}")))?;
    check_imports(&parsed)?;
    let metadata = icp_metadata(&wasm)?;
    let exports = collect_exports(&parsed)?;
    let (instrumented, globals, has_table) = instrument(parsed)?;
    let module = compile_cached(engine, &instrumented)?;
    let instance_pre = linker.instantiate_pre(&module).map_err(|e| {
        invalid(format!(
            "Wasm module cannot be linked against the system API: {e:#}"
        ))
    })?;
    Ok(PreparedModule {
        instance_pre,
        module_hash,
        exports,
        globals,
        has_table,
        metadata,
    })
}

/// The module's `icp:public` / `icp:private` custom sections. A name used twice
/// is refused, as the replica does.
fn icp_metadata(wasm: &[u8]) -> Result<BTreeMap<String, (bool, Vec<u8>)>, InvalidWasm> {
    let mut sections = BTreeMap::new();
    for (name, data) in custom_sections(wasm)? {
        let (public, name) = if let Some(n) = name.strip_prefix("icp:public ") {
            (true, n)
        } else if let Some(n) = name.strip_prefix("icp:private ") {
            (false, n)
        } else {
            continue;
        };
        if sections
            .insert(name.to_string(), (public, data.to_vec()))
            .is_some()
        {
            return Err(invalid(format!(
                "Invalid custom section: name {name} declared more than once"
            )));
        }
    }
    Ok(sections)
}

/// The custom sections (id 0) of a Wasm binary: (name, contents).
fn custom_sections(wasm: &[u8]) -> Result<Vec<(&str, &[u8])>, InvalidWasm> {
    fn leb(bytes: &[u8], pos: &mut usize) -> Result<usize, InvalidWasm> {
        let mut value: u64 = 0;
        for shift in (0..35).step_by(7) {
            let byte = *bytes
                .get(*pos)
                .ok_or_else(|| invalid("Wasm module is truncated"))?;
            *pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value as usize);
            }
        }
        Err(invalid("Wasm module has a malformed LEB128 length"))
    }
    let mut sections = Vec::new();
    let mut pos = 8; // magic and version
    while pos < wasm.len() {
        let id = wasm[pos];
        pos += 1;
        let size = leb(wasm, &mut pos)?;
        let end = pos
            .checked_add(size)
            .filter(|&e| e <= wasm.len())
            .ok_or_else(|| invalid("Wasm module is truncated"))?;
        if id == 0 {
            let mut p = pos;
            let name_len = leb(wasm, &mut p)?;
            let name_end = p
                .checked_add(name_len)
                .filter(|&e| e <= end)
                .ok_or_else(|| invalid("Wasm custom section name is truncated"))?;
            let name = std::str::from_utf8(&wasm[p..name_end])
                .map_err(|_| invalid("Wasm custom section name is not UTF-8"))?;
            sections.push((name, &wasm[name_end..end]));
        }
        pos = end;
    }
    Ok(sections)
}

fn decode(bytes: &[u8]) -> Result<Vec<u8>, InvalidWasm> {
    const WASM_MAGIC: &[u8] = b"\0asm";
    const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
    if bytes.starts_with(WASM_MAGIC) {
        return Ok(bytes.to_vec());
    }
    if !bytes.starts_with(GZIP_MAGIC) {
        return Err(invalid(
            "Wasm module is neither a Wasm binary (\\0asm) nor gzip-compressed Wasm",
        ));
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_WASM_SIZE as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| invalid(format!("Failed to decompress the gzipped Wasm module: {e}")))?;
    if out.len() > MAX_WASM_SIZE {
        return Err(invalid(format!(
            "Decompressed Wasm module exceeds the limit of {MAX_WASM_SIZE} bytes"
        )));
    }
    if !out.starts_with(WASM_MAGIC) {
        return Err(invalid("Decompressed module is not a Wasm binary"));
    }
    Ok(out)
}

/// Every import must be an `ic0` function localnet implements; anything else is
/// refused naming the import. Signatures are checked by wasmtime when the module
/// is linked (`InstancePre`), whose error also names the import.
fn check_imports(module: &walrus::Module) -> Result<(), InvalidWasm> {
    for import in module.imports.iter() {
        if import.module != "ic0" || !matches!(import.kind, walrus::ImportKind::Function(_)) {
            return Err(invalid(format!(
                "Wasm module imports '{}.{}'; canisters may only import functions of the 'ic0' module",
                import.module, import.name
            )));
        }
        if !SYSTEM_API_NAMES.contains(&import.name.as_str()) {
            return Err(invalid(format!(
                "Wasm module imports the system function 'ic0.{}', which localnet does not provide",
                import.name
            )));
        }
    }
    Ok(())
}

fn collect_exports(module: &walrus::Module) -> Result<CanisterExports, InvalidWasm> {
    let mut exports = CanisterExports::default();
    let mut methods = BTreeSet::new();
    for export in module.exports.iter() {
        let walrus::ExportItem::Function(_) = export.item else {
            continue;
        };
        let name = export.name.as_str();
        let method = |prefix: &str| name.strip_prefix(prefix).map(str::to_string);
        if let Some(m) = method("canister_update ") {
            insert_method(&mut methods, &m)?;
            exports.updates.insert(m);
        } else if let Some(m) = method("canister_query ") {
            insert_method(&mut methods, &m)?;
            exports.queries.insert(m);
        } else if let Some(m) = method("canister_composite_query ") {
            insert_method(&mut methods, &m)?;
            exports.composite_queries.insert(m);
        } else {
            match name {
                "canister_init" => exports.init = true,
                "canister_pre_upgrade" => exports.pre_upgrade = true,
                "canister_post_upgrade" => exports.post_upgrade = true,
                "canister_inspect_message" => exports.inspect_message = true,
                "canister_heartbeat" => exports.heartbeat = true,
                "canister_global_timer" => exports.global_timer = true,
                "canister_on_low_wasm_memory" => exports.on_low_wasm_memory = true,
                other if other.starts_with("canister_") => {
                    return Err(invalid(format!(
                        "Wasm module exports the reserved function name '{other}', which is not a valid canister entry point"
                    )))
                }
                _ => {}
            }
        }
    }
    Ok(exports)
}

fn insert_method(methods: &mut BTreeSet<String>, name: &str) -> Result<(), InvalidWasm> {
    if !methods.insert(name.to_string()) {
        return Err(invalid(format!(
            "Wasm module exports the method '{name}' more than once (as update, query or composite query)"
        )));
    }
    Ok(())
}

/// Exports every mutable global, the function table and the memory under
/// names of localnet's own, and drops the `start` function's export semantics
/// untouched. Returns the instrumented bytes, the global export names and
/// whether a table exists.
fn instrument(mut module: walrus::Module) -> Result<(Vec<u8>, Vec<String>, bool), InvalidWasm> {
    if module.memories.iter().count() > 1 {
        return Err(invalid("Wasm module defines more than one memory"));
    }
    let mutable: Vec<walrus::GlobalId> = module
        .globals
        .iter()
        .filter(|g| g.mutable)
        .map(|g| g.id())
        .collect();
    let mut names = Vec::with_capacity(mutable.len());
    for (i, id) in mutable.into_iter().enumerate() {
        let name = format!("{GLOBAL_EXPORT_PREFIX}{i}");
        module.exports.add(&name, walrus::ExportItem::Global(id));
        names.push(name);
    }
    let table = module.tables.iter().next().map(|t| t.id());
    if let Some(table) = table {
        module
            .exports
            .add(TABLE_EXPORT, walrus::ExportItem::Table(table));
    }
    if let Some(memory) = module.memories.iter().next().map(|m| m.id()) {
        module
            .exports
            .add(MEMORY_EXPORT, walrus::ExportItem::Memory(memory));
    }
    Ok((module.emit_wasm(), names, table.is_some()))
}

/// Compiles a module, reusing a compiled artifact from an on-disk cache keyed by
/// the module's hash and the engine's configuration: tests run as many
/// processes, and compiling a canister with cranelift takes seconds.
fn compile_cached(engine: &Engine, wasm: &[u8]) -> Result<Module, InvalidWasm> {
    let path = cache_path(engine, wasm);
    if let Some(path) = &path {
        if let Ok(bytes) = std::fs::read(path) {
            // SAFETY: the file is in a directory only this user writes, and was
            // produced by `Module::serialize` for an engine with the same
            // compatibility hash (part of the file name); wasmtime checks that too.
            if let Ok(module) = unsafe { Module::deserialize(engine, &bytes) } {
                return Ok(module);
            }
        }
    }
    let module = Module::new(engine, wasm)
        .map_err(|e| invalid(format!("Wasm module failed to compile: {e:#}")))?;
    if let (Some(path), Ok(bytes)) = (path, module.serialize()) {
        // The cache is an optimisation: failing to write it is not an error.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    Ok(module)
}

fn cache_path(engine: &Engine, wasm: &[u8]) -> Option<PathBuf> {
    use std::hash::{Hash, Hasher};
    let dir = match std::env::var_os("LOCALNET_CACHE_DIR") {
        Some(dir) if dir.is_empty() => return None,
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("localnet-module-cache-{}", whoami())),
    };
    std::fs::create_dir_all(&dir).ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hex::encode(Sha256::digest(wasm));
    Some(dir.join(format!("{digest}-{:016x}.cwasm", hasher.finish())))
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "user".into())
}
