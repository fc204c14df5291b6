//! [`Response`]: what a successful call returns to the host.

use serde::Serialize;

use crate::{ExtensionError, Payload};

/// The output of a successful invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The output payload, checked by the host against its output size limit (bytes).
    pub output: Payload,
}

impl Response {
    /// A response carrying `output`.
    pub fn new(output: Payload) -> Self {
        Self { output }
    }

    /// A response carrying `value` encoded as JSON (see [`Payload::json`]).
    ///
    /// # Errors
    /// [`ExtensionError::Internal`] if `value` cannot be encoded as JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, ExtensionError> {
        Payload::json(value).map(Self::new)
    }
}

impl From<Payload> for Response {
    fn from(output: Payload) -> Self {
        Self::new(output)
    }
}
