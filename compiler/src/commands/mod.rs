//! The commands behind the CLI: `run`, `eval`, `bench` and `compile`.

pub mod bench;
pub mod compile;
pub mod eval;
pub mod run;

/// Which engine executes the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// nnslim's reference interpreter.
    Interp,
}

pub use nnslim_eval::random_input;

/// A file name for an output: every character outside `[A-Za-z0-9._-]` becomes `_`.
pub fn output_file_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{s}.npy")
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnslim_ir::{DType, Dim, Type};

    #[test]
    fn output_names_are_sanitised() {
        assert_eq!(output_file_name("logits"), "logits.npy");
        assert_eq!(output_file_name("a/b:0 c"), "a_b_0_c.npy");
    }

    #[test]
    fn random_inputs_are_seeded() {
        let ty = Type::tensor(
            DType::F32,
            Some(vec![Dim::Symbol("N".into()), Dim::Known(3)]),
        );
        let a = random_input("x", &ty, 7).unwrap();
        assert_eq!(a.shape, vec![1, 3]);
        assert_eq!(a, random_input("x", &ty, 7).unwrap());
        assert_ne!(a, random_input("x", &ty, 8).unwrap());
        assert!(a.as_f32().unwrap().iter().all(|v| (0.0..1.0).contains(v)));
    }
}
