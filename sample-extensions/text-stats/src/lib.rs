//! `text-stats`: counts the words, lines, characters and bytes of a text.
//!
//! Input JSON `{"text": "..."}`; output JSON `{"words":N,"lines":N,"chars":N,"bytes":N}`, where
//! `chars` counts Unicode scalar values. Logs one info line carrying the counts as fields.

use serde::{Deserialize, Serialize};
use symphony_guest_sdk::host::log;
use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// The text-stats extension.
struct TextStats;

/// The expected input.
#[derive(Deserialize)]
struct Input<'a> {
    #[serde(borrow)]
    text: std::borrow::Cow<'a, str>,
}

/// The counts returned.
#[derive(Debug, PartialEq, Eq, Serialize)]
struct Stats {
    words: usize,
    lines: usize,
    chars: usize,
    bytes: usize,
}

impl Stats {
    fn of(text: &str) -> Self {
        Self {
            words: text.split_whitespace().count(),
            lines: text.lines().count(),
            chars: text.chars().count(),
            bytes: text.len(),
        }
    }
}

impl Extension for TextStats {
    fn features() -> Vec<String> {
        vec!["text-stats".into(), "word-count".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        let input: Input<'_> = request.input.parse_json()?;
        let stats = Stats::of(&input.text);
        log::info(
            "counted text",
            &[
                ("words", &stats.words),
                ("lines", &stats.lines),
                ("chars", &stats.chars),
                ("bytes", &stats.bytes),
            ],
        );
        Response::json(&stats)
    }
}

register_extension!(TextStats);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_unicode_scalars_not_bytes() {
        let stats = Stats::of("héllo wörld\nsecond line\n");
        assert_eq!(stats, Stats { words: 4, lines: 2, chars: 24, bytes: 26 });
    }

    #[test]
    fn empty_text_counts_nothing() {
        assert_eq!(Stats::of(""), Stats { words: 0, lines: 0, chars: 0, bytes: 0 });
    }
}
