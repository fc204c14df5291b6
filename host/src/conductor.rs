//! The conductor: what happens after the guest handled what it could and the sandbox enforced
//! its limits. Small composable layers over one [`Invoke`] trait — retry of transient errors
//! within a budget, a circuit breaker per `extension@version` shared by every caller — each its
//! own type with its own tests driven by a controllable [`Clock`], never by sleeps.
//!
//! Nothing here names a wasmtime type: the sandbox is reached through [`Invoke`], implemented for
//! [`LoadedExtension`](crate::LoadedExtension) in [`invoke`] and by fakes in tests.

pub mod breaker;
pub mod clock;
pub mod health;
pub mod invoke;
pub mod retry;

pub use clock::{Clock, ManualClock, SystemClock};
pub use invoke::{Attempt, Invoke, InvokeOutcome};
