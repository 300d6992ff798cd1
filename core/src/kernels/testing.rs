//! Test support shared by the kernel families' tests: which tiers to run, reporting past the
//! test harness's capture, and a deterministic random stream.

use std::io::Write;

use super::{Kernels, Tier, forced_tier, kernels_for};

/// The tiers to test: the one `MOBIQUANT_TIER` forces, else all. Unsupported ones are reported as
/// skipped (never as passed), once per test process.
pub(crate) fn tiers() -> Vec<&'static Kernels> {
    static TIERS: std::sync::OnceLock<Vec<&'static Kernels>> = std::sync::OnceLock::new();
    TIERS
        .get_or_init(|| {
            let wanted = match forced_tier().expect("MOBIQUANT_TIER") {
                Some(t) => vec![t],
                None => Tier::ALL.to_vec(),
            };
            wanted
                .into_iter()
                .filter_map(|t| {
                    let k = kernels_for(t).ok();
                    if k.is_none() {
                        report(&format!(
                            "tier {t}: skipped (CPU lacks {})",
                            t.required_features()
                        ));
                    }
                    k
                })
                .collect()
        })
        .clone()
}

/// Writes a line to the real stderr, past the test harness's capture.
pub(crate) fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A deterministic pseudo-random stream (xorshift64*); families add the draws they need.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Deterministic pseudo-random bytes (xorshift64).
pub(crate) fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}
