//! Loads arbitrary bytes as a model, with and without checksum verification. Loading must return
//! an error or a model whose every tensor can be viewed; any panic or crash is a bug.

#![no_main]

use mobiquant_core::{LoadOptions, Model};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for verify_tensor_checksums in [true, false] {
        let Ok(model) = Model::from_bytes_with(data, LoadOptions { verify_tensor_checksums }) else {
            continue;
        };
        let mut sum = 0u64;
        for id in 0..model.tensors().len() {
            let view = model.tensor(id as u32).expect("every listed tensor has a view");
            sum = sum.wrapping_add(view.bytes().iter().map(|&b| u64::from(b)).sum::<u64>());
        }
        std::hint::black_box(sum);
    }
});
