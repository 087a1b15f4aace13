//! The nnslim CLI with the example plug-in's passes registered.

fn main() {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let code = nnslim::cli::main_with_registry(
        std::env::args_os(),
        &nnslim_example_plugin::registry(),
        &mut out,
        &mut err,
    );
    std::process::exit(i32::from(code));
}
