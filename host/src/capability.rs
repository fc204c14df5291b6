//! The wiring of capability decisions into a call: the WASI context built from a grant, the
//! HTTP and socket checks, captured stdio, and the imports a component asks for. What may be
//! granted, and the intersection of manifest and policy, are plain data in
//! `symphony_types::capability`.

pub(crate) mod http;
pub(crate) mod observed_imports;
pub mod output_capture;
pub mod wasi;
