use std::process::ExitCode;

use clap::Parser;

/// mimalloc: a request allocates many small buffers (headers, JSON, futures), and glibc's
/// allocator showed up as ~15% of server CPU in profiles of the health benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
