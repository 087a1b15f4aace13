//! Filetests (Cranelift style): each `tests/filetests/*.nnir` file holds directives, an input in
//! text IR, and the expected text after the test runs. `BLESS=1` rewrites the expectations.
//!
//! ```text
//! ; test: print
//! model ir_version=8 opsets=[""=13]
//! graph "g" { ... }
//! ; expect:
//! model ir_version=8 opsets=[""=13]
//! graph "g" { ... }
//! ```
//!
//! Directive lines come first and start with `; `; `; expect:` starts the expected section.
//! Directives:
//! - `; test: print` — parse the input, verify it, print it (and check that the printed text
//!   parses back to itself).
//! - `; test: passes` with `; passes: SPEC` (a pipeline spec such as `fuse-batchnorm,
//!   eliminate-dead`) — run the pipeline on the input, verify the result, check it against the
//!   input numerically with the interpreter on seeded random inputs, run the pipeline again and
//!   check that nothing changes (idempotency), and print the result.
//!
//! New directives are added in [`Directive::parse`] and applied in [`run`].

use nnslim_ir::text::{parse_model, print_model};
use nnslim_ir::{Model, verify};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What a filetest asks for.
#[derive(Clone, Debug, PartialEq)]
enum Directive {
    /// `; test: KIND`.
    Test(TestKind),
    /// `; passes: SPEC`.
    Passes(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum TestKind {
    /// Parse, verify, print.
    Print,
    /// Run the `; passes:` pipeline, check numerics and idempotency, print.
    Passes,
}

impl Directive {
    /// A directive from `; name: value`. The extension point: a new directive is a new arm.
    fn parse(name: &str, value: &str) -> Result<Directive, String> {
        match name {
            "test" => match value {
                "print" => Ok(Directive::Test(TestKind::Print)),
                "passes" => Ok(Directive::Test(TestKind::Passes)),
                other => Err(format!(
                    "unknown test kind '{other}' (known: print, passes)"
                )),
            },
            "passes" => Ok(Directive::Passes(value.to_string())),
            other => Err(format!("unknown directive '{other}' (known: test, passes)")),
        }
    }
}

/// A parsed filetest file.
struct FileTest {
    directives: Vec<Directive>,
    /// The input text IR.
    input: String,
    /// Line number (1-based) of the input's first line, for error positions.
    input_line: usize,
    /// Everything up to and including the `; expect:` line (kept as is when blessing).
    head: String,
    /// The expected output, if the file has an `; expect:` section.
    expected: Option<String>,
}

const EXPECT: &str = "; expect:";

fn read_filetest(text: &str) -> Result<FileTest, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut directives = Vec::new();
    let mut i = 0;
    while i < lines.len() && lines[i].starts_with(';') && lines[i].trim_end() != EXPECT {
        let line = lines[i].trim_end();
        let body = line
            .strip_prefix("; ")
            .ok_or_else(|| format!("line {}: a directive is '; name: value'", i + 1))?;
        let (name, value) = body
            .split_once(':')
            .ok_or_else(|| format!("line {}: a directive is '; name: value'", i + 1))?;
        directives.push(
            Directive::parse(name.trim(), value.trim())
                .map_err(|e| format!("line {}: {e}", i + 1))?,
        );
        i += 1;
    }
    let input_line = i + 1;
    let mut input = String::new();
    while i < lines.len() && lines[i].trim_end() != EXPECT {
        input.push_str(lines[i]);
        i += 1;
    }
    let (head, expected) = if i < lines.len() {
        let head: String = lines[..=i].concat();
        let head = if head.ends_with('\n') {
            head
        } else {
            head + "\n"
        };
        (head, Some(lines[i + 1..].concat()))
    } else {
        let mut head = text.to_string();
        if !head.ends_with('\n') {
            head.push('\n');
        }
        (head + EXPECT + "\n", None)
    };
    if !directives.iter().any(|d| matches!(d, Directive::Test(_))) {
        return Err("no '; test: ...' directive".into());
    }
    Ok(FileTest {
        directives,
        input,
        input_line,
        head,
        expected,
    })
}

/// Runs a filetest; returns the actual output text.
fn run(t: &FileTest) -> Result<String, String> {
    let model = parse_model(&t.input).map_err(|e| {
        format!(
            "input:{}:{}: {}",
            e.line + t.input_line - 1,
            e.col,
            e.message
        )
    })?;
    let spec = t.directives.iter().find_map(|d| match d {
        Directive::Passes(s) => Some(s.as_str()),
        _ => None,
    });
    let mut output = None;
    for d in &t.directives {
        match d {
            Directive::Test(TestKind::Print) => output = Some(print_checked(&model)?),
            Directive::Test(TestKind::Passes) => {
                let spec = spec.ok_or("'; test: passes' needs a '; passes: SPEC' line")?;
                output = Some(run_passes(&model, spec)?);
            }
            Directive::Passes(_) => {}
        }
    }
    output.ok_or_else(|| "nothing to compare".into())
}

/// Runs a pipeline on a copy of `model`; checks the result verifies, matches the input
/// numerically on seeded random inputs and is a fixed point of the pipeline; prints it.
fn run_passes(model: &Model, spec: &str) -> Result<String, String> {
    use nnslim_passes::{Registry, RunOptions};
    verify(&model.graph).map_err(|e| format!("the input does not verify: {e}"))?;
    let registry = Registry::with_builtins();
    let run_once = |m: &mut Model| -> Result<(), String> {
        let mut p = registry.build(spec).map_err(|e| e.to_string())?;
        p.run(m, &RunOptions::default(), &mut std::io::sink())
            .map_err(|e| e.to_string())?;
        Ok(())
    };
    let mut after = model.clone();
    run_once(&mut after)?;
    nnslim_passes::testing::differential(&model.graph, &after.graph, 0, 3)
        .map_err(|e| format!("the pipeline changed the results: {e}"))?;
    let text = print_checked(&after)?;
    let mut again = after.clone();
    run_once(&mut again)?;
    let second = print_model(&again);
    if second != text {
        return Err(format!(
            "the pipeline is not idempotent (- first run, + second run):\n{}",
            diff(&text, &second)
        ));
    }
    Ok(text)
}

/// Verifies and prints a model, and checks that the text parses back to itself.
fn print_checked(model: &Model) -> Result<String, String> {
    verify(&model.graph).map_err(|e| format!("the input does not verify: {e}"))?;
    let text = print_model(model);
    let again = parse_model(&text).map_err(|e| format!("printed text does not parse: {e}"))?;
    if print_model(&again) != text {
        return Err(format!(
            "printed text does not round-trip:\n{}",
            diff(&text, &print_model(&again))
        ));
    }
    Ok(text)
}

/// A line diff (`-` expected, `+` actual) from a longest common subsequence.
fn diff(expected: &str, actual: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "  {}", a[i]);
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "- {}", a[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "+ {}", b[j]);
            j += 1;
        }
    }
    out
}

fn filetest_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("filetests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "nnir"))
        .collect();
    files.sort();
    files
}

#[test]
fn filetests() {
    let bless = std::env::var_os("BLESS").is_some_and(|v| v == "1");
    let files = filetest_files();
    assert!(files.len() >= 5, "only {} filetests found", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let name = path.display();
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let result = read_filetest(&text).and_then(|t| run(&t).map(|actual| (t, actual)));
        let (t, actual) = match result {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        if t.expected.as_deref() == Some(actual.as_str()) {
            continue;
        }
        if bless {
            std::fs::write(path, format!("{}{actual}", t.head))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            eprintln!("blessed {name}");
        } else {
            let expected = t.expected.as_deref().unwrap_or("");
            failures.push(format!(
                "{name}: output differs from '; expect:' (- expected, + actual; BLESS=1 accepts):\n{}",
                diff(expected, &actual)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} filetests failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn reader_splits_directives_input_and_expectation() {
    let t = read_filetest("; test: print\nmodel\n; expect:\nout\n").unwrap();
    assert_eq!(t.directives, vec![Directive::Test(TestKind::Print)]);
    assert_eq!((t.input.as_str(), t.input_line), ("model\n", 2));
    assert_eq!(t.expected.as_deref(), Some("out\n"));
    assert_eq!(t.head, "; test: print\nmodel\n; expect:\n");
    let fresh = read_filetest("; test: print\nmodel").unwrap();
    assert_eq!(
        (fresh.expected, fresh.head.as_str()),
        (None, "; test: print\nmodel\n; expect:\n")
    );
    assert_eq!(
        read_filetest("; passes: fold\nmodel\n").err().as_deref(),
        Some("no '; test: ...' directive")
    );
    assert_eq!(
        read_filetest("; check: x\nmodel\n").err().as_deref(),
        Some("line 1: unknown directive 'check' (known: test, passes)")
    );
    assert_eq!(
        read_filetest("; test: fold\n").err().as_deref(),
        Some("line 1: unknown test kind 'fold' (known: print, passes)")
    );
    let t = read_filetest("; test: passes\n; passes: fold, cse\nmodel\n").unwrap();
    assert_eq!(
        t.directives,
        vec![
            Directive::Test(TestKind::Passes),
            Directive::Passes("fold, cse".into())
        ]
    );
    assert!(
        read_filetest("model\n").is_err(),
        "a test directive is required"
    );
}

#[test]
fn diff_marks_changed_lines() {
    assert_eq!(diff("a\nb\nc\n", "a\nx\nc\n"), "  a\n- b\n+ x\n  c\n");
}
