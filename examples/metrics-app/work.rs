//! The simulated work: `ops_per_second` times a second, a bounded arithmetic loop (a few
//! hundred microseconds of CPU at the defaults), then one more operation on the counters.

use std::time::Duration;

use opentelemetry::metrics::Counter;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::exposition::OpsCounter;

#[derive(Debug, Clone, Copy)]
pub struct Work {
    pub ops_per_second: u32,
    pub rounds: u32,
}

/// One operation: `rounds` steps of xorshift64 from `seed`. The result is returned (and
/// black-boxed) so that the loop is not optimised away.
pub fn operation(seed: u64, rounds: u32) -> u64 {
    let mut x = seed | 1;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    std::hint::black_box(x)
}

/// Works until `stop` is cancelled, counting every operation in `ops` and, when pushing, in
/// the OTLP counter.
pub async fn run(work: Work, ops: OpsCounter, otlp: Option<Counter<u64>>, stop: CancellationToken) {
    let period = Duration::from_secs(1) / work.ops_per_second.max(1);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        seed = operation(seed, work.rounds);
        ops.add(1);
        if let Some(c) = &otlp {
            c.add(1, &[]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_is_deterministic_and_depends_on_rounds() {
        assert_eq!(operation(42, 1000), operation(42, 1000));
        assert_ne!(operation(42, 1000), operation(42, 1001));
        assert_eq!(operation(42, 0), 43);
    }

    #[tokio::test]
    async fn counts_operations_until_stopped() {
        let ops = OpsCounter::default();
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(
            Work {
                ops_per_second: 1000,
                rounds: 10,
            },
            ops.clone(),
            None,
            stop.clone(),
        ));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while ops.get() < 5 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(ops.get() >= 5, "counted {}", ops.get());
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the loop ends on stop")
            .unwrap();
        let after = ops.get();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(ops.get(), after, "no work after stop");
    }
}
