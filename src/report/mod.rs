//! Reports: rendering check results for humans (grouped by milestone, colour only on a TTY and
//! never with NO_COLOR), as versioned JSON and as JUnit XML, and the diagnostics bundle.

use std::io::IsTerminal;

/// Colour is used only on a terminal and never when NO_COLOR is set (no-color.org).
pub fn colour_enabled(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub fn colour_enabled_for_stderr() -> bool {
    colour_enabled(std::io::stderr().is_terminal())
}

pub fn colour_enabled_for_stdout() -> bool {
    colour_enabled(std::io::stdout().is_terminal())
}
