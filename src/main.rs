fn main() -> std::process::ExitCode {
    // Piped into `head`, a closed stdout should end the program quietly, as other CLIs do.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::ExitCode::from(neuroscale::cli::main())
}
