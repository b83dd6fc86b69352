//! The `earsight` command: caption audio files, describe a bundle, benchmark a bundle.

mod cli;

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("earsight: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
