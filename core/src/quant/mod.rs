//! Quantization parameters and the model-level quantization mode.
//!
//! Affine quantization: `real = scale * (q - zero_point)`. Large parameter arrays (per-channel and
//! per-group scales and zero points) are tensors of their own in the model's tensor table, so they
//! are memory-mapped like weights instead of being parsed into heap memory.
//!
//! Invariants after validation (see `format::validate`): scale tensors are f32 or f16, finite and
//! positive; zero-point tensors are integers within the range of the quantized dtype; their shapes
//! match the quantized tensor as described on each variant.

/// Index of a tensor in a model's tensor table.
pub type TensorId = u32;

/// How a model was quantized, as recorded by the converter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum QuantMode {
    /// No quantization: float weights and activations.
    Float = 0,
    /// Weight-only: int8 per-channel or int4 groupwise weights, float activations.
    WeightOnly = 1,
    /// Full int8 with activation ranges calibrated offline.
    FullStatic = 2,
    /// Full int8 with activation ranges computed at run time.
    FullDynamic = 3,
}

impl QuantMode {
    pub const ALL: [QuantMode; 4] = [
        QuantMode::Float,
        QuantMode::WeightOnly,
        QuantMode::FullStatic,
        QuantMode::FullDynamic,
    ];

    pub fn from_tag(tag: u8) -> Option<QuantMode> {
        QuantMode::ALL.into_iter().find(|m| *m as u8 == tag)
    }

    pub fn name(self) -> &'static str {
        match self {
            QuantMode::Float => "float",
            QuantMode::WeightOnly => "weight-only",
            QuantMode::FullStatic => "full-static",
            QuantMode::FullDynamic => "full-dynamic",
        }
    }
}

/// Quantization parameters of one tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum Quantization {
    /// Not quantized (floats, or plain integers such as indices).
    None,
    /// One scale and zero point for the whole tensor.
    PerTensor { scale: f32, zero_point: i32 },
    /// One scale (and zero point) per index along `axis`: the scale tensor has `dims[axis]`
    /// elements (any shape with that many elements).
    PerChannel {
        axis: u32,
        scales: TensorId,
        zero_points: Option<TensorId>,
    },
    /// One scale (and zero point) per run of `group_size` elements along `axis`: the scale tensor
    /// has the tensor's shape with `dims[axis]` replaced by `ceil(dims[axis] / group_size)`.
    PerGroup {
        axis: u32,
        group_size: u32,
        scales: TensorId,
        zero_points: Option<TensorId>,
    },
}

impl Quantization {
    /// The scale tensor and optional zero-point tensor of per-channel and per-group
    /// quantization; `None` for the kinds whose parameters are inline.
    pub fn parameter_tensors(&self) -> Option<(TensorId, Option<TensorId>)> {
        match *self {
            Quantization::None | Quantization::PerTensor { .. } => None,
            Quantization::PerChannel {
                scales,
                zero_points,
                ..
            }
            | Quantization::PerGroup {
                scales,
                zero_points,
                ..
            } => Some((scales, zero_points)),
        }
    }

    /// A one-line summary, for `inspect`.
    pub fn summary(&self) -> String {
        match self {
            Quantization::None => "-".to_string(),
            Quantization::PerTensor { scale, zero_point } => {
                format!("per-tensor scale={scale:e} zp={zero_point}")
            }
            Quantization::PerChannel {
                axis, zero_points, ..
            } => format!(
                "per-channel axis={axis}{}",
                if zero_points.is_some() { " +zp" } else { "" }
            ),
            Quantization::PerGroup {
                axis,
                group_size,
                zero_points,
                ..
            } => format!(
                "per-group axis={axis} group={group_size}{}",
                if zero_points.is_some() { " +zp" } else { "" }
            ),
        }
    }
}
