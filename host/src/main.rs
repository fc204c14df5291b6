//! The `symphony` binary: see `symphony --help`.

fn main() -> std::process::ExitCode {
    symphony_host::cli::main()
}
