//! Waiting for a state, the one poll loop every check uses: gather fresh observations, decide
//! from them alone, and look again until the decision is final or time is up. Every wait has a
//! deadline (the check's, less a margin so the check's own diagnosis lands before the runner's
//! hard timeout, or a share of it); a pass can be required to hold for several consecutive
//! observations; each observation is recorded with `run.saw`; an API read that fails is
//! recorded and retried (a transient hiccup must not decide a check). When time runs out the
//! outcome is `TimedOut`: what was awaited, for how long, and the check's own verdict on the
//! last observation.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::checks::env::CheckRun;
use crate::checks::outcome::Outcome;

/// How often a check re-observes while it waits (at most 1 s inside checks).
pub const POLL_INTERVAL: Duration = Duration::from_millis(1000);

/// What the evaluation of one observation decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The pass condition holds.
    Pass(Outcome),
    /// A verdict that looking again cannot change (a wrong answer, a denial by the wrong policy).
    Fail(Outcome),
    /// Not yet: the outcome to report if time runs out now.
    Pending(Outcome),
}

impl Decision {
    /// Pass when `outcome` passes, otherwise keep waiting: the common case.
    pub fn until_pass(outcome: Outcome) -> Decision {
        if outcome.is_pass() {
            Decision::Pass(outcome)
        } else {
            Decision::Pending(outcome)
        }
    }

    /// Pass when `outcome` passes; otherwise keep waiting only while `may_improve`.
    pub fn retry_if(outcome: Outcome, may_improve: bool) -> Decision {
        match (outcome.is_pass(), may_improve) {
            (true, _) => Decision::Pass(outcome),
            (false, true) => Decision::Pending(outcome),
            (false, false) => Decision::Fail(outcome),
        }
    }

    fn outcome(&self) -> &Outcome {
        match self {
            Decision::Pass(o) | Decision::Fail(o) | Decision::Pending(o) => o,
        }
    }
}

/// Where a wait stands when it gathers: gathers that read extra objects only for the final
/// diagnosis (an Application's self-heal setting) read them on the last attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first observation.
    pub number: u32,
    /// Time since the wait began.
    pub elapsed: Duration,
    /// No time is left for another observation: this one decides.
    pub last: bool,
}

/// How a wait behaves; `Wait::for_check(run)` gives the defaults.
#[derive(Debug, Clone)]
pub struct Wait {
    /// What is awaited, for the timeout ("every Application Synced+Healthy").
    pub waited_for: String,
    /// Time between observations.
    pub interval: Duration,
    /// Consecutive passing observations needed before the pass counts.
    pub stable: u32,
    /// The time this wait may take; by default what the check has left to conclude.
    pub budget: Option<Duration>,
    /// A retry limit: after this many observations a pending outcome is the verdict as it is
    /// (retries exhausted, not a timeout).
    pub attempts: Option<u32>,
    /// Whether an observation that cannot be read is looked at again (the default: a transient
    /// API hiccup must not decide a check) or is the verdict at once.
    pub retry_unreadable: bool,
}

impl Wait {
    /// Waits for the check's pass condition, every second, until the check must conclude.
    pub fn for_check(run: &CheckRun<'_>) -> Wait {
        Wait::new(run.spec.passes_when)
    }

    pub fn new(waited_for: impl Into<String>) -> Wait {
        Wait {
            waited_for: waited_for.into(),
            interval: POLL_INTERVAL,
            stable: 1,
            budget: None,
            attempts: None,
            retry_unreadable: true,
        }
    }

    /// Looks again every `interval` (a measured figure is only as precise as this).
    pub fn every(mut self, interval: Duration) -> Wait {
        self.interval = interval;
        self
    }

    /// Requires `observations` consecutive passes (at least 1) before concluding PASS.
    pub fn stable_for(mut self, observations: u32) -> Wait {
        self.stable = observations.max(1);
        self
    }

    /// Observes at most `attempts` times (a retry of something that may pass with time, such as
    /// a webhook that could not be called); the last pending outcome is then the verdict.
    pub fn at_most(mut self, attempts: u32) -> Wait {
        self.attempts = Some(attempts.max(1));
        self
    }

    /// Makes an observation that cannot be read the verdict at once, for checks whose reads
    /// either answer or show the platform is not there (a kind that is not served).
    pub fn final_on_unreadable(mut self) -> Wait {
        self.retry_unreadable = false;
        self
    }

    /// Gives this wait at most `budget`, so a check can leave time for a later step.
    pub fn within(mut self, budget: Duration) -> Wait {
        self.budget = Some(budget);
        self
    }

    /// Gathers with `gather` and decides with `evaluate` until a final decision or the end of
    /// the budget. A gather error is an outcome (an API error, usually) that is recorded and
    /// retried; if time runs out on one, that outcome is the verdict.
    pub async fn until<T, G, F, E>(
        &self,
        run: &CheckRun<'_>,
        mut gather: G,
        mut evaluate: E,
    ) -> Outcome
    where
        G: FnMut(Attempt) -> F,
        F: Future<Output = Result<T, Outcome>>,
        E: FnMut(&T) -> Decision,
    {
        let began = Instant::now();
        let left = || {
            let check = run.time_to_conclude();
            match self.budget {
                Some(budget) => check.min(budget.saturating_sub(began.elapsed())),
                None => check,
            }
        };
        let mut number = 0;
        let mut passes = 0;
        loop {
            number += 1;
            // Only an observation made with no time left concludes on time: one that started
            // with time left is followed by another (immediately, if the time ran out meanwhile).
            let last = left().is_zero();
            let attempt = Attempt {
                number,
                elapsed: began.elapsed(),
                last,
            };
            let decision = match gather(attempt).await {
                Ok(observation) => evaluate(&observation),
                Err(unreadable) => {
                    run.saw(format!("unreadable: {}", unreadable.observed()));
                    passes = 0;
                    let out_of_attempts = self.attempts.is_some_and(|limit| number >= limit);
                    if last || out_of_attempts || !self.retry_unreadable {
                        return unreadable;
                    }
                    tokio::time::sleep(self.interval.min(left())).await;
                    continue;
                }
            };
            run.saw_outcome(decision.outcome());
            match decision {
                Decision::Pass(outcome) => {
                    passes += 1;
                    if passes >= self.stable {
                        return outcome;
                    }
                    if last {
                        return Outcome::timed_out(
                            format!(
                                "{} (holding for {} consecutive observations)",
                                self.waited_for, self.stable
                            ),
                            began.elapsed(),
                            outcome,
                        );
                    }
                }
                Decision::Fail(outcome) => return outcome,
                Decision::Pending(outcome) => {
                    passes = 0;
                    if self.attempts.is_some_and(|limit| number >= limit) {
                        return outcome;
                    }
                    if last {
                        return Outcome::timed_out(
                            self.waited_for.clone(),
                            began.elapsed(),
                            outcome,
                        );
                    }
                }
            }
            tokio::time::sleep(self.interval.min(left())).await;
        }
    }
}

impl Wait {
    /// Observes until `settled` holds for an observation, the attempts are used up or no time
    /// is left, and returns the last observation with the number of observations made: for a
    /// retried action (a create that a webhook could not admit yet) whose verdict needs more
    /// than the observation. A gather error on the last observation is returned as the error.
    pub async fn last_observation<T, G, F, S>(
        &self,
        run: &CheckRun<'_>,
        mut gather: G,
        mut settled: S,
    ) -> Result<(T, u32), Outcome>
    where
        G: FnMut(Attempt) -> F,
        F: Future<Output = Result<T, Outcome>>,
        S: FnMut(&T) -> bool,
    {
        let began = Instant::now();
        let left = || match self.budget {
            Some(budget) => run
                .time_to_conclude()
                .min(budget.saturating_sub(began.elapsed())),
            None => run.time_to_conclude(),
        };
        let mut number = 0;
        loop {
            number += 1;
            let last = left().is_zero() || self.attempts.is_some_and(|limit| number >= limit);
            let attempt = Attempt {
                number,
                elapsed: began.elapsed(),
                last,
            };
            match gather(attempt).await {
                Ok(observation) if last || settled(&observation) => {
                    return Ok((observation, number))
                }
                Ok(_) => {}
                Err(unreadable) if last => return Err(unreadable),
                Err(unreadable) => run.saw(format!("unreadable: {}", unreadable.observed())),
            }
            tokio::time::sleep(self.interval.min(left())).await;
        }
    }
}

/// `Wait::for_check(run).until(run, gather, evaluate)`: wait for the check's pass condition.
pub async fn until<T, G, F, E>(run: &CheckRun<'_>, gather: G, evaluate: E) -> Outcome
where
    G: FnMut(Attempt) -> F,
    F: Future<Output = Result<T, Outcome>>,
    E: FnMut(&T) -> Decision,
{
    Wait::for_check(run).until(run, gather, evaluate).await
}

#[cfg(test)]
mod tests;
