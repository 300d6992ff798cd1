//! `mobiquant`: the desktop command-line tool for ML engineers.
//!
//! Each subcommand lives in its own module; this file only parses arguments and maps errors to
//! exit codes: 0 success, 1 the command failed (invalid model, I/O), 2 bad usage (from clap).

mod bench;
mod convert;
mod inspect;
mod run;

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
        /// Skip the graph passes (BatchNormalization folding, activation fusion, ...).
        #[arg(long)]
        no_optimize: bool,
        /// Store the Conv weights packed for these tiers' f32 kernels, comma-separated tier names
        /// (`neon`, `avx2`, `avx512vnni`, ...; `host` = this CPU's best tier; `none` = store no
        /// packing). One packing per distinct tile height: neon's serves every arm64 tier and
        /// avx2/avxvnni. Each packing adds the Conv weights' size to the file (the row-major
        /// weights stay). Default: none.
        #[arg(long, value_name = "TIERS", default_value = "none", value_parser = parse_tiers)]
        pack_for: std::vec::Vec<mobiquant_core::kernels::Tier>,
    },
    /// Run a model once on .npy inputs and write each output to DIR/<output name>.npy.
    Run {
        model: PathBuf,
        /// An input, NAME=FILE.npy (repeat for each input; a streaming state's name sets where it starts).
        #[arg(long = "input", value_name = "NAME=FILE.npy", value_parser = parse_input)]
        inputs: Vec<(String, PathBuf)>,
        #[arg(long, default_value = "outputs")]
        output_dir: PathBuf,
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Time a model: load, first run, and steady latency percentiles.
    Bench {
        model: PathBuf,
        /// An input, NAME=FILE.npy (repeat for each input; a streaming state's name sets where it starts).
        #[arg(long = "input", value_name = "NAME=FILE.npy", value_parser = parse_input)]
        inputs: Vec<(String, PathBuf)>,
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Measure steady runs for at least this many seconds.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Print one JSON line.
        #[arg(long)]
        json: bool,
        /// Also print the time share of each op type and the slowest nodes.
        #[arg(long)]
        profile: bool,
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

fn parse_tiers(text: &str) -> Result<Vec<mobiquant_core::kernels::Tier>, String> {
    use mobiquant_core::kernels::Tier;
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|name| match name.trim() {
            "host" => Ok(Tier::best()),
            name => Tier::from_name(name).ok_or_else(|| format!("unknown tier {name:?}")),
        })
        .collect()
}

fn parse_input(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), path.into()))
        }
        _ => Err(format!("expected NAME=FILE.npy, got {text:?}")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Convert {
            model,
            output,
            states,
            no_optimize,
            pack_for,
        } => {
            let options = mobiquant_convert::ConvertOptions {
                import: mobiquant_convert::import::ImportOptions { states },
                optimize: !no_optimize,
                pack_for,
            };
            convert::run(&model, &output, &options).map_err(Into::into)
        }
        Command::Run {
            model,
            inputs,
            output_dir,
            threads,
        } => run::run(&model, &inputs, &output_dir, threads),
        Command::Bench {
            model,
            inputs,
            threads,
            seconds,
            json,
            profile,
        } => bench::run(
            &model,
            &inputs,
            &bench::BenchOptions {
                threads,
                seconds,
                json,
                profile,
            },
        ),
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
