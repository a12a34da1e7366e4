//! Hardware inventory in the registry's form: CPU model, cores and memory
//! always; GPUs through NVML with the `nvml` feature.

use tensormine_core::api::{CpuInfo, GpuInfo, Inventory};

/// Detects the machine's hardware.
pub fn detect() -> Inventory {
    Inventory {
        cpu: detect_cpu(),
        gpus: detect_gpus(),
    }
}

fn detect_cpu() -> CpuInfo {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    CpuInfo {
        model: cpu_model(&cpuinfo).unwrap_or_else(|| std::env::consts::ARCH.to_string()),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        memory_bytes: mem_total_bytes(&meminfo).unwrap_or(0),
    }
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, value)| value.trim().to_string())
}

fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(feature = "nvml")]
fn detect_gpus() -> Vec<GpuInfo> {
    let nvml = match nvml_wrapper::Nvml::init() {
        Ok(nvml) => nvml,
        Err(err) => {
            eprintln!("NVML unavailable, reporting no GPUs: {err}");
            return Vec::new();
        }
    };
    let count = nvml.device_count().unwrap_or(0);
    (0..count)
        .filter_map(|i| nvml.device_by_index(i).ok())
        .map(|device| GpuInfo {
            name: device.name().unwrap_or_default(),
            memory_bytes: device.memory_info().map(|m| m.total).unwrap_or(0),
            uuid: device.uuid().unwrap_or_default(),
        })
        .collect()
}

#[cfg(not(feature = "nvml"))]
fn detect_gpus() -> Vec<GpuInfo> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n").as_deref(),
            Some("AMD EPYC 7B13")
        );
        assert_eq!(
            mem_total_bytes("MemTotal:       16384 kB\nMemFree: 1 kB\n"),
            Some(16384 * 1024)
        );
        assert_eq!(mem_total_bytes(""), None);
    }
}
