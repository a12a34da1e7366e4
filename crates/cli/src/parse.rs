//! Parsers of command-line values. Each returns a message that says what is
//! wrong and what form is expected (clap prints it with the flag's name).

use candid::Principal;
use tensormine_core::registry::{Gpu, WorkloadKind, WorkloadOffer};
use tensormine_core::router::Tier;

const GIB: f64 = (1u64 << 30) as f64;

/// `none`, `audit:PPM` (1–1000000 parts per million audited), `redundant:K`
/// (2–16 miners) or `freivalds`.
pub fn tier(text: &str) -> Result<Tier, String> {
    const FORMS: &str = "expected none, audit:PPM, redundant:K or freivalds";
    let lower = text.trim().to_ascii_lowercase();
    let (name, value) = match lower.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (lower.as_str(), None),
    };
    match (name, value) {
        ("none", None) => Ok(Tier::None),
        ("freivalds", None) => Ok(Tier::Freivalds),
        ("audit", Some(v)) => {
            let ppm: u32 = v
                .parse()
                .map_err(|_| format!("audit rate {v:?} is not a whole number of parts per million (e.g. audit:50000 for 5 %)"))?;
            if ppm == 0 || ppm > 1_000_000 {
                return Err(format!(
                    "audit rate {ppm} is out of range: 1 to 1000000 parts per million"
                ));
            }
            Ok(Tier::Audit { rate_ppm: ppm })
        }
        ("redundant", Some(v)) => {
            let k: u8 = v
                .parse()
                .map_err(|_| format!("replica count {v:?} is not a number (e.g. redundant:2)"))?;
            if !(2..=16).contains(&k) {
                return Err(format!("replica count {k} is out of range: 2 to 16 miners"));
            }
            Ok(Tier::Redundant { k })
        }
        ("audit", None) => Err("audit needs a rate: audit:PPM, e.g. audit:50000 for 5 %".into()),
        ("redundant", None) => {
            Err("redundant needs a miner count: redundant:K, e.g. redundant:2".into())
        }
        ("none" | "freivalds", Some(_)) => Err(format!("{name} takes no value; {FORMS}")),
        _ => Err(format!("unknown tier {text:?}; {FORMS}")),
    }
}

/// The textual form of a tier (inverse of [`tier`]).
pub fn tier_text(t: &Tier) -> String {
    match t {
        Tier::None => "none".into(),
        Tier::Audit { rate_ppm } => format!("audit:{rate_ppm}"),
        Tier::Redundant { k } => format!("redundant:{k}"),
        Tier::Freivalds => "freivalds".into(),
    }
}

/// Matmul dimensions `MxKxN` (A is M×K, B is K×N), each ≥ 1.
pub fn matmul_dims(text: &str) -> Result<(u32, u32, u32), String> {
    let parts: Vec<&str> = text.trim().split(['x', 'X', '×']).collect();
    if parts.len() != 3 {
        return Err(format!(
            "{text:?} is not MxKxN (three sizes joined by x, e.g. 1024x1024x1024)"
        ));
    }
    let mut dims = [0u32; 3];
    for (slot, (part, name)) in dims.iter_mut().zip(parts.iter().zip(["M", "K", "N"])) {
        let v: u32 = part
            .trim()
            .parse()
            .map_err(|_| format!("{name} = {part:?} in {text:?} is not a whole number"))?;
        if v == 0 {
            return Err(format!(
                "{name} in {text:?} is 0; every size must be at least 1"
            ));
        }
        *slot = v;
    }
    Ok((dims[0], dims[1], dims[2]))
}

/// `n` bytes of hex (either case, optional 0x prefix).
pub fn hex_bytes(text: &str, n: usize, what: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let bytes = hex::decode(t).map_err(|_| format!("{what} {text:?} is not hex"))?;
    if bytes.len() != n {
        return Err(format!(
            "{what} must be {n} bytes ({} hex characters), got {} bytes",
            2 * n,
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// A 32-byte seed in hex.
pub fn seed(text: &str) -> Result<[u8; 32], String> {
    let b = hex_bytes(text, 32, "seed")?;
    Ok(b.try_into().expect("32 bytes"))
}

/// A 32-byte model id in hex.
pub fn model_id(text: &str) -> Result<[u8; 32], String> {
    let b = hex_bytes(text, 32, "model id")?;
    Ok(b.try_into().expect("32 bytes"))
}

/// A 32-byte ed25519 public key in hex.
pub fn public_key(text: &str) -> Result<[u8; 32], String> {
    let b = hex_bytes(text, 32, "public key")?;
    Ok(b.try_into().expect("32 bytes"))
}

/// `model:memGiB:count`, e.g. `NVIDIA RTX 4090:24:2` (the model may contain `:`).
pub fn gpu(text: &str) -> Result<Gpu, String> {
    let mut parts = text.rsplitn(3, ':');
    let (count, mem, model) = match (parts.next(), parts.next(), parts.next()) {
        (Some(c), Some(m), Some(model)) => (c, m, model),
        _ => {
            return Err(format!(
                "{text:?} is not model:memGiB:count (e.g. \"NVIDIA RTX 4090:24:1\")"
            ))
        }
    };
    let model = model.trim();
    if model.is_empty() {
        return Err(format!("GPU {text:?} has an empty model name"));
    }
    let gib: f64 = mem
        .trim()
        .parse()
        .ok()
        .filter(|g: &f64| g.is_finite() && *g > 0.0)
        .ok_or_else(|| format!("GPU memory {mem:?} is not a positive number of GiB"))?;
    let bytes = gib * GIB;
    if bytes > u64::MAX as f64 / 2.0 {
        return Err(format!("GPU memory {mem} GiB is too large"));
    }
    let count: u32 = count
        .trim()
        .parse()
        .ok()
        .filter(|c| *c >= 1)
        .ok_or_else(|| format!("GPU count {count:?} is not a whole number ≥ 1"))?;
    Ok(Gpu {
        model: model.to_string(),
        memory_bytes: bytes.round() as u64,
        count,
    })
}

/// A workload name: `matmul` or `embed`.
pub fn workload(text: &str) -> Result<WorkloadKind, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "matmul" => Ok(WorkloadKind::Matmul),
        "embed" => Ok(WorkloadKind::Embed),
        other => Err(format!(
            "unknown workload {other:?}; expected matmul or embed"
        )),
    }
}

/// `workload=PRICE`, the asking price in sats per unit (matmul: GFLOP, embed: 1000 sentences).
pub fn offer(text: &str) -> Result<WorkloadOffer, String> {
    let (w, p) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not workload=PRICE (e.g. matmul=5)"))?;
    let workload = workload(w)?;
    let price: u64 = p
        .trim()
        .parse()
        .map_err(|_| format!("price {p:?} is not a whole number of sats per unit"))?;
    Ok(WorkloadOffer {
        workload,
        price_sats_per_unit: price,
    })
}

/// A principal in text form.
pub fn principal(text: &str) -> Result<Principal, String> {
    Principal::from_text(text.trim()).map_err(|e| format!("{text:?} is not a principal ({e})"))
}

/// Format a byte count in GiB for display.
pub fn gib(bytes: u64) -> String {
    let g = bytes as f64 / GIB;
    if (g - g.round()).abs() < 1e-9 {
        format!("{} GiB", g.round() as u64)
    } else {
        format!("{g:.2} GiB")
    }
}
