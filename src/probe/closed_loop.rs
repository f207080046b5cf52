//! The closed loop, kept for throughput: `concurrency` workers take request numbers from one
//! counter and each sends its next request only when its last one is answered. It finds how
//! many requests per second an endpoint can serve; its latencies are not an SLO measurement,
//! because a stalled server also stalls the client, which then never sends the requests users
//! would have sent meanwhile. Reports say `corrected: false` and name the loop.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::figures::{ErrorKind, LoadReport, Method, RequestFailure, RunShape, Tally};
use super::load::{ClosedLoop, Exchange};

/// Runs the unmeasured warm-up, then the measured requests.
pub(crate) async fn run<E: Exchange>(exchange: Arc<E>, spec: &ClosedLoop) -> LoadReport {
    let warmup = if spec.warmup > 0 {
        Some(drive(&exchange, spec, spec.warmup).await.warmup_report())
    } else {
        None
    };
    let started = Instant::now();
    let tally = drive(&exchange, spec, spec.requests).await;
    let elapsed = started.elapsed();
    let shape = RunShape {
        method: Method::Closed {
            requests: spec.requests,
            concurrency: spec.concurrency,
            warmup: spec.warmup,
            timeout: spec.timeout,
        },
        corrected: false,
        offered_rps: None,
        achieved_rps: f64::from(spec.requests) / elapsed.as_secs_f64().max(f64::EPSILON),
        max_in_flight_seen: spec.concurrency.min(spec.requests),
        max_send_lag: Duration::ZERO,
        invalid: Vec::new(),
        warmup,
    };
    LoadReport::new(shape, tally)
}

/// Each worker keeps its own tally (no shared lock on the hot path); they are merged at the end.
async fn drive<E: Exchange>(exchange: &Arc<E>, spec: &ClosedLoop, requests: u32) -> Tally {
    let next = Arc::new(AtomicU32::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..spec.concurrency.min(requests) {
        let (exchange, next, timeout) = (exchange.clone(), next.clone(), spec.timeout);
        workers.spawn(async move {
            let mut tally = Tally::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= requests {
                    break;
                }
                let sent = Instant::now();
                let result = match tokio::time::timeout(timeout, exchange.exchange()).await {
                    Ok(result) => result,
                    Err(_) => Err(RequestFailure {
                        kind: ErrorKind::Timeout,
                        message: format!("no answer within {timeout:?}"),
                    }),
                };
                tally.record(index, sent.elapsed(), result);
            }
            tally
        });
    }
    let mut total = Tally::new();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(tally) => total.merge(tally),
            // A worker only ends early by panicking; that must surface, not shrink the figures.
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }
    total
}
