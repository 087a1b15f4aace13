//! nnslim-passes: the pass framework and the graph transformations (fold, prune, low-rank, quantize, ...).
//!
//! Empty for now: the pass manager arrives with the `fold` issue.
