//! The `nnslim` command-line tool.
fn main() {}
