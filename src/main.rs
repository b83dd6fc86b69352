//! The `earsight` command: caption audio files, describe a bundle, benchmark a bundle.

mod cli;

fn main() -> std::process::ExitCode {
    // tract reports conditions it expects while optimising and running a graph as errors; with
    // RUST_BACKTRACE=1 each one captured a backtrace, 6-12% of the load time. RUST_LIB_BACKTRACE
    // governs only those captures, so panics keep their backtraces. Set before any thread exists.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("earsight: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
