//! `hello`: greets someone by name — the starting point `symphony new` writes; replace the
//! greeting with your extension's work.
//!
//! Input JSON `{"name": "Ada"}`; output JSON `{"greeting": "Hello, Ada!"}`. Input that is not
//! that shape, or an empty `name`, is refused as `ExtensionError::InvalidInput`, which the host
//! reports as `invalid_input` and never retries.

use serde::{Deserialize, Serialize};
use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// The extension: the type `register_extension!` exports.
struct HelloExtension;

/// What a caller sends.
#[derive(Debug, Deserialize)]
struct Input {
    /// Who to greet.
    name: String,
}

/// What the extension answers.
#[derive(Debug, PartialEq, Eq, Serialize)]
struct Output {
    /// The greeting.
    greeting: String,
}

/// The work itself, free of the host, so unit tests call it directly.
fn greet(input: &Input) -> Result<Output, ExtensionError> {
    let name = input.name.trim();
    if name.is_empty() {
        return Err(ExtensionError::invalid_input("`name` must not be empty"));
    }
    Ok(Output { greeting: format!("Hello, {name}!") })
}

impl Extension for HelloExtension {
    fn features() -> Vec<String> {
        vec!["hello".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        // Not JSON, a missing field or a wrong type: `InvalidInput` carrying serde's message.
        let input: Input = request.input.parse_json()?;
        Response::json(&greet(&input)?)
    }
}

register_extension!(HelloExtension);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_by_the_trimmed_name() {
        let output = greet(&Input { name: " Ada ".into() });
        assert_eq!(output, Ok(Output { greeting: "Hello, Ada!".into() }));
    }

    #[test]
    fn an_empty_name_is_invalid_input() {
        let output = greet(&Input { name: "  ".into() });
        assert!(matches!(output, Err(ExtensionError::InvalidInput(_))), "{output:?}");
    }
}
