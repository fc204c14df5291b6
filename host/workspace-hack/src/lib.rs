//! Nothing to use: this crate exists for its `Cargo.toml`, which asks for the features every
//! shared dependency is built with, so `cargo run -p symphony-cli` and `cargo test` compile each
//! dependency (wasmtime above all) once. See that file's header.
