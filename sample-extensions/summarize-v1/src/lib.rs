//! `summarize` 1.0.0: the first sentence and the word count of a text.
//!
//! Built against API 1.0.0 (the SDK's `api-1-0` feature): the older release of a versioned
//! extension, kept beside `summarize` 2.0.0 (`summarize-v2`) so the host runs both side by side.
//!
//! Input JSON `{"text": "..."}`; output JSON `{"summary": "<first sentence>", "words": N}`. Logs one
//! info line with the word count and `release = 1`.

use serde::{Deserialize, Serialize};
use symphony_guest_sdk::host::log;
use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// The summarize extension, release 1.
struct Summarize;

/// The expected input.
#[derive(Deserialize)]
struct Input<'a> {
    #[serde(borrow)]
    text: std::borrow::Cow<'a, str>,
}

/// What is returned.
#[derive(Debug, PartialEq, Eq, Serialize)]
struct Summary<'a> {
    summary: &'a str,
    words: usize,
}

/// The text up to and including the first `.`, `!` or `?` that ends a word; all of it when none
/// does. Surrounding whitespace is trimmed.
fn first_sentence(text: &str) -> &str {
    let text = text.trim();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let ends_word = chars.peek().is_none_or(|(_, next)| next.is_whitespace());
        if matches!(c, '.' | '!' | '?') && ends_word {
            return &text[..at + c.len_utf8()];
        }
    }
    text
}

impl Extension for Summarize {
    fn features() -> Vec<String> {
        vec!["summarize".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        let input: Input<'_> = request.input.parse_json()?;
        let summary =
            Summary { summary: first_sentence(&input.text), words: input.text.split_whitespace().count() };
        // Through `symphony:extension/host@1.0.0`, which the host serves with its 1.1.0 definition.
        log::info("summarized", &[("words", &summary.words), ("release", &1)]);
        Response::json(&summary)
    }
}

register_extension!(Summarize, name = "summarize");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sentence_stops_at_the_first_terminal_punctuation() {
        assert_eq!(first_sentence("  Hi there. Second one! "), "Hi there.");
        assert_eq!(first_sentence("Version 1.0 ships! Then more."), "Version 1.0 ships!");
        assert_eq!(first_sentence("no terminal punctuation"), "no terminal punctuation");
        assert_eq!(first_sentence(""), "");
    }
}
