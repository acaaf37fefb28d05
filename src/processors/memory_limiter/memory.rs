//! Where the memory limiter's numbers come from on Linux: the process's resident set size
//! (memory in use) and the total memory percentages refer to (the cgroup limit, else the
//! host's `MemTotal`).
//!
//! Memory in use is RSS (`VmRSS` in `/proc/self/status`, which is in kB and so needs no page
//! size assumption). otelcol samples Go's `HeapAlloc`; Rust has no GC heap, and RSS is what
//! the kernel's cgroup OOM killer (and so Kubernetes) charges the process for, which makes it
//! the honest measure. It includes allocator slack the process has freed but not returned,
//! so it errs on the side of refusing early. Everything here degrades to `None` off Linux or
//! when `/proc` is unreadable; nothing is cached.

use std::path::Path;

/// Reads the process's memory in use, in bytes.
pub type MemoryProbe = Box<dyn Fn() -> Option<u64> + Send + Sync>;

/// cgroup v1 reports "no limit" as a huge page-aligned number; anything at or above this is
/// treated as unlimited (2^62 bytes).
const UNLIMITED_THRESHOLD: u64 = 1 << 62;

/// The process's resident set size in bytes, from `/proc/self/status`.
pub fn process_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

/// The probe used in production.
pub fn rss_probe() -> MemoryProbe {
    Box::new(process_rss)
}

pub(super) fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    kb_field(&line["VmRSS:".len()..])
}

/// Parses `"   1234 kB"` into bytes.
fn kb_field(s: &str) -> Option<u64> {
    let mut it = s.split_whitespace();
    let n: u64 = it.next()?.parse().ok()?;
    match it.next() {
        Some("kB") | None => n.checked_mul(1024),
        Some(_) => None,
    }
}

/// Total memory available to this process: the cgroup memory limit when there is one and it
/// is below the host's memory, else the host's `MemTotal`.
pub fn total_memory() -> Option<u64> {
    total_memory_under(Path::new("/"))
}

/// `total_memory` with `/proc` and `/sys` looked up under `root` (for tests).
pub fn total_memory_under(root: &Path) -> Option<u64> {
    let host = std::fs::read_to_string(root.join("proc/meminfo"))
        .ok()
        .and_then(|m| parse_mem_total(&m));
    let cgroup = cgroup_limit(root);
    match (cgroup, host) {
        (Some(c), Some(h)) => Some(c.min(h)),
        (Some(c), None) => Some(c),
        (None, h) => h,
    }
}

pub(super) fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    kb_field(&line["MemTotal:".len()..])
}

/// The memory limit of this process's cgroup (v2 `memory.max`, else v1
/// `memory.limit_in_bytes`), or `None` when unlimited or unknown.
fn cgroup_limit(root: &Path) -> Option<u64> {
    let membership = std::fs::read_to_string(root.join("proc/self/cgroup")).unwrap_or_default();
    let mut candidates = Vec::new();
    for line in membership.lines() {
        // "hierarchy-id:controllers:path"
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if controllers.is_empty() {
            candidates.push(root.join("sys/fs/cgroup").join(rel).join("memory.max"));
        } else if controllers.split(',').any(|c| c == "memory") {
            candidates.push(
                root.join("sys/fs/cgroup/memory")
                    .join(rel)
                    .join("memory.limit_in_bytes"),
            );
        }
    }
    // Inside a cgroup namespace the process's own cgroup is mounted at the root.
    candidates.push(root.join("sys/fs/cgroup/memory.max"));
    candidates.push(root.join("sys/fs/cgroup/memory/memory.limit_in_bytes"));
    candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| parse_limit(&text))
}

pub(super) fn parse_limit(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "max" {
        return None;
    }
    let v: u64 = t.parse().ok()?;
    (v > 0 && v < UNLIMITED_THRESHOLD).then_some(v)
}
