//! The `earsight` command: caption audio files, describe a bundle, benchmark a bundle.

mod cli;

// A one-shot caption allocates and frees some 50 MB while tract loads and optimises the graphs;
// glibc's malloc hands most of it back to the kernel and faults it in again. mimalloc reuses
// it: about a tenth off `earsight caption` of a 5 s clip (see README, Speed).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
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
