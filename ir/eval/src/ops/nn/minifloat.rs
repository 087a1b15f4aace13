//! Narrow element types the quantisers produce and read: float8 (E4M3FN, E4M3FNUZ, E5M2,
//! E5M2FNUZ) and float4 E2M1 codes, and packing of 2- and 4-bit elements into bytes (first
//! element in the low bits, as ONNX stores them).

use nnslim_ir::DType;

/// How a small float format encodes NaN and infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Special {
    /// IEEE-like: the top exponent holds infinity (mantissa 0) and NaNs (E5M2).
    Ieee,
    /// No infinity; all-ones exponent and mantissa is NaN (E4M3FN).
    AllOnesNan,
    /// No infinity, no negative zero; the negative-zero code is NaN (the FNUZ types).
    Fnuz,
    /// Neither infinity nor NaN (F4E2M1).
    Finite,
}

/// A small float format: total bits, mantissa bits, exponent bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct MiniFloat {
    bits: u32,
    mant: u32,
    bias: i32,
    special: Special,
}

impl MiniFloat {
    /// The format of `dtype`, if it is one of the small float types handled here.
    pub fn of(dtype: DType) -> Option<MiniFloat> {
        let (bits, mant, bias, special) = match dtype {
            DType::F8E4M3FN => (8, 3, 7, Special::AllOnesNan),
            DType::F8E4M3FNUZ => (8, 3, 8, Special::Fnuz),
            DType::F8E5M2 => (8, 2, 15, Special::Ieee),
            DType::F8E5M2FNUZ => (8, 2, 16, Special::Fnuz),
            DType::F4E2M1 => (4, 1, 1, Special::Finite),
            _ => return None,
        };
        Some(MiniFloat {
            bits,
            mant,
            bias,
            special,
        })
    }

    fn exp_max(&self) -> u32 {
        (1 << (self.bits - 1 - self.mant)) - 1
    }

    fn sign_bit(&self) -> u8 {
        1 << (self.bits - 1)
    }

    /// The code of the largest finite value.
    fn max_code(&self) -> u8 {
        let (e, m) = match self.special {
            Special::Ieee => (self.exp_max() - 1, (1 << self.mant) - 1),
            Special::AllOnesNan => (self.exp_max(), (1 << self.mant) - 2),
            Special::Fnuz | Special::Finite => (self.exp_max(), (1 << self.mant) - 1),
        };
        ((e << self.mant) | m) as u8
    }

    fn nan_code(&self, negative: bool) -> u8 {
        let sign = if negative { self.sign_bit() } else { 0 };
        match self.special {
            Special::Fnuz => 0x80,
            Special::AllOnesNan => (self.max_code() + 1) | sign,
            Special::Ieee => ((self.exp_max() << self.mant) as u8) | (1 << (self.mant - 1)) | sign,
            // No NaN: ml_dtypes turns NaN into the largest magnitude.
            Special::Finite => self.max_code() | sign,
        }
    }

    /// The value of a code.
    pub fn decode(&self, code: u8) -> f32 {
        let code = code & ((1u16 << self.bits) - 1) as u8;
        let negative = code & self.sign_bit() != 0;
        let e = (code as u32 >> self.mant) & self.exp_max();
        let m = code as u32 & ((1 << self.mant) - 1);
        match self.special {
            Special::Fnuz if code == 0x80 => return f32::NAN,
            Special::AllOnesNan if e == self.exp_max() && m == (1 << self.mant) - 1 => {
                return f32::NAN;
            }
            Special::Ieee if e == self.exp_max() => {
                return if m != 0 {
                    f32::NAN
                } else if negative {
                    f32::NEG_INFINITY
                } else {
                    f32::INFINITY
                };
            }
            _ => {}
        }
        let v = if e == 0 {
            m as f64 * 2f64.powi(1 - self.bias - self.mant as i32)
        } else {
            (1.0 + m as f64 / (1u32 << self.mant) as f64) * 2f64.powi(e as i32 - self.bias)
        };
        (if negative { -v } else { v }) as f32
    }

    /// The code nearest to `v` (ties to even). Out-of-range values become the largest finite
    /// value with `saturate`, else infinity or NaN (whichever the format has).
    pub fn encode(&self, v: f64, saturate: bool) -> u8 {
        let negative = v.is_sign_negative();
        let sign = if negative { self.sign_bit() } else { 0 };
        // Zero has no negative code in the FNUZ types.
        let zero = if self.special == Special::Fnuz {
            0
        } else {
            sign
        };
        if v.is_nan() {
            return self.nan_code(negative);
        }
        let max_code = self.max_code();
        let max = self.decode(max_code) as f64;
        let overflow = |sign: u8| -> u8 {
            match self.special {
                _ if saturate => max_code | sign,
                Special::Ieee => ((self.exp_max() << self.mant) as u8) | sign,
                Special::Finite => max_code | sign,
                Special::AllOnesNan | Special::Fnuz => self.nan_code(negative),
            }
        };
        let a = v.abs();
        if a.is_infinite() {
            return overflow(sign);
        }
        if a == 0.0 {
            return zero;
        }
        let emin = 1 - self.bias;
        let e = exponent(a).max(emin);
        let quantum = 2f64.powi(e - self.mant as i32);
        let r = (a / quantum).round_ties_even() * quantum;
        if r > max {
            return overflow(sign);
        }
        if r == 0.0 {
            return zero;
        }
        let er = exponent(r);
        let (field, m) = if er < emin {
            (0, r / 2f64.powi(emin - self.mant as i32))
        } else {
            (
                (er + self.bias) as u32,
                r / 2f64.powi(er - self.mant as i32) - (1u32 << self.mant) as f64,
            )
        };
        sign | ((field << self.mant) as u8) | m as u8
    }
}

/// `floor(log2(a))` of a positive finite f64.
fn exponent(a: f64) -> i32 {
    let bits = a.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i32;
    if e == 0 {
        // Subnormal f64: far below any small-float range.
        -1075
    } else {
        e - 1023
    }
}

/// Packs `bits`-wide codes (2 or 4) into bytes, first element in the low bits.
pub(super) fn pack(bits: usize, codes: &[u8]) -> Vec<u8> {
    let per = 8 / bits;
    let mask = ((1u16 << bits) - 1) as u8;
    codes
        .chunks(per)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u8, |b, (i, &v)| b | ((v & mask) << (i * bits)))
        })
        .collect()
}

/// Unpacks `n` codes of `bits` (2 or 4) from bytes; `None` when the bytes are too few.
pub(super) fn unpack(bits: usize, raw: &[u8], n: usize) -> Option<Vec<u8>> {
    let per = 8 / bits;
    if raw.len() < n.div_ceil(per) {
        return None;
    }
    let mask = ((1u16 << bits) - 1) as u8;
    Some(
        (0..n)
            .map(|i| (raw[i / per] >> ((i % per) * bits)) & mask)
            .collect(),
    )
}

/// A sign-extended `bits`-wide two's complement code.
pub(super) fn sign_extend(code: u8, bits: usize) -> i32 {
    let shift = 8 - bits as u32;
    (((code << shift) as i8) >> shift) as i32
}
