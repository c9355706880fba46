//! What the benchmark ran on, and the node's memory.

use serde::Serialize;

/// The machine, from /proc.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
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
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            cpu,
            memory_bytes: status_kib(&meminfo, "MemTotal").map(|k| k * 1024),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
        }
    }

    /// One line for humans.
    pub fn line(&self) -> String {
        format!(
            "{} cores, {}, {} RAM, Linux {}",
            self.cores,
            self.cpu,
            self.memory_bytes
                .map(|b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64))
                .unwrap_or_else(|| "unknown".into()),
            self.kernel
        )
    }
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
pub fn peak_rss(pid: u32) -> Option<u64> {
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
    }
}
