//! Exit codes: the documented contract between `neuroscale` and the scripts and CI jobs that
//! call it. Kept in one place so the README, `--help` and the code cannot drift apart.

/// Every check that ran passed (SKIPs with a reason are allowed).
pub const SUCCESS: u8 = 0;
/// At least one check failed, or a command could not do what it was asked.
pub const CHECK_FAILED: u8 = 1;
/// Usage or configuration error: bad flags, malformed scenario or k3d file, unknown check id.
pub const USAGE: u8 = 2;
/// The environment is not ready: Docker unreachable, no cluster, missing tool, context refused.
pub const ENVIRONMENT: u8 = 3;
/// Interrupted (Ctrl-C, SIGINT) before the work concluded, as shells report a process ended by
/// SIGINT (128 + 2). `check` still writes its reports (unfinished checks "interrupted", unstarted
/// ones "not run") and deletes its probe objects first; `up` stops at once, leaving only
/// declarative, server-side-applied state the next `up` converges.
pub const INTERRUPTED: u8 = 130;
