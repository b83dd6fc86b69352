//! The `earsight` command: caption audio files, describe a bundle, benchmark a bundle.

mod cli;

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    // tract reports conditions it expects while optimising and running a graph as errors; with
    // RUST_BACKTRACE=1 each one captured a backtrace, 6-12% of the load time. RUST_LIB_BACKTRACE
    // governs only those captures, so panics keep their backtraces. Set before any thread exists.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    // symphonia panics on a few damaged files; the audio reader catches those panics and reports
    // them as the file's error, so they are not printed as crashes.
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info
            .location()
            .is_some_and(|l| l.file().contains("symphonia"))
        {
            report_panic(info);
        }
    }));
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("earsight=warn"))
        .init();
    match cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("earsight: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A one-shot caption allocates and frees some 50 MB while tract loads and optimises the
/// graphs. By default glibc's malloc maps large blocks on their own and hands freed memory back
/// to the kernel, then faults it in again, zeroed, for the next graph; one arena that keeps what
/// is freed (up to 64 MiB) reuses it instead (`tools/bench/FINDINGS.md`, "The allocator").
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc's tunables; it runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}
