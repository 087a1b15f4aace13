//! Tests of the pass manager and the registry with small passes defined here.

use crate::registry::{PassArgs, PassInfo, Registry};
use crate::report::compute_node_count;
use crate::{Changed, Pass, PassContext, PassError, Pipeline, PrintAfter, RunOptions, Samples};
use nnslim_eval::{Array, Value};
use nnslim_ir::Model;
use nnslim_ir::text::parse_model;
use std::collections::HashMap;

const MLP: &str = r#"model ir_version=8 opsets=[""=13]
graph "mlp" {
  input %x: f32[N,4]
  const %w: f32[4,3] = random(seed=1)
  const %b: f32[3] = [0.1, 0.2, 0.3]
  const %two: f32[] = [2.0]
  const %one: f32[] = [1.0]
  %k = Add(%one, %two)
  %h = MatMul(%x, %w)
  %y = Add(%h, %b)
  %z = Mul(%y, %k)
  output %z
}
"#;

fn mlp() -> Model {
    parse_model(MLP).expect("parses")
}

/// Renames a value to an existing name: the verifier must catch it.
struct Break;

impl Pass for Break {
    fn name(&self) -> &str {
        "break"
    }
    fn run(&mut self, m: &mut Model, _: &mut PassContext<'_>) -> Result<Changed, PassError> {
        let h = m.graph.find_value("h").expect("h");
        m.graph.value_mut(h).name = "y".into();
        Ok(Changed::Yes)
    }
}

/// Records a detail and a note, fails when asked to.
struct Probe {
    fail: bool,
}

impl Pass for Probe {
    fn name(&self) -> &str {
        "probe"
    }
    fn run(&mut self, _: &mut Model, cx: &mut PassContext<'_>) -> Result<Changed, PassError> {
        if self.fail {
            return Err(PassError::Unsupported {
                pass: "probe".into(),
                message: "asked to fail".into(),
            });
        }
        cx.detail("calib", cx.calib.map(Samples::len).into());
        cx.note("probed");
        Ok(Changed::No)
    }
}

fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    r.register(
        PassInfo::new("probe", "test pass")
            .word("fail", "fail on purpose")
            .option("n", "a number")
            .option("mode", "a choice")
            .option("pattern", "a pair"),
        |a: &PassArgs| {
            a.integer("n", 1, 1, 10)?;
            a.choice("mode", "a", &["a", "b"])?;
            a.pair("pattern")?;
            Ok(Box::new(Probe {
                fail: a.has_word("fail"),
            }))
        },
    )
    .expect("registers");
    r
}

fn samples(rows: usize) -> Samples {
    let x = Array::f32(
        vec![rows, 4],
        (0..rows * 4).map(|i| i as f32 * 0.1).collect(),
    );
    Samples {
        description: "test rows".into(),
        batches: vec![HashMap::from([("x".to_string(), Value::Tensor(x))]).into()],
        labels: Some(vec![0; rows]),
    }
}

#[test]
fn pipeline_reports_each_pass_with_fidelity() {
    let mut m = mlp();
    let mut p = registry().build("probe(n=3), fold, probe").expect("builds");
    assert_eq!(p.names(), ["probe", "fold", "probe"]);
    let (calib, fid) = (samples(5), samples(6));
    let opts = RunOptions {
        calib: Some(&calib),
        fidelity: Some(&fid),
        print_after: PrintAfter::Passes(vec!["fold".into()]),
        ..RunOptions::default()
    };
    let mut printed = Vec::new();
    let r = p.run(&mut m, &opts, &mut printed).expect("runs");
    let passes: Vec<&str> = r.rows.iter().map(|r| r.pass.as_str()).collect();
    assert_eq!(passes, ["input", "probe", "fold", "probe"]);
    assert_eq!(r.rows[1].label, "probe(n=3)");
    assert_eq!(r.rows[1].details["calib"], 5);
    assert_eq!(r.rows[1].notes, ["probed"]);
    assert!(!r.rows[1].changed);
    // fold folds 1+2 into a constant, MatMul+Add into Gemm, and the Mul by 3 into the Gemm.
    assert!(r.rows[2].changed);
    assert_eq!((r.rows[0].compute_nodes, r.rows[2].compute_nodes), (3, 1));
    for row in &r.rows {
        let f = row.fidelity.as_ref().expect("fidelity");
        assert_eq!(f.samples, 6);
        assert!(f.max_rel_error < 1e-5, "{f:?}");
        assert_eq!(f.top1_agreement, Some(1.0));
        assert_eq!(f.accuracy, f.original_accuracy);
    }
    let text = String::from_utf8(printed).expect("utf-8");
    assert!(text.starts_with("; after fold\nmodel "), "{text}");
    assert_eq!(text.matches("; after").count(), 1);
    let table = r.to_table();
    assert!(
        table.contains("probe(n=3)") && table.contains("probe: probed"),
        "{table}"
    );
    let json = r.to_json();
    assert_eq!(json["rows"][2]["pass"], "fold");
    assert_eq!(
        json["rows"][0]["fidelity"]["sqnr_db"],
        serde_json::Value::Null
    );
}

#[test]
fn stop_after_ends_the_pipeline() {
    let mut m = mlp();
    let mut p = registry().build("probe,fold,probe(fail)").expect("builds");
    let opts = RunOptions {
        stop_after: Some("fold".into()),
        ..RunOptions::default()
    };
    let r = p.run(&mut m, &opts, &mut std::io::sink()).expect("runs");
    assert_eq!(r.rows.len(), 3);
    assert_eq!(r.stopped_after.as_deref(), Some("fold"));
    let bad = RunOptions {
        stop_after: Some("prune".into()),
        ..RunOptions::default()
    };
    let e = p.run(&mut m, &bad, &mut std::io::sink()).unwrap_err();
    assert!(
        e.to_string()
            .contains("not in this pipeline (its passes: probe, fold, probe)")
    );
}

#[test]
fn failures_name_the_pass() {
    let mut m = mlp();
    let mut p = registry().build("fold,probe(fail)").expect("builds");
    let e = p
        .run(&mut m, &RunOptions::default(), &mut std::io::sink())
        .unwrap_err();
    assert!(matches!(&e, PassError::Failed { pass, .. } if pass == "probe(fail)"));
    assert!(e.is_user_error());
    assert_eq!(
        e.to_string(),
        "pass 'probe(fail)': pass 'probe': asked to fail"
    );

    let mut p = Pipeline::new();
    p.push(Box::new(Break));
    let e = p
        .run(&mut mlp(), &RunOptions::default(), &mut std::io::sink())
        .unwrap_err();
    let PassError::Verify { pass, errors, ir } = &e else {
        panic!("expected a verify error, got {e}");
    };
    assert_eq!(pass, "break");
    assert!(
        errors.to_string().contains("\"y\" is produced 2 times"),
        "{errors}"
    );
    assert!(ir.contains("graph \"mlp\""));
    assert!(!e.is_user_error(), "a broken graph is a bug in the pass");
}

#[test]
fn registry_checks_names_and_options() {
    let r = registry();
    let msg = |spec: &str| match r.build(spec) {
        Ok(_) => panic!("{spec} should be refused"),
        Err(e) => e.to_string(),
    };
    assert!(msg("fold,nope").starts_with("unknown pass 'nope' (known: "));
    assert_eq!(
        msg("probe(x=1)"),
        "pass 'probe': unknown option 'x' (known: n, mode, pattern)"
    );
    assert_eq!(
        msg("probe(int8)"),
        "pass 'probe': unknown argument 'int8' (known words: fail; options: n, mode, pattern)"
    );
    assert_eq!(
        msg("probe(n=1, n=2)"),
        "pass 'probe': option 'n' is given twice"
    );
    assert_eq!(
        msg("probe(n=0.5)"),
        "pass 'probe': option 'n' must be a whole number from 1 to 10, not '0.5'"
    );
    assert_eq!(
        msg("probe(mode=c)"),
        "pass 'probe': option 'mode' must be one of a, b, not 'c'"
    );
    assert!(msg("probe(pattern=4:2)").contains("pair N:M with 0 < N <= M"));
    assert!(msg("probe(pattern=0.5)").contains("pair N:M"));
    assert!(msg("fold(fuse-batchnorm=2)").contains("must be on or off"));
    let mut r2 = registry();
    let dup = r2.register(PassInfo::new("fold", "again"), |_| {
        Ok(Box::new(Probe { fail: false }))
    });
    assert!(dup.unwrap_err().to_string().contains("already registered"));
    let help = r.help();
    assert!(
        help.contains("probe") && help.contains("max-const-mb"),
        "{help}"
    );
}

#[test]
fn compute_nodes_exclude_constant_subgraphs() {
    let m = mlp();
    // Add(%one, %two) reads only constants; MatMul, Add and Mul depend on %x.
    assert_eq!(compute_node_count(&m.graph), 3);
}

#[test]
fn batches_slice_rows_of_values_and_bytes() {
    use crate::Batch;
    use std::sync::Arc;
    let rows = |b: &Batch| -> Vec<f32> {
        b.values()["x"]
            .as_tensor()
            .unwrap()
            .as_f32()
            .unwrap()
            .to_vec()
    };
    let values = samples(5).batches.remove(0);
    let part = values.rows_range(1..3);
    assert_eq!(part.rows(), 2);
    assert_eq!(rows(&part), rows(&values)[4..12]);
    assert_eq!(
        values.rows_range(4..9).rows(),
        1,
        "clamped to the rows there are"
    );
    // Bytes: rows of [2] bytes from offset 2, scaled by 0.5.
    let raw = Arc::new((0u8..20).collect::<Vec<u8>>());
    let bytes = Batch::bytes("x".into(), 4, &[2], raw, 2, 0.5);
    assert_eq!(rows(&bytes.rows_range(1..3)), [2.0, 2.5, 3.0, 3.5]);
    assert_eq!(rows(&bytes.head(1)), [1.0, 1.5]);
    assert_eq!(bytes.rows_range(3..3).rows(), 0);
}
