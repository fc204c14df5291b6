//! [`CallError`]: why a call under the [`TestHost`](super::TestHost) failed, with the guest's
//! error in the SDK's own [`ExtensionError`] — the very type `invoke` returned — so a test
//! matches `Err(CallError::Guest(ExtensionError::InvalidInput(_)))` exactly as the author wrote it.
//!
//! The host's errors ([`HostError`], [`ConductorError`]) are passed through unchanged; turning the
//! host's view of a guest error back into the SDK's is this file's only job.

use symphony_host::{ConductorError, ErrorClass, HostError};

use crate::ExtensionError;

/// Why one call failed: the guest's typed error, or the sandbox's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The guest returned this error from `invoke` (or `health`).
    #[error(transparent)]
    Guest(ExtensionError),
    /// The sandbox stopped or refused the call (a limit, a trap, a bad component).
    #[error(transparent)]
    Host(HostError),
    /// The conductor refused or gave up (only when a test drives calls through one).
    #[error(transparent)]
    Conductor(ConductorError),
}

impl CallError {
    /// The stable snake_case kind the host reports (`invalid_input`, `out_of_fuel`, …), the same
    /// string `symphony run --json` prints as `error.kind`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Guest(e) => guest_kind(e),
            Self::Host(e) => e.kind(),
            Self::Conductor(e) => e.kind(),
        }
    }

    /// Whether the host would retry the call: the same taxonomy it applies in production.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Guest(ExtensionError::InvalidInput(_)) => ErrorClass::Fatal,
            Self::Guest(e) if e.is_transient() => ErrorClass::Transient,
            Self::Guest(_) => ErrorClass::Recoverable,
            Self::Host(e) => e.class(),
            Self::Conductor(e) => e.class(),
        }
    }
}

impl From<symphony_host::CallError> for CallError {
    fn from(error: symphony_host::CallError) -> Self {
        match error {
            symphony_host::CallError::Guest(e) => Self::Guest(e.into()),
            symphony_host::CallError::Host(e) => Self::Host(e),
            symphony_host::CallError::Conductor(e) => Self::Conductor(e),
        }
    }
}

impl From<symphony_host::ExtensionError> for ExtensionError {
    fn from(error: symphony_host::ExtensionError) -> Self {
        use symphony_host::ExtensionError as Host;
        match error {
            Host::InvalidInput { message } => Self::InvalidInput(message),
            Host::Unavailable { message, retry_after_ms } => Self::Unavailable { message, retry_after_ms },
            Host::RateLimited { message, retry_after_ms } => Self::RateLimited { message, retry_after_ms },
            Host::ResourceExhausted { message } => Self::ResourceExhausted(message),
            Host::UnableToComplete { message } => Self::UnableToComplete(message),
            Host::Internal { message } => Self::Internal(message),
        }
    }
}

/// The WIT case name of a guest error, as the host reports it.
fn guest_kind(error: &ExtensionError) -> &'static str {
    match error {
        ExtensionError::InvalidInput(_) => "invalid_input",
        ExtensionError::Unavailable { .. } => "unavailable",
        ExtensionError::RateLimited { .. } => "rate_limited",
        ExtensionError::ResourceExhausted(_) => "resource_exhausted",
        ExtensionError::UnableToComplete(_) => "unable_to_complete",
        ExtensionError::Internal(_) => "internal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every host-side guest error, with the SDK error it must come back as.
    fn pairs() -> Vec<(symphony_host::ExtensionError, ExtensionError)> {
        use symphony_host::ExtensionError as Host;
        vec![
            (Host::InvalidInput { message: "m".into() }, ExtensionError::invalid_input("m")),
            (
                Host::Unavailable { message: "m".into(), retry_after_ms: Some(5) },
                ExtensionError::unavailable("m", Some(5)),
            ),
            (
                Host::RateLimited { message: "m".into(), retry_after_ms: 7 },
                ExtensionError::rate_limited("m", 7),
            ),
            (Host::ResourceExhausted { message: "m".into() }, ExtensionError::resource_exhausted("m")),
            (Host::UnableToComplete { message: "m".into() }, ExtensionError::unable_to_complete("m")),
            (Host::Internal { message: "m".into() }, ExtensionError::internal("m")),
        ]
    }

    #[test]
    fn guest_errors_come_back_as_the_sdk_variant_the_guest_returned() {
        for (host, sdk) in pairs() {
            let converted = CallError::from(symphony_host::CallError::Guest(host));
            assert!(matches!(&converted, CallError::Guest(e) if *e == sdk), "{converted:?}");
        }
    }

    #[test]
    fn kind_and_class_agree_with_the_hosts_for_every_guest_error() {
        for (host, _) in pairs() {
            let (kind, class) = (host.kind(), host.class());
            let converted = CallError::from(symphony_host::CallError::Guest(host));
            assert_eq!((converted.kind(), converted.class()), (kind, class));
        }
    }

    #[test]
    fn host_errors_pass_through_unchanged() {
        let converted =
            CallError::from(symphony_host::CallError::Host(HostError::OutOfFuel { limit_fuel: 9 }));
        assert!(matches!(converted, CallError::Host(HostError::OutOfFuel { limit_fuel: 9 })));
        assert_eq!(converted.kind(), "out_of_fuel");
    }
}
