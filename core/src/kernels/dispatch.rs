//! Run-time choice of a kernel tier and the table of kernel function pointers it selects.
//!
//! Invariants:
//! - A [`Kernels`] table is only ever handed out for a tier the running CPU supports: every
//!   function pointer in it may be called on this CPU (this is what makes calling them sound).
//! - Detection uses `is_x86_feature_detected!` / `is_aarch64_feature_detected!` at run time, never
//!   only `cfg(target_feature)`, so one binary runs on a Cortex-A53 and uses i8mm on a Cortex-X3.
//! - The default table is chosen once per process (the best supported tier, or the one forced by
//!   the `MOBIQUANT_TIER` environment variable) and never changes afterwards.

use std::fmt;
use std::sync::OnceLock;

use crate::error::{Error, Result};

use super::f32::{F32DwChannelsFn, F32DwPlaneFn, F32GemmFn, F32GemvFn};
use super::qs8::dwconv::channels::Qs8DwChannelsFn;
use super::qs8::dwconv::plane::Qs8DwPlaneFn;
use super::qs8::lut::LutFn;
use super::qs8::{APacking, Qs8TileFn, QuantizeRowFn, RowParamsFn, WeightOrder};
use super::vmath::Vmath;
use super::wo::{WoDequantFn, WoGemvFn};

/// Name of the environment variable that forces a tier (`reference`, `neon`, `dotprod`, `i8mm`,
/// `avx2`, `avxvnni`, `avx512vnni`).
pub const TIER_ENV: &str = "MOBIQUANT_TIER";

/// A family of kernels, each for one instruction-set level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// Plain Rust: the fallback on every CPU and the oracle of every test.
    Reference,
    /// aarch64 Advanced SIMD baseline (SMULL/SMLAL/SADALP).
    Neon,
    /// aarch64 with the dot-product extension (SDOT).
    Dotprod,
    /// aarch64 with the int8 matrix-multiply extension (SMMLA).
    I8mm,
    /// x86-64 with AVX2 (sign extension + VPMADDWD).
    Avx2,
    /// x86-64 with AVX-VNNI (VEX VPDPBUSD on ymm), without AVX-512.
    AvxVnni,
    /// x86-64 with AVX-512 F/BW and VNNI (VPDPBUSD on zmm).
    Avx512Vnni,
}

impl Tier {
    /// Every tier, from the most portable to the most specialised within each architecture.
    pub const ALL: [Tier; 7] = [
        Tier::Reference,
        Tier::Neon,
        Tier::Dotprod,
        Tier::I8mm,
        Tier::Avx2,
        Tier::AvxVnni,
        Tier::Avx512Vnni,
    ];

    /// The name used by `MOBIQUANT_TIER`, in kernel names and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Reference => "reference",
            Tier::Neon => "neon",
            Tier::Dotprod => "dotprod",
            Tier::I8mm => "i8mm",
            Tier::Avx2 => "avx2",
            Tier::AvxVnni => "avxvnni",
            Tier::Avx512Vnni => "avx512vnni",
        }
    }

    /// The tier with this name (see [`Tier::name`]), ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Tier> {
        Tier::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The CPU features this tier needs, for messages such as "skipped (CPU lacks ...)".
    pub fn required_features(self) -> &'static str {
        match self {
            Tier::Reference => "nothing",
            Tier::Neon => "aarch64 neon",
            Tier::Dotprod => "aarch64 neon+dotprod",
            Tier::I8mm => "aarch64 neon+dotprod+i8mm",
            Tier::Avx2 => "x86-64 avx2+fma",
            Tier::AvxVnni => "x86-64 avx2+fma+avxvnni",
            Tier::Avx512Vnni => "x86-64 avx512f+avx512bw+avx512vnni",
        }
    }

    /// Whether the running CPU can execute this tier's kernels (detected at run time).
    pub fn is_supported(self) -> bool {
        table(self).is_some()
    }

    /// The best tier the running CPU supports.
    pub fn best() -> Tier {
        Tier::ALL
            .into_iter()
            .rev()
            .find(|t| t.is_supported())
            .unwrap_or(Tier::Reference)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kernels of one tier, as function pointers. Obtain one with [`kernels`] or
/// [`kernels_for`]; the pointers are valid to call on the running CPU.
#[derive(Debug)]
pub struct Kernels {
    pub(crate) tier: Tier,
    /// The full-int8 GEMM tile kernel (`qs8_gemm_4x16c8__<tier>`).
    pub(crate) qs8_gemm: Qs8TileFn,
    /// Its name, for reports and benchmarks.
    pub(crate) qs8_gemm_name: &'static str,
    /// Rows of that kernel's tile.
    pub(crate) qs8_mr: usize,
    /// How that kernel wants its activation tile laid out.
    pub(crate) qs8_a_packing: APacking,
    /// The weight order that kernel reads (`C8` = the stored one; others are made once by
    /// `Qs8Prepared::new`).
    pub(crate) qs8_weight_order: WeightOrder,
    /// Panels that kernel computes together (the GEMM driver's panel groups hold at least
    /// this many).
    pub(crate) qs8_pass_panels: usize,
    /// Whether that kernel wants activations as u8 (s8 + 128) rather than s8.
    pub(crate) qs8_unsigned_a: bool,
    /// Dynamic quantization of one f32 row to int8 (`qs8_quantize_row__<tier>`).
    pub(crate) qs8_quantize_row: QuantizeRowFn,
    /// Range analysis of one f32 row for dynamic quantization (`qs8_row_params__<tier>`).
    pub(crate) qs8_row_params: RowParamsFn,
    /// The f32 GEMM tile kernel (`f32_gemm_<MR>x16__<tier>`).
    pub(crate) f32_gemm: F32GemmFn,
    /// Its name, for reports and benchmarks.
    pub(crate) f32_gemm_name: &'static str,
    /// Rows of that kernel's tile.
    pub(crate) f32_mr: usize,
    /// The tier's pair kernel (`f32_gemm_<MR>x32__<tier>`: the same MR, two panels, bit for bit
    /// two `f32_gemm` tiles), if it has one; the driver then takes panels two at a time.
    pub(crate) f32_gemm_pair: Option<F32GemmFn>,
    /// The f32 GEMV kernel for one row (`f32_gemv_<G>p__<tier>`), bit for bit `f32_gemm`'s row.
    pub(crate) f32_gemv: F32GemvFn,
    /// The depthwise-convolution plane kernel (`f32_dwconv_plane__<tier>`).
    pub(crate) f32_dwconv_plane: F32DwPlaneFn,
    /// The depthwise-convolution channel-block kernel (`f32_dwconv_16c__<tier>`).
    pub(crate) f32_dwconv_channels: F32DwChannelsFn,
    /// The weight-only GEMV kernel (`wo_gemv_1x16c4__<tier>`) and panel dequantizer
    /// (`wo_dequant_16c4__<tier>`, feeding `f32_gemm`).
    pub(crate) wo_gemv: WoGemvFn,
    pub(crate) wo_dequant: WoDequantFn,
    /// The int8 depthwise plane kernel (`qs8_dwconv_<V>w__<tier>`).
    pub(crate) qs8_dwconv: Qs8DwPlaneFn,
    /// Its name, for reports and benchmarks.
    pub(crate) qs8_dwconv_name: &'static str,
    /// The int8 depthwise channel-block kernel of small planes (`qs8_dwconv_16c__<tier>`).
    pub(crate) qs8_dwconv_channels: Qs8DwChannelsFn,
    /// Its name, for reports and benchmarks.
    pub(crate) qs8_dwconv_channels_name: &'static str,
    /// The 256-entry byte table lookup (`x8_lut__<tier>`).
    pub(crate) x8_lut: LutFn,
    /// Its name, for reports and benchmarks.
    pub(crate) x8_lut_name: &'static str,
    /// The f32 element-wise family (`f32_vunary`, `f32_vbinary`, `f32_vsoftmax`, `f32_vmax`).
    pub(crate) vmath: Vmath,
}

impl Kernels {
    /// The tier these kernels belong to.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// The name of the int8 GEMM kernel, e.g. `qs8_gemm_6x16c4__avx512vnni`.
    pub fn qs8_gemm_name(&self) -> &'static str {
        self.qs8_gemm_name
    }

    /// The name of the int8 depthwise plane kernel, e.g. `qs8_dwconv_32w__avx512vnni`.
    pub fn qs8_dwconv_name(&self) -> &'static str {
        self.qs8_dwconv_name
    }

    /// The name of the int8 depthwise channel-block kernel, e.g. `qs8_dwconv_16c__avx512vnni`.
    pub fn qs8_dwconv_channels_name(&self) -> &'static str {
        self.qs8_dwconv_channels_name
    }

    /// The name of the table lookup kernel, e.g. `x8_lut__avx2`.
    pub fn x8_lut_name(&self) -> &'static str {
        self.x8_lut_name
    }

    /// The name of the f32 GEMM kernel, e.g. `f32_gemm_6x16__avx2`.
    pub fn f32_gemm_name(&self) -> &'static str {
        self.f32_gemm_name
    }
}

/// Defines a `static $table: Kernels` for `$tier`, naming each kernel after its function and
/// taking its tile height, activation packing, weight order and panels per pass from the `MR`,
/// `A_PACKING`, `WEIGHT_ORDER` and `PASS_PANELS` beside it (so that the table and the kernel cannot disagree).
macro_rules! kernel_table {
    (
        $table:ident,
        $tier:expr,
        $module:ident :: $qs8_gemm:ident,
        $quantize:path,
        $params:path,
        unsigned_a: $unsigned:expr,
        f32: [$($f32mod:ident)::+] :: $f32_gemm:ident,
        $(f32_pair: [$($pairmod:ident)::+] :: $f32_pair:ident,)?
        f32_gemv: $f32_gemv:path,
        f32_dwconv_plane: $dwconv_plane:path,
        f32_dwconv_channels: $dwconv_channels:path,
        wo: [$wo_gemv:path, $wo_dequant:path],
        qs8_dwconv: [$($dwmod:ident)::+] :: $qs8_dw:ident,
        qs8_dwconv_channels: [$($dwcmod:ident)::+] :: $qs8_dwc:ident,
        x8_lut: [$($lutmod:ident)::*] $x8_lut:ident,
        vmath: $vmath:expr
    ) => {
        static $table: $crate::kernels::Kernels = $crate::kernels::Kernels {
            tier: $tier,
            qs8_gemm: $module::$qs8_gemm,
            qs8_gemm_name: stringify!($qs8_gemm),
            qs8_mr: $module::MR,
            qs8_a_packing: $module::A_PACKING,
            qs8_weight_order: $module::WEIGHT_ORDER,
            qs8_pass_panels: $module::PASS_PANELS,
            qs8_unsigned_a: $unsigned,
            qs8_quantize_row: $quantize,
            qs8_row_params: $params,
            f32_gemm: $($f32mod::)+$f32_gemm,
            f32_gemm_name: stringify!($f32_gemm),
            f32_mr: $($f32mod::)+MR,
            f32_gemm_pair: $crate::kernels::dispatch::kernel_table!(
                @pair [$($f32mod)::+] $([$($pairmod)::+] $f32_pair)?
            ),
            f32_gemv: $f32_gemv,
            f32_dwconv_plane: $dwconv_plane,
            f32_dwconv_channels: $dwconv_channels,
            wo_gemv: $wo_gemv,
            wo_dequant: $wo_dequant,
            qs8_dwconv: $($dwmod::)+$qs8_dw,
            qs8_dwconv_name: stringify!($qs8_dw),
            qs8_dwconv_channels: $($dwcmod::)+$qs8_dwc,
            qs8_dwconv_channels_name: stringify!($qs8_dwc),
            x8_lut: $($lutmod::)*$x8_lut,
            x8_lut_name: stringify!($x8_lut),
            vmath: $vmath,
        };
    };
    (@pair [$($f32mod:ident)::+]) => {
        None
    };
    // A pair kernel shares its 16-column kernel's packed A, so their MR must agree.
    (@pair [$($f32mod:ident)::+] [$($pairmod:ident)::+] $f32_pair:ident) => {{
        const _: () = assert!($($pairmod::)+MR == $($f32mod::)+MR);
        Some($($pairmod::)+$f32_pair as $crate::kernels::f32::F32GemmFn)
    }};
}
pub(crate) use kernel_table;

/// The table of `tier`, or `None` when the running CPU (or this build's architecture) lacks it.
fn table(tier: Tier) -> Option<&'static Kernels> {
    match tier {
        Tier::Reference => Some(super::reference::kernels()),
        _ => super::arch::table(tier),
    }
}

/// The kernels of `tier`, or [`Error::InvalidArgument`] when the running CPU lacks that tier.
pub fn kernels_for(tier: Tier) -> Result<&'static Kernels> {
    table(tier).ok_or_else(|| {
        Error::invalid_argument(format!(
            "kernel tier {tier} needs {}, which this CPU lacks",
            tier.required_features()
        ))
    })
}

/// The tier named by `MOBIQUANT_TIER`, if set. Fails on an unknown name.
pub fn forced_tier() -> Result<Option<Tier>> {
    match std::env::var(TIER_ENV) {
        Ok(value) if !value.trim().is_empty() => Tier::from_name(&value).map(Some).ok_or_else(|| {
            Error::invalid_argument(format!(
                "{TIER_ENV}={value:?} names no tier (expected one of reference, neon, dotprod, i8mm, avx2, avxvnni, avx512vnni)"
            ))
        }),
        _ => Ok(None),
    }
}

/// The process-wide default kernels: the tier forced by `MOBIQUANT_TIER`, else the best one the
/// CPU supports. Chosen on the first call; fails when the variable names an unknown tier or one the
/// CPU lacks.
pub fn kernels() -> Result<&'static Kernels> {
    static CHOICE: OnceLock<std::result::Result<Tier, String>> = OnceLock::new();
    let choice = CHOICE.get_or_init(|| match forced_tier() {
        Ok(Some(tier)) => kernels_for(tier).map(|k| k.tier).map_err(|e| e.to_string()),
        Ok(None) => Ok(Tier::best()),
        Err(e) => Err(e.to_string()),
    });
    match choice {
        Ok(tier) => kernels_for(*tier),
        Err(what) => Err(Error::invalid_argument(what.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_best_is_supported() {
        for tier in Tier::ALL {
            assert_eq!(Tier::from_name(tier.name()), Some(tier));
            assert_eq!(Tier::from_name(&tier.name().to_uppercase()), Some(tier));
            match kernels_for(tier) {
                Ok(k) => {
                    assert_eq!(k.tier(), tier);
                    assert!(k.qs8_gemm_name().ends_with(&format!("__{}", tier.name())));
                    assert!(k.qs8_dwconv_name().starts_with("qs8_dwconv_"));
                    assert!(k.qs8_dwconv_channels_name().starts_with("qs8_dwconv_16c__"));
                    assert!(k.qs8_mr >= 1 && k.qs8_mr <= crate::kernels::qs8::tile::MAX_MR);
                    assert!(k.qs8_pass_panels >= 1);
                }
                Err(e) => assert!(e.to_string().contains("lacks"), "{e}"),
            }
        }
        assert_eq!(Tier::from_name("sse9"), None);
        assert!(Tier::best().is_supported());
        assert!(Tier::Reference.is_supported());
        // The default table is the forced tier or the best one.
        let forced = forced_tier().ok().flatten();
        if let Ok(k) = kernels() {
            assert_eq!(k.tier(), forced.unwrap_or(Tier::best()));
        }
    }
}
