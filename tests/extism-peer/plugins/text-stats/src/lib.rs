//! Extism twin of `sample-extensions/text-stats`: counts the words, lines, characters and bytes
//! of a text.
//!
//! Input JSON `{"text": "..."}`; output JSON `{"words":N,"lines":N,"chars":N,"bytes":N}`, where
//! `chars` counts Unicode scalar values. Logs one info line carrying the counts. The parsing,
//! counting and encoding are copied from the Symphony sample (serde_json borrowing the text,
//! the same four iterator counts, `serde_json::to_vec`), so only the host interface differs.

use serde::{Deserialize, Serialize};

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

/// The functions Extism calls. `#[plugin_fn]` drops doc comments, so the export lives in a
/// private module where none is required; `no_mangle` exports it all the same.
mod exports {
    use extism_pdk::{FnResult, info, plugin_fn};

    use super::{Input, Stats};

    /// Count the input's text; invalid JSON fails the call with serde's message.
    #[plugin_fn]
    pub fn invoke(input: Vec<u8>) -> FnResult<Vec<u8>> {
        let input: Input<'_> = serde_json::from_slice(&input)?;
        let stats = Stats::of(&input.text);
        info!(
            "counted text words={} lines={} chars={} bytes={}",
            stats.words, stats.lines, stats.chars, stats.bytes
        );
        Ok(serde_json::to_vec(&stats)?)
    }
}

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
