//! What the benchmark ran on, and the node's memory.

use serde::Serialize;

/// The machine, from /proc.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    /// Logical CPUs available to this process.
    pub cores: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// MemTotal from /proc/meminfo, in bytes.
    pub memory_bytes: Option<u64>,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads the description of this machine.
    pub(crate) fn describe() -> Self {
        Machine {
            cores: cores(),
            cpu: cpu_model().unwrap_or_else(|| "unknown".into()),
            memory_bytes: memory_bytes(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".into(), |s| s.trim().to_string()),
        }
    }

    /// One line for humans.
    pub(crate) fn line(&self) -> String {
        format!(
            "{} cores, {}, {} RAM, Linux {}",
            self.cores,
            self.cpu,
            self.memory_bytes.map_or_else(|| "unknown".into(), gib),
            self.kernel
        )
    }
}

/// This machine in one short line, as `bench x402` prints it: cores, CPU, memory.
pub(crate) fn summary() -> String {
    format!(
        "{} cores, {}, {}",
        cores(),
        cpu_model().unwrap_or_else(|| "unknown CPU".into()),
        memory_bytes().map_or_else(|| "unknown memory".into(), gib)
    )
}

/// Logical CPUs available to this process (0 if unknown).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
}

/// `model name` from /proc/cpuinfo.
fn cpu_model() -> Option<String> {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()?
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_string())
        })
}

/// MemTotal from /proc/meminfo, in bytes.
fn memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    status_kib(&meminfo, "MemTotal").map(|k| k * 1024)
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// A `Key:   123 kB` field of /proc/meminfo or /proc/<pid>/status, in KiB.
fn status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k.trim() != key {
            return None;
        }
        v.split_whitespace().next()?.parse().ok()
    })
}

/// Peak resident set size (VmHWM) of process `pid`, in bytes.
pub(crate) fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_kib(&status, "VmHWM").map(|k| k * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc() {
        assert_eq!(
            status_kib("VmHWM:\t  2048 kB\nVmRSS: 1 kB", "VmHWM"),
            Some(2048)
        );
        assert!(peak_rss(std::process::id()).is_some_and(|b| b > 0));
        assert!(Machine::describe().cores > 0);
        let line = summary();
        assert!(
            line.contains(" cores, ") && line.ends_with(" GiB"),
            "{line}"
        );
    }
}
