use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = keelbase::cli::Cli::parse();
    match keelbase::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keelbase: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
