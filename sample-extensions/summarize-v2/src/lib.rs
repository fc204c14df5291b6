//! `summarize` 2.0.0: the summary and word count of release 1, plus keywords.
//!
//! Built against API 1.1.0 (the SDK's default), so it also exports `health`. It carries a
//! deliberate regression for the fallback demonstrations: texts longer than
//! `MAX_TEXT_CHARS` characters, which release 1 summarises, fail with
//! `ExtensionError::UnableToComplete` (recoverable: another version may serve them). Its `health`
//! owns up to that by answering `Degraded`.
//!
//! Input JSON `{"text": "..."}`; output JSON
//! `{"summary": "<first sentence>", "words": N, "keywords": ["...", ...] or null}`. Logs one
//! info line with the word count and `release = 2`.
//!
//! A second deliberate edge case, for the workflow demo (`sample-extensions/workflows/report.toml`):
//! when the text has no keyword, `keywords` is `null`, not `[]`. Its own output schema
//! (`schemas/output.json`) allows that; the input schema of the next step, `format-report`, does
//! not (`keywords` may be absent, but is an array when present). Each step keeps its own
//! contract, yet the two do not fit, so a workflow catches the break between the steps and routes
//! the call to `summarize` 1.0.0, which sends no `keywords` at all.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use symphony_guest_sdk::host::log;
use symphony_guest_sdk::{Extension, ExtensionError, HealthStatus, Request, Response, register_extension};

/// Longest text release 2 handles, in characters (Unicode scalar values).
const MAX_TEXT_CHARS: usize = 200;
/// Keywords returned, at most.
const MAX_KEYWORDS: usize = 3;
/// Shortest word considered a keyword, in characters.
const MIN_KEYWORD_CHARS: usize = 4;
/// Common words never reported as keywords.
const STOP_WORDS: [&str; 12] =
    ["that", "this", "with", "from", "have", "were", "they", "their", "there", "what", "when", "which"];

/// The summarize extension, release 2.
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
    /// `None` is serialised as `null`, deliberately not skipped (see the module header).
    keywords: Option<Vec<String>>,
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

/// The most frequent words of at least [`MIN_KEYWORD_CHARS`] characters that are not stop words,
/// lowercased; ties go to the word seen first. `None` when there is no such word.
fn keywords(text: &str) -> Option<Vec<String>> {
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    let words =
        text.split_whitespace().map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase());
    for (position, word) in words.enumerate() {
        if word.chars().count() < MIN_KEYWORD_CHARS || STOP_WORDS.contains(&word.as_str()) {
            continue;
        }
        counts.entry(word).or_insert((0, position)).0 += 1;
    }
    let mut ranked: Vec<(String, (usize, usize))> = counts.into_iter().collect();
    ranked.sort_by(|(_, (a_count, a_first)), (_, (b_count, b_first))| {
        b_count.cmp(a_count).then(a_first.cmp(b_first))
    });
    let found: Vec<String> = ranked.into_iter().take(MAX_KEYWORDS).map(|(word, _)| word).collect();
    (!found.is_empty()).then_some(found)
}

impl Extension for Summarize {
    fn features() -> Vec<String> {
        vec!["summarize".into(), "summarize-keywords".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        let input: Input<'_> = request.input.parse_json()?;
        if input.text.chars().count() > MAX_TEXT_CHARS {
            return Err(ExtensionError::unable_to_complete("v2 regression: long texts unsupported"));
        }
        let summary = Summary {
            summary: first_sentence(&input.text),
            words: input.text.split_whitespace().count(),
            keywords: keywords(&input.text),
        };
        log::info("summarized", &[("words", &summary.words), ("release", &2)]);
        Response::json(&summary)
    }

    fn health() -> HealthStatus {
        HealthStatus::degraded(format!("v2 regression: texts over {MAX_TEXT_CHARS} characters are refused"))
    }
}

register_extension!(Summarize, name = "summarize");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_rank_by_frequency_then_first_appearance() {
        let text = "Rust compiles. Rust runs wasm; wasm sandboxes guests, and guests trust nothing.";
        assert_eq!(keywords(text), Some(vec!["rust".into(), "wasm".into(), "guests".into()]));
    }

    #[test]
    fn keywords_skip_short_and_stop_words() {
        assert_eq!(keywords("this is that and the cat"), None);
    }

    #[test]
    fn no_keywords_are_sent_as_null_not_left_out() {
        let summary =
            Summary { summary: "It is on.", words: 7, keywords: keywords("It is on. We go at six.") };
        let json = symphony_guest_sdk::Payload::json(&summary).map(|p| p.bytes);
        assert_eq!(json.as_deref(), Ok(&br#"{"summary":"It is on.","words":7,"keywords":null}"#[..]));
    }

    #[test]
    fn first_sentence_matches_release_one() {
        assert_eq!(first_sentence("  Hi there. Second one! "), "Hi there.");
    }
}
