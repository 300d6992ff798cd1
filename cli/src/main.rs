//! `mobiquant`: the desktop command-line tool for ML engineers.
//!
//! Each subcommand lives in its own module; this file only parses arguments and maps errors to
//! exit codes: 0 success, 1 the command failed (invalid model, I/O), 2 bad usage (from clap).

mod convert;
mod inspect;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mobiquant",
    version,
    about = "MobiQuant: on-device int8 inference, desktop tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert an ONNX model (opset 11 or newer, float for now) to a .mq model.
    Convert {
        /// The ONNX model; external data files are read from its folder.
        model: PathBuf,
        /// Where to write the .mq model.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Validate a .mq model and print its header, metadata, graph summary and tensor table.
    Inspect {
        /// The model file.
        model: PathBuf,
        /// Skip the per-tensor checksum verification (structure is always validated).
        #[arg(long)]
        no_verify: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Convert { model, output } => convert::run(&model, &output).map_err(Into::into),
        Command::Inspect { model, no_verify } => {
            inspect::run(&model, !no_verify).map_err(Into::into)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
