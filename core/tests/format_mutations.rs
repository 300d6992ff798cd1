//! Property test: whatever is done to a valid file, loading returns an error or a model whose
//! every accessor works; it never panics. Mutations are applied both raw (checksums then catch
//! most of them) and re-sealed, with checksums recomputed, as a hostile file would be, so the
//! structural validation itself is exercised.

mod common;

use std::sync::OnceLock;

use mobiquant_core::format::header::Header;
use mobiquant_core::{LoadOptions, Model};
use proptest::prelude::*;

fn valid_file() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| common::rich_model(3000).finish().unwrap())
}

#[derive(Clone, Debug)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    SetByte {
        at: usize,
        value: u8,
    },
    /// Swap two 4-byte words (fields) at these positions.
    SwapWords {
        a: usize,
        b: usize,
    },
    Truncate {
        len: usize,
    },
    Extend {
        bytes: Vec<u8>,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapWords { a, b }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(|bytes| Mutation::Extend { bytes }),
    ]
}

/// Applies `m` within `range` of `file` (positions are taken modulo the range length).
fn apply(file: &mut Vec<u8>, m: &Mutation, range: std::ops::Range<usize>) {
    let pick = |x: usize| range.start + x % range.len().max(1);
    match m {
        Mutation::FlipBit { at, bit } => file[pick(*at)] ^= 1 << bit,
        Mutation::SetByte { at, value } => file[pick(*at)] = *value,
        Mutation::SwapWords { a, b } if range.len() >= 4 => {
            let word = |x: usize| range.start + x % (range.len() - 3);
            for i in 0..4 {
                file.swap(word(*a) + i, word(*b) + i);
            }
        }
        Mutation::SwapWords { .. } => {}
        Mutation::Truncate { len } => file.truncate(len % file.len()),
        Mutation::Extend { bytes } => file.extend_from_slice(bytes),
    }
}

/// Recomputes the metadata and header checksums, as a hostile writer would.
fn reseal(file: &mut [u8]) {
    let mut header = Header::decode(valid_file(), valid_file().len() as u64).unwrap();
    header.data_len = (file.len() as u64).saturating_sub(header.data_offset);
    let meta_end = (64 + header.metadata_len as usize).min(file.len());
    header.metadata_crc32 = crc32fast::hash(&file[64.min(file.len())..meta_end]);
    let encoded = header.encode();
    let n = file.len().min(64);
    file[..n].copy_from_slice(&encoded[..n]);
}

/// Loads `file` both ways; when a load succeeds, uses every accessor.
fn load_and_walk(file: &[u8]) {
    for verify in [true, false] {
        let Ok(model) = Model::from_bytes_with(
            file,
            LoadOptions {
                verify_tensor_checksums: verify,
            },
        ) else {
            continue;
        };
        for id in 0..model.tensors().len() {
            let view = model
                .tensor(id as u32)
                .expect("every listed tensor has a view");
            assert_eq!(view.bytes().len() as u64, view.info.byte_len);
            assert_eq!(view.bytes().as_ptr() as usize % 64, 0);
        }
        for v in model.values() {
            if let Some(t) = v.initializer {
                assert!(model.tensor(t).is_some());
            }
        }
        for g in model.graphs() {
            for n in &g.nodes {
                for v in n.inputs.iter().flatten().chain(&n.outputs) {
                    assert!(model.value(*v).is_some());
                }
            }
        }
        let _ = (
            model.inputs().count(),
            model.outputs().count(),
            format!("{model:?}"),
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn raw_mutations_never_panic(ms in proptest::collection::vec(mutation(), 1..4)) {
        let mut file = valid_file().to_vec();
        for m in &ms {
            let len = file.len();
            if len == 0 { break; }
            apply(&mut file, m, 0..len);
        }
        load_and_walk(&file);
    }

    #[test]
    fn resealed_metadata_mutations_never_panic(ms in proptest::collection::vec(mutation(), 1..4)) {
        let header = Header::decode(valid_file(), valid_file().len() as u64).unwrap();
        let meta = 64..64 + header.metadata_len as usize;
        let mut file = valid_file().to_vec();
        for m in &ms {
            if matches!(m, Mutation::Truncate { .. } | Mutation::Extend { .. }) { continue; }
            apply(&mut file, m, meta.clone());
        }
        reseal(&mut file);
        load_and_walk(&file);
    }
}

#[test]
fn resealed_mutations_reach_structural_validation() {
    // Guard against a property test that only ever exercises the checksums: change the rank byte
    // of the first tensor and check that the error comes from the structural checks.
    let mut file = valid_file().to_vec();
    let header = Header::decode(&file, file.len() as u64).unwrap();
    let meta = &mut file[64..64 + header.metadata_len as usize];
    let name = b"w8.scales";
    let at = meta.windows(name.len()).position(|w| w == name).unwrap() + name.len() + 1;
    meta[at] = 2; // rank 1 -> 2: the dims now swallow the following fields
    reseal(&mut file);
    let err = Model::from_bytes(&file).unwrap_err();
    assert!(
        matches!(
            err,
            mobiquant_core::Error::InvalidModel { .. }
                | mobiquant_core::Error::UnsupportedModel { .. }
        ),
        "{err}"
    );
}
