//! `tensormine`: parses the command line, runs it, prints one error line and
//! exits 1 on failure (clap exits 2 on usage errors).

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = tensormine_cli::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tensormine_cli::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", tensormine_cli::errors::one_line(&e));
            ExitCode::FAILURE
        }
    }
}
