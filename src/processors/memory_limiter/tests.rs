//! Memory limiter tests: refusal above the soft limit and recovery, the check interval,
//! limit resolution (MiB and percentages against a fake total), the /proc and cgroup parsers,
//! every validation message, and the factory.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::memory::{parse_limit, parse_mem_total, parse_vm_rss, total_memory_under};
use super::*;
use crate::component::factory::Processor;
use crate::component::Kind;
use crate::data::{Batch, Logs, Metrics, Traces};
use crate::telemetry::metrics::MetricsRegistry;

const MIB: u64 = 1024 * 1024;

fn spans(n: usize) -> Batch<Traces> {
    Batch::new(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: (0..n)
                .map(|i| Span {
                    name: format!("s{i}"),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn log_batch(n: usize) -> Batch<Logs> {
    Batch::new(vec![ResourceLogs {
        scope_logs: vec![ScopeLogs {
            log_records: (0..n).map(|_| LogRecord::default()).collect(),
            ..Default::default()
        }],
        ..Default::default()
    }])
}

/// A probe reading a shared value (bytes) and counting its calls.
fn fake_probe(used: &Arc<AtomicU64>, calls: &Arc<AtomicUsize>) -> MemoryProbe {
    let (u, c) = (Arc::clone(used), Arc::clone(calls));
    Box::new(move || {
        c.fetch_add(1, Ordering::SeqCst);
        Some(u.load(Ordering::SeqCst))
    })
}

fn cfg(yaml: &str) -> MemoryLimiterConfig {
    let raw: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    crate::config::decode::decode(&raw, "processors::memory_limiter").unwrap()
}

fn counter(reg: &MetricsRegistry, name: &str) -> f64 {
    reg.value(name, &[("processor", "memory_limiter")])
        .unwrap_or(0.0)
}

#[test]
fn refuses_above_soft_limit_and_recovers_below_it() {
    let used = Arc::new(AtomicU64::new(50 * MIB));
    let calls = Arc::new(AtomicUsize::new(0));
    let reg = MetricsRegistry::new();
    let limits = Limits {
        hard: 100 * MIB,
        spike: 20 * MIB,
    };
    assert_eq!(limits.soft(), 80 * MIB);
    let mut ml = MemoryLimiter::<Traces>::new(
        "memory_limiter",
        limits,
        Duration::ZERO,
        fake_probe(&used, &calls),
        &reg,
    );
    let mut out = Vec::new();
    ml.process(spans(3), &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0], spans(3), "data passes through unchanged");

    used.store(80 * MIB, Ordering::SeqCst);
    let err = ml.process(spans(4), &mut out).unwrap_err();
    assert_eq!(err.message, "data refused due to high memory usage");
    assert!(!err.permanent);
    assert!(ml.is_refusing());
    assert_eq!(out.len(), 1);

    // Still above the soft limit (between soft and hard): still refusing.
    used.store(95 * MIB, Ordering::SeqCst);
    assert!(ml.process(spans(5), &mut out).is_err());
    // Above the hard limit: refusing.
    used.store(150 * MIB, Ordering::SeqCst);
    assert!(ml.process(spans(1), &mut out).is_err());

    used.store(80 * MIB - 1, Ordering::SeqCst);
    ml.process(spans(2), &mut out).unwrap();
    assert!(!ml.is_refusing());
    assert_eq!(out.len(), 2);

    assert_eq!(
        counter(&reg, "otelcol_processor_memory_limiter_accepted_spans"),
        5.0
    );
    assert_eq!(
        counter(&reg, "otelcol_processor_memory_limiter_refused_spans"),
        10.0
    );
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[test]
fn memory_is_read_only_once_per_check_interval() {
    let used = Arc::new(AtomicU64::new(10 * MIB));
    let calls = Arc::new(AtomicUsize::new(0));
    let reg = MetricsRegistry::new();
    let mut ml = MemoryLimiter::<Logs>::new(
        "memory_limiter",
        Limits {
            hard: 100 * MIB,
            spike: 20 * MIB,
        },
        Duration::from_secs(3600),
        fake_probe(&used, &calls),
        &reg,
    );
    let mut out = Vec::new();
    ml.process(log_batch(1), &mut out).unwrap();
    // Memory rises, but the next check is not due yet: the last state holds.
    used.store(99 * MIB, Ordering::SeqCst);
    ml.process(log_batch(2), &mut out).unwrap();
    ml.process(log_batch(3), &mut out).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(out.len(), 3);
    // Once the interval has elapsed the new reading applies.
    ml.check_at(Instant::now() + Duration::from_secs(3601));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(ml.is_refusing());
    assert!(ml.process(log_batch(4), &mut out).is_err());
    assert_eq!(
        counter(
            &reg,
            "otelcol_processor_memory_limiter_accepted_log_records"
        ),
        6.0
    );
    assert_eq!(
        counter(&reg, "otelcol_processor_memory_limiter_refused_log_records"),
        4.0
    );
}

#[test]
fn unreadable_memory_does_not_refuse() {
    let reg = MetricsRegistry::new();
    let mut ml = MemoryLimiter::<Traces>::new(
        "memory_limiter",
        Limits { hard: 1, spike: 0 },
        Duration::ZERO,
        Box::new(|| None),
        &reg,
    );
    let mut out = Vec::new();
    ml.process(spans(1), &mut out).unwrap();
    assert_eq!(out.len(), 1);
}

#[test]
fn limits_from_mib_with_default_spike() {
    let never = || -> Option<u64> { panic!("total memory must not be read when limit_mib is set") };
    let l = Limits::resolve(&cfg("check_interval: 1s\nlimit_mib: 1000"), never).unwrap();
    assert_eq!(
        l,
        Limits {
            hard: 1000 * MIB,
            spike: 200 * MIB
        }
    );
    assert_eq!(l.soft(), 800 * MIB);
    let l = Limits::resolve(
        &cfg("check_interval: 1s\nlimit_mib: 400\nspike_limit_mib: 50\nlimit_percentage: 10"),
        never,
    )
    .unwrap();
    assert_eq!(l.soft(), 350 * MIB);
}

#[test]
fn limits_from_percentages_of_total() {
    let total = 8 * 1024 * MIB;
    let l = Limits::resolve(
        &cfg("check_interval: 5s\nlimit_percentage: 80\nspike_limit_percentage: 25"),
        || Some(total),
    )
    .unwrap();
    assert_eq!(l.hard, total * 80 / 100);
    assert_eq!(l.spike, total / 4);
    assert_eq!(l.soft(), total * 55 / 100);
    // Spike 0 means 20% of the hard limit.
    let l = Limits::resolve(&cfg("check_interval: 5s\nlimit_percentage: 50"), || {
        Some(1000 * MIB)
    })
    .unwrap();
    assert_eq!(l.hard, 500 * MIB);
    assert_eq!(l.spike, 100 * MIB);
    let e = Limits::resolve(&cfg("check_interval: 5s\nlimit_percentage: 50"), || None).unwrap_err();
    assert_eq!(
        e,
        "failed to get total memory, use fixed memory settings (limit_mib)"
    );
}

#[test]
fn proc_parsers() {
    let status = "Name:\tferrocol\nVmPeak:\t  999 kB\nVmRSS:\t   2048 kB\nThreads:\t4\n";
    assert_eq!(parse_vm_rss(status), Some(2048 * 1024));
    assert_eq!(parse_vm_rss("Name: x\n"), None);
    assert_eq!(parse_vm_rss("VmRSS: lots kB\n"), None);
    let meminfo = "MemTotal:       16333448 kB\nMemFree:         1234 kB\n";
    assert_eq!(parse_mem_total(meminfo), Some(16333448 * 1024));
    assert_eq!(parse_limit("max\n"), None);
    assert_eq!(parse_limit("536870912\n"), Some(536870912));
    assert_eq!(parse_limit("9223372036854771712\n"), None);
    assert_eq!(parse_limit("0"), None);
    assert_eq!(parse_limit("garbage"), None);
    let rss = process_rss().expect("/proc/self/status is readable on Linux");
    assert!(rss > MIB, "{rss}");
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn total_memory_prefers_the_cgroup_limit() {
    let meminfo = "MemTotal:       8388608 kB\n"; // 8 GiB
                                                  // cgroup v2 with the process's own path.
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "proc/meminfo", meminfo);
    write(d.path(), "proc/self/cgroup", "0::/kubepods/pod1/c1\n");
    write(
        d.path(),
        "sys/fs/cgroup/kubepods/pod1/c1/memory.max",
        "536870912\n",
    );
    assert_eq!(total_memory_under(d.path()), Some(512 * MIB));

    // cgroup v2 in a cgroup namespace ("0::/"), unlimited: host memory.
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "proc/meminfo", meminfo);
    write(d.path(), "proc/self/cgroup", "0::/\n");
    write(d.path(), "sys/fs/cgroup/memory.max", "max\n");
    assert_eq!(total_memory_under(d.path()), Some(8192 * MIB));

    // cgroup v1, path not visible inside the container: the mount root is used.
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "proc/meminfo", meminfo);
    write(
        d.path(),
        "proc/self/cgroup",
        "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n",
    );
    write(
        d.path(),
        "sys/fs/cgroup/memory/memory.limit_in_bytes",
        "1073741824\n",
    );
    assert_eq!(total_memory_under(d.path()), Some(1024 * MIB));

    // cgroup v1 unlimited (huge number): host memory.
    write(
        d.path(),
        "sys/fs/cgroup/memory/memory.limit_in_bytes",
        "9223372036854771712\n",
    );
    assert_eq!(total_memory_under(d.path()), Some(8192 * MIB));

    // A cgroup limit above the host's memory: host memory.
    write(
        d.path(),
        "sys/fs/cgroup/memory/memory.limit_in_bytes",
        "17179869184\n",
    );
    assert_eq!(total_memory_under(d.path()), Some(8192 * MIB));

    // Nothing readable at all.
    let d = tempfile::tempdir().unwrap();
    assert_eq!(total_memory_under(d.path()), None);
}

fn validate(yaml: &str) -> Vec<String> {
    let raw: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    MemoryLimiterFactory
        .validate(&raw, "processors::memory_limiter")
        .0
        .into_iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn validation_messages() {
    let p = "processors::memory_limiter: ";
    assert_eq!(
        validate("limit_mib: 100"),
        vec![format!("{p}'check_interval' must be greater than zero")]
    );
    // Null means defaults: both the interval and the limit are missing.
    let raw = serde_yaml::Value::Null;
    let errs = MemoryLimiterFactory.validate(&raw, "processors::memory_limiter");
    assert_eq!(errs.len(), 2);
    assert_eq!(
        validate("check_interval: 1s"),
        vec![format!(
            "{p}'limit_mib' or 'limit_percentage' must be greater than zero"
        )]
    );
    assert_eq!(
        validate("check_interval: 1s\nlimit_mib: 100\nspike_limit_mib: 100"),
        vec![format!(
            "{p}'spike_limit_mib' must be smaller than 'limit_mib'"
        )]
    );
    assert_eq!(
        validate("check_interval: 1s\nlimit_percentage: 50\nspike_limit_percentage: 60"),
        vec![format!(
            "{p}'spike_limit_percentage' must be smaller than 'limit_percentage'"
        )]
    );
    let over = validate("check_interval: 1s\nlimit_percentage: 101");
    assert_eq!(
        over,
        vec![format!("{p}'limit_percentage' and 'spike_limit_percentage' must be greater than zero and less than or equal to hundred")]
    );
    assert_eq!(
        validate("check_interval: 1s\nlimit_mib: 10\nmin_gc_interval_when_hard_limited: 20s"),
        vec![format!("{p}'min_gc_interval_when_soft_limited' should be larger than 'min_gc_interval_when_hard_limited'")]
    );
    assert_eq!(
        validate("check_interval: 1s\nlimit_mib: 10\nmax_gc_interval_when_soft_limited: 5s\nmax_gc_interval_when_hard_limited: 0s"),
        vec![format!("{p}'max_gc_interval_when_soft_limited' must be greater than or equal to 'min_gc_interval_when_soft_limited' (or 0 to disable)")]
    );
    assert_eq!(
        validate("check_interval: 1s\nlimit_mib: 10\nmin_gc_interval_when_hard_limited: 5s\nmax_gc_interval_when_hard_limited: 1s\nmax_gc_interval_when_soft_limited: 0s"),
        vec![format!("{p}'max_gc_interval_when_hard_limited' must be greater than or equal to 'min_gc_interval_when_hard_limited' (or 0 to disable)")]
    );
    assert_eq!(
        validate("check_interval: 1s\nlimit_mib: 10\nmax_gc_interval_when_soft_limited: 20s\nmax_gc_interval_when_hard_limited: 40s"),
        vec![format!("{p}'max_gc_interval_when_soft_limited' should be larger than or equal to 'max_gc_interval_when_hard_limited' (when both are set)")]
    );
    let e = validate("check_interval: 1s\nlimit_mib: 10\nballast_size_mib: 5");
    assert_eq!(e.len(), 1);
    assert!(e[0].contains("unknown field `ballast_size_mib`"), "{e:?}");
    assert!(validate("check_interval: 1s\nlimit_mib: -5")[0]
        .starts_with("processors::memory_limiter::limit_mib"));
    // The helm chart's settings and the README's are valid.
    assert!(
        validate("check_interval: 5s\nlimit_percentage: 80\nspike_limit_percentage: 25").is_empty()
    );
    assert!(validate("check_interval: 1s\nlimit_mib: 4000\nspike_limit_mib: 800").is_empty());
    assert!(validate("check_interval: 1s\nlimit_mib: 4000\nmin_gc_interval_when_soft_limited: 0s\nmax_gc_interval_when_soft_limited: 0s\nmax_gc_interval_when_hard_limited: 0s").is_empty());
}

#[test]
fn factory_builds_each_signal() {
    let f = MemoryLimiterFactory;
    assert_eq!(f.type_name(), "memory_limiter");
    assert!(f.stability().iter().all(|(_, s)| *s == Stability::Beta));
    assert_eq!(f.stability().len(), 3);
    let ctx = BuildContext::for_test(Kind::Processor, "memory_limiter/x");
    // A limit far above anything a test process uses: data passes.
    let raw: serde_yaml::Value =
        serde_yaml::from_str("check_interval: 1s\nlimit_mib: 1000000").unwrap();
    let Ok(AnyProcessor::Traces(mut p)) = f.build(&raw, &ctx, Signal::Traces) else {
        panic!("expected a traces processor");
    };
    let mut out = Vec::new();
    p.process(spans(2), &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(
        ctx.metrics.value(
            "otelcol_processor_memory_limiter_accepted_spans",
            &[("processor", "memory_limiter/x")]
        ),
        Some(2.0)
    );
    // A 1 MiB limit is below any real process RSS: data is refused.
    let raw: serde_yaml::Value = serde_yaml::from_str("check_interval: 1s\nlimit_mib: 1").unwrap();
    let Ok(AnyProcessor::Metrics(mut p)) = f.build(&raw, &ctx, Signal::Metrics) else {
        panic!("expected a metrics processor");
    };
    let mut out: Vec<Batch<Metrics>> = Vec::new();
    let err = p.process(Batch::default(), &mut out).unwrap_err();
    assert_eq!(err.message, REFUSED_MESSAGE);
    // Percentages resolve against this host's memory.
    let raw: serde_yaml::Value = serde_yaml::from_str(
        "check_interval: 1s\nlimit_percentage: 80\nspike_limit_percentage: 25",
    )
    .unwrap();
    assert!(matches!(
        f.build(&raw, &ctx, Signal::Logs),
        Ok(AnyProcessor::Logs(_))
    ));
    let e = f
        .build(&serde_yaml::Value::Null, &ctx, Signal::Logs)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("'check_interval' must be greater than zero"),
        "{e}"
    );
}
