//! Element-wise f32 functions: the unary ops and the activations that Conv and Gemm can fuse.
//!
//! Invariant: one definition per function, used both by the stand-alone op and by the fused
//! epilogue, so fused and unfused graphs compute bit-identical results. The functions the
//! vectorized kernel family computes (`kernels::vmath`, see [`Activation::vector`]) are defined
//! there: [`Activation::apply`] calls its scalar form, [`Activation::apply_slice`] its kernel of the
//! plan's tier, and every tier computes the same bits as the scalar form.

use super::{NodeContext, OpResult};
use crate::kernels::Kernels;
use crate::kernels::vmath::{UnaryOp, f32_vunary};

/// An element-wise f32 function with its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Identity,
    Relu,
    LeakyRelu {
        alpha: f32,
    },
    Clip {
        min: f32,
        max: f32,
    },
    Sigmoid,
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    HardSwish,
    Tanh,
    Exp,
    Log,
    Sqrt,
    Abs,
    Neg,
    Erf,
    /// `x/2 · (1 + erf(x/√2))` (Gelu, approximate = "none").
    Gelu,
    /// `x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))` (Gelu, approximate = "tanh").
    GeluTanh,
    Reciprocal,
    Floor,
    Ceil,
    /// Round half to even, as ONNX Round.
    Round,
    /// −1, 0 or 1 (NaN stays NaN).
    Sign,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Asinh,
    Acosh,
    Atanh,
    /// `ln(1 + eˣ)`, written so that it never overflows.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `x` for `x > 0`, else `alpha · (eˣ − 1)`.
    Elu {
        alpha: f32,
    },
    /// `gamma · x` for `x > 0`, else `gamma · alpha · (eˣ − 1)`.
    Selu {
        alpha: f32,
        gamma: f32,
    },
    /// `max(0, x) + min(0, alpha · (e^(x/alpha) − 1))`.
    Celu {
        alpha: f32,
    },
    /// `x` for `x > alpha`, else 0.
    ThresholdedRelu {
        alpha: f32,
    },
    /// `x · tanh(softplus(x))`.
    Mish,
    /// `x · sigmoid(alpha · x)`.
    Swish {
        alpha: f32,
    },
}

impl Activation {
    /// The vectorized kernel's form of this function, when it has one.
    pub(crate) fn vector(self) -> Option<UnaryOp> {
        Some(match self {
            Activation::Relu => UnaryOp::Relu,
            Activation::LeakyRelu { alpha } => UnaryOp::LeakyRelu { alpha },
            Activation::Clip { min, max } => UnaryOp::Clip { min, max },
            Activation::Sigmoid => UnaryOp::Sigmoid,
            Activation::HardSigmoid { alpha, beta } => UnaryOp::HardSigmoid { alpha, beta },
            Activation::HardSwish => UnaryOp::HardSwish,
            Activation::Tanh => UnaryOp::Tanh,
            Activation::Exp => UnaryOp::Exp,
            Activation::Sqrt => UnaryOp::Sqrt,
            Activation::Abs => UnaryOp::Abs,
            Activation::Neg => UnaryOp::Neg,
            Activation::GeluTanh => UnaryOp::GeluTanh,
            Activation::Reciprocal => UnaryOp::Reciprocal,
            Activation::Softsign => UnaryOp::Softsign,
            _ => return None,
        })
    }

    /// The value of the function at `x`.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Log => x.ln(),
            Activation::Erf => erf(x),
            Activation::Gelu => 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)),
            Activation::Floor => x.floor(),
            Activation::Ceil => x.ceil(),
            Activation::Round => x.round_ties_even(),
            Activation::Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x
                }
            }
            Activation::Sin => x.sin(),
            Activation::Cos => x.cos(),
            Activation::Tan => x.tan(),
            Activation::Asin => x.asin(),
            Activation::Acos => x.acos(),
            Activation::Atan => x.atan(),
            Activation::Sinh => x.sinh(),
            Activation::Cosh => x.cosh(),
            Activation::Asinh => x.asinh(),
            Activation::Acosh => x.acosh(),
            Activation::Atanh => x.atanh(),
            // The kernel family's functions.
            Activation::Relu
            | Activation::LeakyRelu { .. }
            | Activation::Clip { .. }
            | Activation::Sigmoid
            | Activation::HardSigmoid { .. }
            | Activation::HardSwish
            | Activation::Tanh
            | Activation::Exp
            | Activation::Sqrt
            | Activation::Abs
            | Activation::Neg
            | Activation::GeluTanh
            | Activation::Reciprocal
            | Activation::Softsign => self.vector().map_or(x, |op| op.apply(x)),
            Activation::Softplus => softplus(x),
            Activation::Elu { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    alpha * x.exp_m1()
                }
            }
            Activation::Selu { alpha, gamma } => {
                if x > 0.0 {
                    gamma * x
                } else {
                    gamma * alpha * x.exp_m1()
                }
            }
            Activation::Celu { alpha } => x.max(0.0) + (alpha * (x / alpha).exp_m1()).min(0.0),
            Activation::ThresholdedRelu { alpha } => {
                if x > alpha {
                    x
                } else {
                    0.0
                }
            }
            Activation::Mish => x * softplus(x).tanh(),
            Activation::Swish { alpha } => x * UnaryOp::Sigmoid.apply(alpha * x),
        }
    }

    /// Applies the function to every element of `xs` in place: the vectorized kernel of
    /// `kernels`' tier when the function has one (the same bits as [`Activation::apply`]).
    #[inline]
    pub fn apply_slice(self, kernels: &Kernels, xs: &mut [f32]) {
        match self.vector() {
            Some(op) => f32_vunary(kernels, op, xs),
            None if self == Activation::Identity => {}
            None => xs.iter_mut().for_each(|x| *x = self.apply(*x)),
        }
    }

    /// The bounds of a kernel epilogue's clamp that computes this activation bit for bit
    /// (`Identity`: infinite bounds; `Clip` with bounds that are not NaN), or `None` when it must
    /// run as a pass of its own.
    pub(crate) fn as_clamp(self) -> Option<(f32, f32)> {
        match self {
            Activation::Identity => Some((f32::NEG_INFINITY, f32::INFINITY)),
            Activation::Clip { min, max } if !min.is_nan() && !max.is_nan() => Some((min, max)),
            _ => None,
        }
    }

    /// The fused activation named by a Conv/Gemm node's `activation` attribute (see
    /// `docs/adding-an-op.md`); `Identity` when absent.
    pub(crate) fn fused(cx: &NodeContext<'_>) -> OpResult<Activation> {
        let Some(name) = cx.string("activation")? else {
            return Ok(Activation::Identity);
        };
        Ok(match name {
            "Relu" => Activation::Relu,
            "Clip" => Activation::Clip {
                min: cx.float("activation_min", f32::NEG_INFINITY)?,
                max: cx.float("activation_max", f32::INFINITY)?,
            },
            "LeakyRelu" => Activation::LeakyRelu {
                alpha: cx.float("activation_alpha", 0.01)?,
            },
            "HardSigmoid" => Activation::HardSigmoid {
                alpha: cx.float("activation_alpha", 0.2)?,
                beta: cx.float("activation_beta", 0.5)?,
            },
            "HardSwish" => Activation::HardSwish,
            "Sigmoid" => Activation::Sigmoid,
            "Tanh" => Activation::Tanh,
            other => return Err(format!("unknown fused activation '{other}'")),
        })
    }
}

/// `ln(1 + eˣ)`, written so that it never overflows.
fn softplus(x: f32) -> f32 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// The error function in f64, returned as f32. Near zero, where `1 - erfc` would lose the
/// relative precision, the Maclaurin series `2/√π Σ (-1)ⁿ x²ⁿ⁺¹ / (n! (2n+1))` (for |x| < 0.5,
/// ten terms reach far below f32 precision); elsewhere the Chebyshev-fitted form
/// `erfc(|x|) = t·exp(-x² + P(t))`, `t = 1 / (1 + |x|/2)` (the classic published fit, 1.2e-7
/// relative in erfc).
fn erf(x: f32) -> f32 {
    let z = f64::from(x).abs();
    let r = if z < 0.5 {
        let mut term = z; // (-1)ⁿ z²ⁿ⁺¹ / n!
        let mut sum = 0.0;
        for n in 0..10 {
            sum += term / f64::from(2 * n + 1);
            term *= -z * z / f64::from(n + 1);
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    } else {
        let t = 1.0 / (1.0 + 0.5 * z);
        let poly = -z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77))))))));
        1.0 - t * poly.exp()
    };
    (if x < 0.0 { -r } else { r }) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        for (x, want) in [
            (0.0f32, 0.0f32),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (-2.0, -0.995_322_3),
            (4.0, 1.0),
        ] {
            assert!(
                (erf(x) - want).abs() < 2e-7,
                "erf({x}) = {} != {want}",
                erf(x)
            );
        }
        // Near zero the relative error stays at f32 precision: compare with the series
        // written out to x⁹, ample below 0.05.
        for x in [1e-6f32, -3e-4, 0.01, -0.05] {
            let z = f64::from(x);
            let series =
                z - z.powi(3) / 3.0 + z.powi(5) / 10.0 - z.powi(7) / 42.0 + z.powi(9) / 216.0;
            let want = (series * std::f64::consts::FRAC_2_SQRT_PI) as f32;
            assert!(
                ((erf(x) - want) / want).abs() < 1e-6,
                "erf({x}) = {} != {want}",
                erf(x)
            );
        }
        // Both forms agree where they meet.
        assert!((erf(0.499_999) - erf(0.5)).abs() < 2e-6);
    }

    #[test]
    fn clip_with_crossed_bounds_gives_the_upper_one() {
        assert_eq!(Activation::Clip { min: 2.0, max: 1.0 }.apply(0.0), 1.0);
        assert!(
            Activation::Clip { min: 0.0, max: 6.0 }
                .apply(f32::NAN)
                .is_nan()
        );
    }

    #[test]
    fn slice_pass_matches_apply_bit_for_bit_on_every_tier() {
        let xs: Vec<f32> = (-400..400)
            .map(|i| i as f32 * 0.037)
            .chain([
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                -0.0,
                1e-40,
                90.0,
                -110.0,
            ])
            .collect();
        let acts = [
            Activation::Relu,
            Activation::LeakyRelu { alpha: 0.1 },
            Activation::Clip {
                min: -1.0,
                max: 6.0,
            },
            Activation::Sigmoid,
            Activation::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            Activation::HardSwish,
            Activation::Tanh,
            Activation::Exp,
            Activation::GeluTanh,
            Activation::Softsign,
            Activation::Erf,
            Activation::Log,
        ];
        for tier in crate::kernels::Tier::ALL {
            let Ok(k) = crate::kernels::kernels_for(tier) else {
                continue;
            };
            for act in acts {
                let mut ys = xs.clone();
                act.apply_slice(k, &mut ys);
                for (&x, &y) in xs.iter().zip(&ys) {
                    let want = act.apply(x);
                    assert!(
                        y.to_bits() == want.to_bits() || (y.is_nan() && want.is_nan()),
                        "{act:?} on {tier}: f({x}) = {y}, apply {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn sigmoid_is_stable_at_extremes() {
        assert_eq!(Activation::Sigmoid.apply(-1000.0), 0.0);
        assert_eq!(Activation::Sigmoid.apply(1000.0), 1.0);
    }
}
