//! Seeded random inputs for a graph input's type: what `run --random-inputs`, `bench` and the
//! pass manager's fidelity checks feed a model when no data is given.

use crate::{Array, Data};
use nnslim_ir::{DType, Dim, Rng, Type};

/// Seeded random data for an input of type `ty` (symbolic and unknown dims become 1):
/// floats uniform in [0, 1), integers in [0, 10), bools half true.
pub fn random_input(name: &str, ty: &Type, seed: u64) -> Result<Array, String> {
    let t = ty.as_tensor().ok_or_else(|| {
        format!("input {name:?} has type {ty}; random data is made for tensors only")
    })?;
    let dims = t.shape.as_ref().ok_or_else(|| {
        format!(
            "input {name:?} has unknown rank: give its shape with --input-shape {name}=D1,D2,..."
        )
    })?;
    let shape: Vec<usize> = dims
        .iter()
        .map(|d| match d {
            Dim::Known(n) => *n as usize,
            _ => 1,
        })
        .collect();
    let n: usize = shape.iter().product();
    let mut rng =
        Rng::new(seed ^ 0x9e37_79b9_7f4a_7c15 ^ (name.len() as u64).wrapping_mul(0x1000_0000_01b3));
    let floats: Vec<f32> = (0..n).map(|_| rng.unit_f32()).collect();
    let ints = || floats.iter().map(|&f| (f * 10.0) as i64);
    let data = match t.dtype {
        DType::F32 => Data::F32(floats),
        DType::F64 => Data::F64(floats.iter().map(|&f| f as f64).collect()),
        DType::F16 => Data::F16(floats.iter().map(|&f| half::f16::from_f32(f)).collect()),
        DType::BF16 => Data::BF16(floats.iter().map(|&f| half::bf16::from_f32(f)).collect()),
        DType::I64 => Data::I64(ints().collect()),
        DType::I32 => Data::I32(ints().map(|i| i as i32).collect()),
        DType::I16 => Data::I16(ints().map(|i| i as i16).collect()),
        DType::I8 => Data::I8(ints().map(|i| i as i8).collect()),
        DType::U8 => Data::U8(floats.iter().map(|&f| (f * 256.0) as u8).collect()),
        DType::U16 => Data::U16(ints().map(|i| i as u16).collect()),
        DType::U32 => Data::U32(ints().map(|i| i as u32).collect()),
        DType::U64 => Data::U64(ints().map(|i| i as u64).collect()),
        DType::Bool => Data::Bool(floats.iter().map(|&f| f < 0.5).collect()),
        other => {
            return Err(format!(
                "input {name:?}: random {other} data is not supported"
            ));
        }
    };
    Ok(Array { shape, data })
}
