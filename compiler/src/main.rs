//! The `nnslim` binary: hands the command line to [`nnslim::cli::main_with`].

fn main() -> std::process::ExitCode {
    nnslim::alloc::tune();
    let code = nnslim::cli::main_with(
        std::env::args_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    std::process::ExitCode::from(code)
}
