//! The open-loop scheduler: request `i` is due at `start + i / rate` and goes out then, whatever
//! the earlier requests are doing, with as many in flight as that takes up to the cap. Its
//! latency runs from that intended time, so a server that stalls for a second is charged a
//! second (down to nothing) for every request users would have sent during the stall, not just
//! for the few a closed-loop client happened to have in flight ("coordinated omission").
//!
//! One allowance: tokio's timer rounds a deadline up to the next whole millisecond and the
//! runtime then parks for whole milliseconds, so a request can leave up to 2 ms after its
//! intended time with nothing late but the clock's granularity. That much of the send lag
//! (`TIMER_SLACK`) is not charged; any lag beyond it (a busy client, a wait for a slot) is.
//!
//! The run is INVALID when it did not offer the load it was asked to: the in-flight cap was hit
//! (requests waited for a slot) or fewer than 99% of the offered requests per second went out.
//! Time comes from tokio's clock, so the tests drive the scheduler on a paused clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::figures::{
    ErrorKind, InvalidReason, LoadReport, Method, RequestFailure, RunShape, Tally,
    ACHIEVED_RATE_FLOOR,
};
use super::load::{Exchange, OpenLoop};

/// What one phase (warm-up or measured) of an open-loop run saw.
struct Phase {
    tally: Tally,
    /// Requests that found every slot taken at their intended time.
    cap_hits: u32,
    achieved_rps: f64,
    max_in_flight_seen: u32,
    max_send_lag: Duration,
}

/// Runs the warm-up (when asked; waited out before measuring, so its stragglers do not queue
/// ahead of measured requests), then the measured phase, and judges whether the run is valid.
pub(crate) async fn run<E: Exchange>(exchange: Arc<E>, spec: &OpenLoop) -> LoadReport {
    let warmup = if spec.warmup > 0 {
        Some(
            phase(&exchange, spec, spec.warmup)
                .await
                .tally
                .warmup_report(),
        )
    } else {
        None
    };
    let measured = phase(&exchange, spec, spec.requests).await;
    let invalid = invalid_reasons(
        measured.cap_hits,
        spec.max_in_flight,
        measured.achieved_rps,
        spec.rate,
    );
    let shape = RunShape {
        method: Method::Open {
            rate_rps: spec.rate,
            requests: spec.requests,
            duration: Duration::from_secs_f64(f64::from(spec.requests) / spec.rate),
            max_in_flight: spec.max_in_flight,
            warmup: spec.warmup,
            timeout: spec.timeout,
        },
        corrected: true,
        offered_rps: Some(spec.rate),
        achieved_rps: measured.achieved_rps,
        max_in_flight_seen: measured.max_in_flight_seen,
        max_send_lag: measured.max_send_lag,
        invalid,
        warmup,
    };
    LoadReport::new(shape, measured.tally)
}

/// Why the figures of a run do not describe the offered load; empty when they do.
pub(crate) fn invalid_reasons(
    cap_hits: u32,
    cap: u32,
    achieved_rps: f64,
    offered_rps: f64,
) -> Vec<InvalidReason> {
    let mut reasons = Vec::new();
    if cap_hits > 0 {
        reasons.push(InvalidReason::InFlightCapHit {
            hits: cap_hits,
            cap,
        });
    }
    if achieved_rps < offered_rps * ACHIEVED_RATE_FLOOR {
        reasons.push(InvalidReason::RateShort {
            achieved_rps,
            offered_rps,
        });
    }
    reasons
}

/// Requests per second actually sent: `requests` went out between the start and `last_send`;
/// on schedule, the last one leaves `(requests - 1) / rate` after the start, which makes the
/// achieved rate exactly the offered one.
pub(crate) fn achieved_rate(requests: u32, from_start_to_last_send: Duration, rate: f64) -> f64 {
    let window = from_start_to_last_send.as_secs_f64() + 1.0 / rate;
    f64::from(requests) / window
}

/// The timer's granularity (deadline rounded up to a millisecond, then a park of whole
/// milliseconds): send lag up to this much is the clock, not the client being late, and is not
/// charged to the request.
pub(crate) const TIMER_SLACK: Duration = Duration::from_millis(2);

/// Where request latency is measured from: the intended time, or the actual send when it left
/// within the timer's slack of it.
fn measured_from(intended: Instant, sent: Instant) -> Instant {
    sent.min(intended + TIMER_SLACK)
}

/// The intended send time of request `index`, computed from the start (not by adding periods,
/// which would accumulate rounding).
fn intended_time(start: Instant, index: u32, rate: f64) -> Instant {
    start + Duration::from_nanos((f64::from(index) * 1e9 / rate).round() as u64)
}

async fn phase<E: Exchange>(exchange: &Arc<E>, spec: &OpenLoop, requests: u32) -> Phase {
    let slots = Arc::new(Semaphore::new(spec.max_in_flight as usize));
    let tally = Arc::new(Mutex::new(Tally::new()));
    let in_flight = Arc::new(AtomicU32::new(0));
    let mut max_in_flight_seen = 0;
    let mut cap_hits = 0;
    let mut max_send_lag = Duration::ZERO;
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    let mut last_send = start;
    for index in 0..requests {
        let intended = intended_time(start, index, spec.rate);
        tokio::time::sleep_until(intended).await;
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Waiting keeps the figures honest (the wait is charged to this request), but
                // the load asked for was not offered: the run is INVALID.
                cap_hits += 1;
                slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the slot semaphore is never closed")
            }
        };
        last_send = Instant::now();
        max_send_lag = max_send_lag.max(last_send.saturating_duration_since(intended));
        let from = measured_from(intended, last_send);
        max_in_flight_seen = max_in_flight_seen.max(in_flight.fetch_add(1, Ordering::Relaxed) + 1);
        let (exchange, tally, in_flight, timeout) = (
            exchange.clone(),
            tally.clone(),
            in_flight.clone(),
            spec.timeout,
        );
        tasks.spawn(async move {
            let result = match tokio::time::timeout(timeout, exchange.exchange()).await {
                Ok(result) => result,
                Err(_) => Err(RequestFailure {
                    kind: ErrorKind::Timeout,
                    message: format!("no answer within {timeout:?}"),
                }),
            };
            let latency = Instant::now().saturating_duration_since(from);
            in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            tally
                .lock()
                .expect("no request task panics holding the tally")
                .record(index, latency, result);
        });
        // Reap finished requests as we go, so a long run does not keep thousands of handles.
        while let Some(joined) = tasks.try_join_next() {
            surface_panic(joined);
        }
    }
    while let Some(joined) = tasks.join_next().await {
        surface_panic(joined);
    }
    let achieved_rps = achieved_rate(
        requests,
        last_send.saturating_duration_since(start),
        spec.rate,
    );
    let tally = Arc::into_inner(tally)
        .expect("every request task has ended")
        .into_inner()
        .expect("no request task panicked holding the tally");
    Phase {
        tally,
        cap_hits,
        achieved_rps,
        max_in_flight_seen,
        max_send_lag,
    }
}

/// A request task only ends abnormally by panicking; that must surface, not shrink the figures.
fn surface_panic(joined: Result<(), tokio::task::JoinError>) {
    if let Err(err) = joined {
        if err.is_panic() {
            std::panic::resume_unwind(err.into_panic());
        }
    }
}

#[cfg(test)]
#[path = "open_loop_tests.rs"]
mod tests;
