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
        /// A recurrent state, INPUT=OUTPUT: the graph output fed back to the graph input on the
        /// next run of a streaming session (repeat for several).
        #[arg(long = "state", value_name = "INPUT=OUTPUT", value_parser = parse_state)]
        states: Vec<(String, String)>,
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

fn parse_state(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((i, o)) if !i.is_empty() && !o.is_empty() => Ok((i.to_string(), o.to_string())),
        _ => Err(format!("expected INPUT=OUTPUT, got {text:?}")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Convert {
            model,
            output,
            states,
        } => convert::run(
            &model,
            &output,
            &mobiquant_convert::import::ImportOptions { states },
        )
        .map_err(Into::into),
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
