//! `fold`: graph cleanup to a fixed point. A group of named rewrites, each a plain function
//! `fn(&mut Graph, &FoldCx) -> Result<bool, PassError>` that returns whether it changed the
//! graph; [`fold`] runs them in order, repeatedly, until none changes anything.
//!
//! Numerical contract: every rewrite keeps the graph's outputs equal to the original's up to
//! float re-association (folded BatchNormalization and affine ops change rounding, within the
//! contract tolerance). Rewrites work on the main graph; subgraphs (If/Loop/Scan bodies) are
//! left as they are.

mod affine;
mod bn;
mod constants;
mod cse;
mod dead;
mod gemm;
mod layout;
mod nop;
mod pad;

use crate::PassError;
use nnslim_ir::Graph;

/// What every fold rewrite may know.
#[derive(Clone, Debug)]
pub struct FoldCx {
    /// The model's default-domain opset: new nodes must be writable at it.
    pub opset: i64,
    /// Constant folding never materialises a tensor larger than this (bytes).
    pub max_const_bytes: u64,
    /// The model's IR version (weights listed as graph inputs in IR 3 may be dropped when unused).
    pub ir_version: i64,
}

impl Default for FoldCx {
    fn default() -> FoldCx {
        FoldCx {
            opset: 13,
            max_const_bytes: DEFAULT_MAX_CONST_BYTES,
            ir_version: 8,
        }
    }
}

/// 64 MiB: folding never makes a constant larger than this.
pub const DEFAULT_MAX_CONST_BYTES: u64 = 64 << 20;

/// A fold rewrite.
pub type Rewrite = fn(&mut Graph, &FoldCx) -> Result<bool, PassError>;

/// The rewrites of `fold`, in the order one round applies them. Names are kebab-case; each is
/// also a pass of its own (`--passes fuse-batchnorm`) and can be switched off inside `fold`
/// (`fold(fuse-batchnorm=off)`).
pub const REWRITES: &[(&str, &str, Rewrite)] = &[
    (
        "constants-to-initializers",
        "Constant nodes with a tensor value become initializers",
        constants::constants_to_initializers,
    ),
    (
        "fold-shapes",
        "Shape and Size of values whose shape is static become constants",
        constants::fold_shapes,
    ),
    (
        "fold-constants",
        "nodes whose inputs are all constant are evaluated (up to the size cap)",
        constants::fold_constants,
    ),
    (
        "eliminate-nop",
        "Identity, Dropout and Reshape/Transpose/Cast/Pad/Slice/... that change nothing are removed",
        nop::eliminate_nop,
    ),
    (
        "merge-layout",
        "consecutive Transposes, Reshapes (and Flatten/Squeeze/Unsqueeze) become one",
        layout::merge_layout,
    ),
    (
        "fuse-pad",
        "a constant zero Pad (or -inf for MaxPool) is folded into the next Conv or pooling",
        pad::fuse_pad,
    ),
    (
        "fuse-batchnorm",
        "inference BatchNormalization is folded into the Conv/ConvTranspose/Gemm/MatMul before it",
        bn::fuse_batchnorm,
    ),
    (
        "fuse-affine",
        "per-channel constant Mul/Add (and Sub/Div) after a Conv is folded into its weights and bias",
        affine::fuse_affine,
    ),
    (
        "matmul-add-to-gemm",
        "MatMul of a 2-D input and a constant 2-D weight followed by Add of a bias becomes Gemm",
        gemm::matmul_add_to_gemm,
    ),
    (
        "fuse-transpose-gemm",
        "a 2-D Transpose feeding Gemm becomes its transA/transB",
        gemm::fuse_transpose_gemm,
    ),
    (
        "eliminate-common",
        "common subexpressions: identical nodes reading identical inputs are computed once",
        cse::eliminate_common,
    ),
    (
        "eliminate-dead",
        "nodes and initializers nothing reads are removed",
        dead::eliminate_dead,
    ),
];

/// The most rounds [`fold`] runs before it stops looking for a fixed point.
pub const MAX_ROUNDS: usize = 32;

/// Runs the enabled rewrites (all when `enabled` is `None`) round after round until a round
/// changes nothing. Returns how many rewrites applied, by name, in order of first use.
pub fn fold(
    graph: &mut Graph,
    cx: &FoldCx,
    enabled: &dyn Fn(&str) -> bool,
) -> Result<Vec<(&'static str, usize)>, PassError> {
    let mut applied: Vec<(&'static str, usize)> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let mut changed = false;
        for &(name, _, rewrite) in REWRITES {
            if !enabled(name) {
                continue;
            }
            if rewrite(graph, cx)? {
                changed = true;
                match applied.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, k)) => *k += 1,
                    None => applied.push((name, 1)),
                }
            }
        }
        if !changed {
            break;
        }
    }
    Ok(applied)
}
