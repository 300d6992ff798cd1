//! Test-only protobuf writer, for building well-formed and deliberately broken inputs.
//!
//! Invariant: it writes exactly the bytes asked for (no validation), so tests can express any
//! encoding, including invalid ones.

/// A message under construction.
#[derive(Default, Clone)]
pub(crate) struct Enc(pub Vec<u8>);

pub(crate) fn varint_bytes(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

impl Enc {
    pub fn new() -> Self {
        Self::default()
    }

    fn key(mut self, field: u32, wire: u8) -> Self {
        self.0
            .extend(varint_bytes(u64::from(field) << 3 | u64::from(wire)));
        self
    }

    pub fn varint(self, field: u32, v: u64) -> Self {
        let mut s = self.key(field, 0);
        s.0.extend(varint_bytes(v));
        s
    }

    pub fn int(self, field: u32, v: i64) -> Self {
        self.varint(field, v as u64)
    }

    pub fn bytes(self, field: u32, b: &[u8]) -> Self {
        let mut s = self.key(field, 2);
        s.0.extend(varint_bytes(b.len() as u64));
        s.0.extend_from_slice(b);
        s
    }

    pub fn string(self, field: u32, v: &str) -> Self {
        self.bytes(field, v.as_bytes())
    }

    pub fn msg(self, field: u32, m: Enc) -> Self {
        self.bytes(field, &m.0)
    }

    pub fn fixed32(self, field: u32, v: u32) -> Self {
        let mut s = self.key(field, 5);
        s.0.extend(v.to_le_bytes());
        s
    }

    pub fn fixed64(self, field: u32, v: u64) -> Self {
        let mut s = self.key(field, 1);
        s.0.extend(v.to_le_bytes());
        s
    }

    /// A packed repeated varint field.
    pub fn packed(self, field: u32, values: &[i64]) -> Self {
        let body: Vec<u8> = values
            .iter()
            .flat_map(|&v| varint_bytes(v as u64))
            .collect();
        self.bytes(field, &body)
    }

    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
}

/// A small but complete model: opset 17, a Conv with every common attribute kind, an `If` whose
/// branches are subgraphs, initializers in raw and typed encodings, symbolic and fixed dims.
pub(crate) fn sample_model() -> Vec<u8> {
    let shape = Enc::new()
        .msg(1, Enc::new().string(2, "batch"))
        .msg(1, Enc::new().int(1, 3))
        .msg(1, Enc::new());
    let tensor_type = Enc::new().int(1, 1).msg(2, shape);
    let input = Enc::new()
        .string(1, "x")
        .msg(2, Enc::new().msg(1, tensor_type));
    let weights = Enc::new()
        .packed(1, &[2, 3])
        .int(2, 1)
        .string(8, "w")
        .bytes(
            9,
            &[
                0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64, 0, 0, 192,
                64,
            ],
        );
    let bias = Enc::new()
        .int(1, 2)
        .int(2, 7)
        .string(8, "b")
        .packed(7, &[-1, 5]);
    let ints_attr = Enc::new()
        .string(1, "pads")
        .packed(8, &[0, 1, 0, 1])
        .int(20, 7);
    let float_attr = Enc::new()
        .string(1, "alpha")
        .fixed32(2, 0.5f32.to_bits())
        .int(20, 1);
    let string_attr = Enc::new()
        .string(1, "auto_pad")
        .bytes(4, b"NOTSET")
        .int(20, 3);
    let conv = Enc::new()
        .string(1, "x")
        .string(1, "w")
        .string(1, "")
        .string(2, "y")
        .string(3, "conv1")
        .string(4, "Conv")
        .msg(5, ints_attr)
        .msg(5, float_attr)
        .msg(5, string_attr);
    let branch = |name: &str| {
        Enc::new()
            .string(2, name)
            .msg(
                1,
                Enc::new()
                    .string(1, "y")
                    .string(2, "z")
                    .string(4, "Identity"),
            )
            .msg(12, Enc::new().string(1, "z"))
    };
    let cond_tensor = Enc::new().int(2, 9).packed(5, &[1]);
    let iff = Enc::new()
        .string(1, "c")
        .string(2, "out")
        .string(4, "If")
        .msg(
            5,
            Enc::new()
                .string(1, "then_branch")
                .msg(6, branch("then"))
                .int(20, 5),
        )
        .msg(
            5,
            Enc::new()
                .string(1, "else_branch")
                .msg(6, branch("else"))
                .int(20, 5),
        )
        .msg(
            5,
            Enc::new().string(1, "value").msg(5, cond_tensor).int(20, 4),
        );
    let graph = Enc::new()
        .string(2, "sample")
        .msg(1, conv)
        .msg(1, iff)
        .msg(5, weights)
        .msg(5, bias)
        .msg(11, input)
        .msg(12, Enc::new().string(1, "out"))
        .msg(13, Enc::new().string(1, "y"));
    Enc::new()
        .int(1, 8)
        .string(2, "mobiquant-test")
        .msg(7, graph)
        .msg(8, Enc::new().string(1, "").int(2, 17))
        .msg(8, Enc::new().string(1, "com.microsoft").int(2, 1))
        .msg(14, Enc::new().string(1, "author").string(2, "tests"))
        .0
}
