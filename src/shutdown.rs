//! Shutdown helpers: waiting on a set of tasks with a deadline while logging, at intervals,
//! which components are still running.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// Waits for every `(name, handle)` until `deadline`. Returns the names still running then.
pub async fn join_until(
    stage: &str,
    tasks: Vec<(String, JoinHandle<()>)>,
    deadline: Instant,
) -> Vec<String> {
    let mut pending = tasks;
    let mut last_report = Instant::now();
    loop {
        pending.retain(|(_, h)| !h.is_finished());
        if pending.is_empty() {
            return Vec::new();
        }
        let now = Instant::now();
        if now >= deadline {
            return pending.into_iter().map(|(n, _)| n).collect();
        }
        if now.duration_since(last_report) >= Duration::from_secs(2) {
            let names: Vec<&str> = pending.iter().map(|(n, _)| n.as_str()).collect();
            tracing::info!(stage, still_running = ?names, "Waiting for components to stop.");
            last_report = now;
        }
        tokio::time::sleep(Duration::from_millis(10).min(deadline - now)).await;
    }
}
