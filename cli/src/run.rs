//! `mobiquant run`: runs a model once on inputs read from `.npy` files and writes each output
//! to `<output dir>/<output name>.npy`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mobiquant_convert::npy::NpyArray;
use mobiquant_core::{Model, Session, SessionOptions, Tensor, TensorRef};

pub type Inputs = Vec<(String, PathBuf)>;

/// Reads every `NAME=FILE.npy` input.
pub fn read_inputs(inputs: &Inputs) -> Result<Vec<(String, NpyArray)>, Box<dyn std::error::Error>> {
    inputs
        .iter()
        .map(|(name, path)| Ok((name.clone(), NpyArray::read(path)?)))
        .collect()
}

/// Borrowed views of the arrays that are model inputs, as `Session::run` takes them; an array
/// named after a streaming state instead sets where that state starts (and so its shape).
pub fn views<'a>(
    session: &mut Session,
    arrays: &'a [(String, NpyArray)],
) -> mobiquant_core::Result<Vec<(&'a str, TensorRef<'a>)>> {
    let mut views = Vec::with_capacity(arrays.len());
    for (name, a) in arrays {
        let view = TensorRef::from_bytes(a.dtype, &a.shape, &a.data)?;
        if session.input_names().iter().any(|n| n == name) {
            views.push((name.as_str(), view));
        } else {
            session.set_initial_state(name, Tensor::from_ref(view)?)?;
        }
    }
    Ok(views)
}

/// A file name for an output: its value name with path separators replaced.
pub fn file_name(value: &str) -> String {
    value.replace(['/', '\\'], "_") + ".npy"
}

pub fn run(
    model: &Path,
    inputs: &Inputs,
    output_dir: &Path,
    threads: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let model = Arc::new(Model::open(model)?);
    let mut session = Session::new(
        model,
        SessionOptions {
            threads,
            ..SessionOptions::default()
        },
    )?;
    let arrays = read_inputs(inputs)?;
    let inputs = views(&mut session, &arrays)?;
    let outputs = session.run(&inputs)?;
    std::fs::create_dir_all(output_dir)?;
    for (name, tensor) in session.output_names().iter().zip(&outputs) {
        let path = output_dir.join(file_name(name));
        let view = tensor.view();
        NpyArray {
            dtype: view.dtype(),
            shape: view.shape().to_vec(),
            data: view.bytes().to_vec(),
        }
        .write(&path)?;
        println!(
            "{name} {} {:?} -> {}",
            view.dtype(),
            view.shape(),
            path.display()
        );
    }
    Ok(())
}
