//! Empty: a build script makes cargo resolve this crate's `[build-dependencies]`, which unify
//! the features of crates that proc-macros and build scripts use.

fn main() {}
