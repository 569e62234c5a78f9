//! The `tfdiff` command line: parses the arguments and hands them to the library
//! (`tfdiff::commands::dispatch`). The allocator that names the input tfdiff was on when
//! memory runs out is installed here, for the whole process.

use clap::Parser;
use std::process::ExitCode;
use tfdiff::cli::Cli;
use tfdiff::{commands, oom, EXIT_USAGE};

#[global_allocator]
static ALLOCATOR: oom::NamingAllocator = oom::NamingAllocator;

fn main() -> ExitCode {
    match Cli::try_parse() {
        Ok(cli) => ExitCode::from(commands::dispatch(cli)),
        Err(error) => {
            let _ = error.print();
            ExitCode::from(if error.use_stderr() { EXIT_USAGE } else { 0 })
        }
    }
}
