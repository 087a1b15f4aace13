//! The text IR of real models: insta snapshots of imported models (`tests/tests/snapshots/`),
//! and print → parse → print round trips of every light model and ONNX node test.
//!
//! Add a snapshot with one line: `import_snapshot!(name, path_expression);` (or
//! `fold_snapshot!` for the model after the `fold` pass). Review changes
//! with `cargo insta review` (or rerun with `INSTA_UPDATE=always` and read the diff).

use nnslim_ir::text::{parse_model, print_model};
use nnslim_ir::verify;
use nnslim_tests::{testdata_dir, workspace_root};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The text IR of an imported model.
fn import_text(path: &Path) -> String {
    let model = nnslim::frontend::load_model(path)
        .unwrap_or_else(|e| panic!("import {}: {e}", path.display()));
    print_model(&model)
}

/// A test named `$name` that snapshots the text IR of the model at `$path` (a `Path`/`PathBuf`
/// expression) as `snapshots__$name.snap`.
macro_rules! import_snapshot {
    ($name:ident, $path:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), import_text(&$path));
        }
    };
}

import_snapshot!(
    light_squeezenet,
    testdata_dir().join("light/light_squeezenet.onnx")
);
import_snapshot!(
    light_inception_v1,
    testdata_dir().join("light/light_inception_v1.onnx")
);
import_snapshot!(
    seed_cnn_fashion,
    workspace_root().join("tests/fixtures/seed_cnn_fashion.onnx")
);
import_snapshot!(
    mobile_cnn_fashion,
    workspace_root().join("tests/fixtures/mobile_cnn_fashion.onnx")
);
import_snapshot!(
    digits_mlp,
    workspace_root().join("tests/fixtures/digits_mlp.onnx")
);

/// The text IR of a model after `fold` (default options, seed 0).
fn fold_text(path: &Path) -> String {
    use nnslim_passes::{Registry, RunOptions};
    let mut model = nnslim::frontend::load_model(path)
        .unwrap_or_else(|e| panic!("import {}: {e}", path.display()));
    Registry::with_builtins()
        .build("fold")
        .expect("fold builds")
        .run(&mut model, &RunOptions::default(), &mut std::io::sink())
        .unwrap_or_else(|e| panic!("fold {}: {e}", path.display()));
    print_model(&model)
}

/// A test named `$name` that snapshots the text IR of the model at `$path` after `fold`.
macro_rules! fold_snapshot {
    ($name:ident, $path:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), fold_text(&$path));
        }
    };
}

fold_snapshot!(
    fold_seed_cnn_fashion,
    workspace_root().join("tests/fixtures/seed_cnn_fashion.onnx")
);
fold_snapshot!(
    fold_mobile_cnn_fashion,
    workspace_root().join("tests/fixtures/mobile_cnn_fashion.onnx")
);
fold_snapshot!(
    fold_digits_mlp,
    workspace_root().join("tests/fixtures/digits_mlp.onnx")
);
fold_snapshot!(
    fold_light_squeezenet,
    testdata_dir().join("light/light_squeezenet.onnx")
);

/// Every node test model, every light model, and the smaller random-weight light models.
fn all_models() -> Vec<(String, PathBuf)> {
    let td = testdata_dir();
    let mut models = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(td.join("node"))
        .expect("node tests")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for d in dirs {
        let name = d
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        models.push((format!("node/{name}"), d.join("model.onnx")));
    }
    for kind in ["light", "light_random"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(td.join(kind))
            .expect("light models")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
            // Debug builds decode weights slowly: the random-weight variants up to 40 MB (four
            // of seven) exercise `range` summaries of real weights well enough.
            .filter(|p| kind == "light" || p.metadata().is_ok_and(|m| m.len() <= 40 << 20))
            .collect();
        files.sort();
        for f in files {
            let stem = f
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            models.push((format!("{kind}/{stem}"), f));
        }
    }
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("tests/fixtures"))
        .expect("tests/fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    fixtures.sort();
    assert!(
        fixtures.len() >= 3,
        "the three trained fixtures are committed"
    );
    for f in fixtures {
        let stem = f
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        models.push((format!("fixture/{stem}"), f));
    }
    models
}

/// `print(parse(print(m))) == print(m)` for every model the frontend imports (all ONNX Runtime
/// node tests must import), and a model that verifies still verifies after the trip.
#[test]
fn text_round_trips_every_test_model() {
    let td = testdata_dir();
    let ort: BTreeSet<String> = std::fs::read_to_string(td.join("node_ort.txt"))
        .expect("node_ort.txt")
        .lines()
        .map(|l| format!("node/{}", l.trim()))
        .collect();
    let mut failures = Vec::new();
    let (mut passed, mut skipped) = (0usize, 0usize);
    for (name, path) in all_models() {
        let model = match nnslim::frontend::load_model(&path) {
            Ok(m) => m,
            Err(_) if !ort.contains(&name) => {
                skipped += 1;
                continue;
            }
            Err(e) => {
                failures.push(format!("{name}: import: {e}"));
                continue;
            }
        };
        let text = print_model(&model);
        let reparsed = match parse_model(&text) {
            Ok(m) => m,
            Err(e) => {
                let line = text.lines().nth(e.line.saturating_sub(1)).unwrap_or("");
                failures.push(format!("{name}: parse: {e}\n    {line}"));
                continue;
            }
        };
        let again = print_model(&reparsed);
        if again != text {
            let diff = first_difference(&text, &again);
            failures.push(format!("{name}: printed text changed:\n{diff}"));
            continue;
        }
        if verify(&model.graph).is_ok()
            && let Err(e) = verify(&reparsed.graph)
        {
            failures.push(format!("{name}: verifies before the trip, not after: {e}"));
            continue;
        }
        passed += 1;
    }
    eprintln!(
        "text round trip: {passed} passed, {} failed, {skipped} skipped (not importable, not run by ORT)",
        failures.len()
    );
    assert!(passed > 1500, "only {passed} models round-tripped");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The first differing line of two texts, with its line number.
fn first_difference(a: &str, b: &str) -> String {
    let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    for i in 0..al.len().max(bl.len()) {
        let (x, y) = (al.get(i), bl.get(i));
        if x != y {
            return format!(
                "    line {}:\n    - {}\n    + {}",
                i + 1,
                x.unwrap_or(&"<none>"),
                y.unwrap_or(&"<none>")
            );
        }
    }
    String::new()
}
