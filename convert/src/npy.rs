//! NumPy `.npy` files (format versions 1.0 to 3.0): the converter's and the CLI's way to take
//! inputs and calibration data and to hand back outputs.
//!
//! Invariants: [`read`] accepts only little-endian (or byte-sized) C-order arrays of a dtype that
//! MobiQuant has, checks that the header's shape matches the bytes that follow (overflow-checked)
//! and never panics; [`write`] produces version 1.0 files that NumPy reads back.

use std::path::Path;

use mobiquant_core::DType;

/// A dense array: dtype, shape, and its elements as little-endian bytes in C order.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// What is wrong with a `.npy` file.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a supported .npy file: {reason}")]
    Invalid { path: String, reason: String },
}

const MAGIC: &[u8] = b"\x93NUMPY";

fn descr(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::F32 => "<f4",
        DType::F16 => "<f2",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::Bool => "|b1",
        DType::I4 => return None,
    })
}

fn dtype_of(descr: &str) -> Option<DType> {
    DType::ALL.into_iter().find(|&d| descr_of_matches(d, descr))
}

fn descr_of_matches(dtype: DType, text: &str) -> bool {
    // NumPy writes "<i1"/"|i1" and "<u1"/"|u1" interchangeably for byte-sized types.
    descr(dtype)
        .is_some_and(|d| d == text || (d.starts_with('|') && text == format!("<{}", &d[1..])))
}

impl NpyArray {
    /// Reads a `.npy` file.
    pub fn read(path: &Path) -> Result<NpyArray, NpyError> {
        let bytes = std::fs::read(path).map_err(|source| NpyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        NpyArray::from_bytes(&bytes).map_err(|reason| NpyError::Invalid {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Parses the bytes of a `.npy` file.
    pub fn from_bytes(bytes: &[u8]) -> Result<NpyArray, String> {
        if bytes.len() < 10 || &bytes[..6] != MAGIC {
            return Err("missing the \\x93NUMPY magic".into());
        }
        let (header_len, header_start) = match bytes[6] {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
            2 | 3 if bytes.len() >= 12 => (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            ),
            v => return Err(format!("format version {v} is not supported")),
        };
        let header_end = header_start
            .checked_add(header_len)
            .filter(|&end| end <= bytes.len())
            .ok_or("the header is longer than the file")?;
        let header = std::str::from_utf8(&bytes[header_start..header_end])
            .map_err(|_| "the header is not text")?;
        let field = |key: &str| -> Result<&str, String> {
            let at = header
                .find(&format!("'{key}':"))
                .ok_or(format!("the header has no '{key}'"))?;
            Ok(header[at + key.len() + 3..].trim_start())
        };
        let descr_text = field("descr")?;
        let descr_text = descr_text
            .strip_prefix('\'')
            .and_then(|s| s.split('\'').next())
            .ok_or("malformed 'descr'")?;
        let dtype = dtype_of(descr_text).ok_or(format!("dtype {descr_text:?} is not supported"))?;
        if !field("fortran_order")?.starts_with("False") {
            return Err("Fortran-order arrays are not supported".into());
        }
        let shape_text = field("shape")?;
        let shape_text = shape_text
            .strip_prefix('(')
            .and_then(|s| s.split(')').next())
            .ok_or("malformed 'shape'")?;
        let shape = shape_text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<usize>()
                    .map_err(|_| format!("bad dimension {s:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let numel = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or("shape overflows")?;
        let len = dtype.byte_len(numel as u64).ok_or("shape overflows")? as usize;
        let data = &bytes[header_end..];
        if data.len() != len {
            return Err(format!(
                "shape {shape:?} of {dtype} needs {len} bytes, the file has {}",
                data.len()
            ));
        }
        Ok(NpyArray {
            dtype,
            shape,
            data: data.to_vec(),
        })
    }

    /// The bytes of a version 1.0 `.npy` file holding this array.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let d = descr(self.dtype).ok_or(format!("{} arrays have no .npy dtype", self.dtype))?;
        let dims: Vec<String> = self.shape.iter().map(usize::to_string).collect();
        let shape = match dims.len() {
            1 => format!("({},)", dims[0]),
            _ => format!("({})", dims.join(", ")),
        };
        let mut header = format!("{{'descr': '{d}', 'fortran_order': False, 'shape': {shape}, }}");
        // Magic, version, length and header are padded with spaces to a multiple of 64, ending in \n.
        let total = (10 + header.len() + 1).next_multiple_of(64);
        header.push_str(&" ".repeat(total - 10 - header.len() - 1));
        header.push('\n');
        let mut out = Vec::with_capacity(total + self.data.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&self.data);
        Ok(out)
    }

    /// Writes a version 1.0 `.npy` file.
    pub fn write(&self, path: &Path) -> Result<(), NpyError> {
        let path_text = path.display().to_string();
        let bytes = self.to_bytes().map_err(|reason| NpyError::Invalid {
            path: path_text.clone(),
            reason,
        })?;
        std::fs::write(path, bytes).map_err(|source| NpyError::Io {
            path: path_text,
            source,
        })
    }

    /// The elements of an f32 array.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        (self.dtype == DType::F32).then(|| {
            self.data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_dtype_and_rank() {
        for (dtype, shape) in [
            (DType::F32, vec![2, 3]),
            (DType::F16, vec![5]),
            (DType::I8, vec![]),
            (DType::U8, vec![1, 1, 4]),
            (DType::I32, vec![0, 3]),
            (DType::I64, vec![3]),
            (DType::Bool, vec![2]),
        ] {
            let numel: usize = shape.iter().product();
            let len = dtype.byte_len(numel as u64).unwrap() as usize;
            let a = NpyArray {
                dtype,
                shape,
                data: (0..len).map(|i| (i % 2) as u8).collect(),
            };
            let bytes = a.to_bytes().unwrap();
            assert_eq!(
                (10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize) % 64,
                0
            );
            assert_eq!(NpyArray::from_bytes(&bytes).unwrap(), a);
        }
    }

    #[test]
    fn rejects_bad_files_with_reasons() {
        let good = NpyArray {
            dtype: DType::F32,
            shape: vec![2],
            data: vec![0; 8],
        }
        .to_bytes()
        .unwrap();
        let mut short = good.clone();
        short.pop();
        assert!(
            NpyArray::from_bytes(&short)
                .unwrap_err()
                .contains("needs 8 bytes")
        );
        assert!(
            NpyArray::from_bytes(&good[..20])
                .unwrap_err()
                .contains("longer than the file")
        );
        assert!(
            NpyArray::from_bytes(b"hello")
                .unwrap_err()
                .contains("magic")
        );
        let edited = |from: &[u8], to: &[u8]| {
            let at = good.windows(from.len()).position(|w| w == from).unwrap();
            let mut out = good.clone();
            out[at..at + to.len()].copy_from_slice(to);
            out
        };
        assert!(
            NpyArray::from_bytes(&edited(b"<f4", b">f4"))
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            NpyArray::from_bytes(&edited(b"False", b"True "))
                .unwrap_err()
                .contains("Fortran")
        );
    }

    #[test]
    fn reads_what_numpy_writes() {
        // np.save of np.arange(6, dtype=np.float32).reshape(2, 3), byte for byte.
        let mut file =
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
                .to_vec();
        file.resize(127, b' ');
        file.push(b'\n');
        for i in 0..6 {
            file.extend_from_slice(&(i as f32).to_le_bytes());
        }
        let a = NpyArray::from_bytes(&file).unwrap();
        assert_eq!(a.shape, [2, 3]);
        assert_eq!(a.to_f32().unwrap(), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    proptest::proptest! {
        #[test]
        fn damaged_files_never_panic(at in 0usize..200, byte in proptest::prelude::any::<u8>(), cut in 0usize..200) {
            let mut file = NpyArray { dtype: DType::I64, shape: vec![3, 2], data: vec![7; 48] }.to_bytes().unwrap();
            let n = file.len();
            file[at % n] = byte;
            file.truncate(n - cut % n);
            let _ = NpyArray::from_bytes(&file);
        }
    }
}
