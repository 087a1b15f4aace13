//! Element codecs for the types the interpreter stores packed: the float8 family, float8e8m0,
//! float4e2m1 and the 4- and 2-bit integers. Float encodings round to nearest even from f64
//! and follow `ml_dtypes` (what ONNX's reference implementation uses) for NaN, infinity and
//! overflow.

use bytes::Bytes;
use nnslim_ir::DType;
use nnslim_ir::op::CastRounding;

/// Which special values a small float format has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Special {
    /// IEEE-like: infinities and NaNs in the all-ones exponent (e5m2).
    Ieee,
    /// No infinities; NaN is all ones (e4m3fn).
    Fn,
    /// No infinities, no negative zero; NaN is the sign bit alone (the `fnuz` types).
    Fnuz,
    /// Neither infinities nor NaNs (e2m1).
    Finite,
}

/// A packed element format.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Format {
    Float {
        ebits: u32,
        mbits: u32,
        bias: i32,
        special: Special,
    },
    /// float8e8m0: an unsigned power of two, 0xff is NaN.
    E8M0,
    Int {
        bits: u32,
        signed: bool,
    },
}

impl Format {
    /// The codec of a packed type, if the interpreter has one.
    pub(crate) fn of(dtype: DType) -> Option<Format> {
        let float = |ebits, mbits, bias, special| Format::Float {
            ebits,
            mbits,
            bias,
            special,
        };
        Some(match dtype {
            DType::F8E4M3FN => float(4, 3, 7, Special::Fn),
            DType::F8E4M3FNUZ => float(4, 3, 8, Special::Fnuz),
            DType::F8E5M2 => float(5, 2, 15, Special::Ieee),
            DType::F8E5M2FNUZ => float(5, 2, 16, Special::Fnuz),
            DType::F4E2M1 => float(2, 1, 1, Special::Finite),
            DType::F8E8M0 => Format::E8M0,
            DType::I4 => Format::Int {
                bits: 4,
                signed: true,
            },
            DType::U4 => Format::Int {
                bits: 4,
                signed: false,
            },
            DType::I2 => Format::Int {
                bits: 2,
                signed: true,
            },
            DType::U2 => Format::Int {
                bits: 2,
                signed: false,
            },
            _ => return None,
        })
    }

    /// Whether the format holds integers.
    pub(crate) fn is_int(self) -> bool {
        matches!(self, Format::Int { .. })
    }

    fn bits(self) -> u32 {
        match self {
            Format::Float { ebits, mbits, .. } => 1 + ebits + mbits,
            Format::E8M0 => 8,
            Format::Int { bits, .. } => bits,
        }
    }

    /// The `n` codes packed in `raw` (little-endian, first element in the low bits), or
    /// `None` when `raw` is too short.
    pub(crate) fn unpack(self, raw: &[u8], n: usize) -> Option<Vec<u8>> {
        let bits = self.bits() as usize;
        if raw.len() * 8 < n * bits {
            return None;
        }
        let per = 8 / bits;
        let mask = ((1u16 << bits) - 1) as u8;
        Some(
            (0..n)
                .map(|i| (raw[i / per] >> ((i % per) * bits)) & mask)
                .collect(),
        )
    }

    /// Codes packed into bytes (the inverse of [`Format::unpack`]).
    pub(crate) fn pack(self, codes: &[u8]) -> Bytes {
        let bits = self.bits() as usize;
        let per = 8 / bits;
        let mut out = vec![0u8; codes.len().div_ceil(per)];
        for (i, &c) in codes.iter().enumerate() {
            out[i / per] |= c << ((i % per) * bits);
        }
        Bytes::from(out)
    }

    /// The value of a code: integers as i128, floats as f64 (exactly).
    pub(crate) fn decode(self, code: u8) -> Num {
        match self {
            Format::Int { bits, signed } => {
                let v = i128::from(code);
                Num::Int(if signed && v >> (bits - 1) == 1 {
                    v - (1 << bits)
                } else {
                    v
                })
            }
            Format::E8M0 if code == 0xff => Num::Float(f64::NAN),
            Format::E8M0 => Num::Float(2f64.powi(i32::from(code) - 127)),
            Format::Float {
                ebits,
                mbits,
                bias,
                special,
            } => {
                let sign = code >> (ebits + mbits) != 0;
                let all = (1u8 << ebits) - 1;
                let (e, m) = ((code >> mbits) & all, code & ((1 << mbits) - 1));
                let nan = match special {
                    Special::Ieee => e == all && m != 0,
                    Special::Fn => e == all && m == (1 << mbits) - 1,
                    Special::Fnuz => sign && e == 0 && m == 0,
                    Special::Finite => false,
                };
                let v = if nan {
                    f64::NAN
                } else if special == Special::Ieee && e == all {
                    f64::INFINITY
                } else if e == 0 {
                    f64::from(m) * 2f64.powi(1 - bias - mbits as i32)
                } else {
                    f64::from(m | (1 << mbits)) * 2f64.powi(i32::from(e) - bias - mbits as i32)
                };
                Num::Float(if sign { -v } else { v })
            }
        }
    }

    /// The code of a value (`saturate`: out-of-range values become the largest finite one;
    /// `mode` only matters for e8m0).
    pub(crate) fn encode(self, x: Num, saturate: bool, mode: CastRounding) -> u8 {
        match (self, x) {
            (Format::Int { bits, .. }, Num::Int(v)) => (v & ((1 << bits) - 1)) as u8,
            (Format::Int { .. }, Num::Float(f)) => self.encode(Num::Int(f as i128), saturate, mode),
            (_, Num::Int(v)) => self.encode(Num::Float(v as f64), saturate, mode),
            (Format::E8M0, Num::Float(f)) => e8m0(f as f32, saturate, mode),
            (
                Format::Float {
                    ebits,
                    mbits,
                    bias,
                    special,
                },
                Num::Float(f),
            ) => small_float(f, ebits, mbits, bias, special, saturate),
        }
    }
}

/// An exact element value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

fn small_float(x: f64, ebits: u32, mbits: u32, bias: i32, special: Special, saturate: bool) -> u8 {
    let sbit = 1u8 << (ebits + mbits);
    let sign = if x.is_sign_negative() { sbit } else { 0 };
    let all_ones = (1u8 << (ebits + mbits)) - 1;
    let nan = match special {
        Special::Ieee => sign | (all_ones & !((1 << (mbits - 1)) - 1)),
        Special::Fn => sign | all_ones,
        Special::Fnuz => sbit,
        // What ml_dtypes produces for a format without NaN.
        Special::Finite => sbit ^ sign,
    };
    if x.is_nan() {
        return nan;
    }
    let emax = (1i32 << ebits) - 1 - bias - i32::from(special == Special::Ieee);
    let top = (1i32 << (mbits + 1)) - 1 - i32::from(special == Special::Fn);
    let max = f64::from(top) * 2f64.powi(emax - mbits as i32);
    let a = x.abs();
    // The exponent of `a`'s binade, at least the smallest normal one.
    let min_exp = 1 - bias;
    let e = (((a.to_bits() >> 52) & 0x7ff) as i32 - 1023).max(min_exp);
    let quantum = 2f64.powi(e - mbits as i32);
    let n = (a / quantum).round_ties_even();
    if a.is_infinite() || n * quantum > max {
        return match special {
            _ if saturate || special == Special::Finite => {
                small_float(x.signum() * max, ebits, mbits, bias, special, true)
            }
            Special::Ieee => sign | ((1 << ebits) - 1) << mbits,
            _ => nan,
        };
    }
    if n == 0.0 {
        return if special == Special::Fnuz { 0 } else { sign };
    }
    let (mut e, mut n) = (e, n as u32);
    if n == 1 << (mbits + 1) {
        e += 1;
        n >>= 1;
    }
    let code = if n < 1 << mbits {
        n
    } else {
        (((e + bias) as u32) << mbits) | (n - (1 << mbits))
    };
    sign | code as u8
}

/// float8e8m0 from f32 bits, as `onnx.numpy_helper.to_float8e8m0`.
fn e8m0(x: f32, saturate: bool, mode: CastRounding) -> u8 {
    let bits = x.to_bits();
    let exp = (bits >> 23) & 0xff;
    if exp == 0xff {
        return 0xff;
    }
    let round_up = match mode {
        CastRounding::Nearest => {
            let (g, r, s) = (bits & 0x40_0000, bits & 0x20_0000, bits & 0x1f_ffff);
            g != 0 && (r != 0 || s != 0 || exp > 0)
        }
        CastRounding::Up => bits & 0x7f_ffff != 0,
        CastRounding::Down => false,
    };
    let up = round_up && !(saturate && exp == 0xfe);
    (exp + u32::from(up)) as u8
}
