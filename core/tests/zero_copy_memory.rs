//! Loading maps weights instead of reading them: resident memory does not grow by the weights'
//! size at load, and does once the weights are touched (which shows the measurement works).
//! Its own test binary, so no other test's allocations run in the same process.

#![cfg(target_os = "linux")]

mod common;

use mobiquant_core::{LoadOptions, Model};

const MIB: usize = 1024 * 1024;

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn weights_are_not_read_at_load() {
    let path = std::env::temp_dir().join(format!("mq-rss-{}.mq", std::process::id()));
    common::rich_model(64 * MIB).write(&path).unwrap();

    let before = resident_bytes();
    let model = Model::open_with(
        &path,
        LoadOptions {
            verify_tensor_checksums: false,
        },
    )
    .unwrap();
    let after_load = resident_bytes();
    assert!(
        after_load.saturating_sub(before) < 8 * MIB,
        "loading a model with 64 MiB of weights grew resident memory by {} MiB",
        (after_load - before) / MIB
    );

    let big = model.tensor_by_name("big").unwrap().as_u8().unwrap();
    let sum: u64 = big.iter().step_by(4096).map(|&b| u64::from(b)).sum();
    assert_eq!(sum, 0xA5 * (64 * MIB / 4096) as u64);
    let after_touch = resident_bytes();
    assert!(
        after_touch.saturating_sub(after_load) > 48 * MIB,
        "touching 64 MiB of mapped weights grew resident memory by only {} MiB",
        after_touch.saturating_sub(after_load) / MIB
    );
    drop(model);
    std::fs::remove_file(path).unwrap();
}
