//! `format-report`: a small markdown report from a title and a `summarize` output.
//!
//! Step 3 of the `report` workflow (`sample-extensions/workflows/report.toml`), fed by `extract`
//! (the title) and `summarize` (the summary). The data contracts are `schemas/input.json` and
//! `schemas/output.json`, and checking payloads against them is the host's job. The input schema
//! is the consumer side of the workflow demo's edge case: `keywords` may be left out but, when
//! present, must be an array, while `summarize` 2.0.0 sends `null` when it finds none. The guest
//! itself is lenient (a `null` reads as no keywords); the schema is what a workflow enforces.
//!
//! Input JSON `{"title": "...", "summary": {"summary": "...", "words": N, "keywords": [...]}}`;
//! output JSON `{"report": "...", "lines": N}`, where the report is
//!
//! ```text
//! # {title}
//!
//! {summary}
//!
//! Words: {words}
//! Keywords: a, b, c        (only when there are keywords)
//! ```
//!
//! with a final newline, and `lines` counts its lines. Logs one info line with that count.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use symphony_guest_sdk::host::log;
use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// The format-report extension.
struct FormatReport;

/// The expected input.
#[derive(Deserialize)]
struct Input<'a> {
    #[serde(borrow)]
    title: Cow<'a, str>,
    #[serde(borrow)]
    summary: Summary<'a>,
}

/// A `summarize` output (either release).
#[derive(Deserialize)]
struct Summary<'a> {
    #[serde(borrow)]
    summary: Cow<'a, str>,
    words: u64,
    /// Absent (release 1), `null` (release 2 finding none) or a list.
    #[serde(default)]
    keywords: Option<Vec<String>>,
}

/// What is returned.
#[derive(Debug, PartialEq, Eq, Serialize)]
struct Report {
    report: String,
    lines: usize,
}

impl Report {
    fn of(input: &Input<'_>) -> Self {
        let summary = &input.summary;
        let mut report = format!("# {}\n\n{}\n\nWords: {}\n", input.title, summary.summary, summary.words);
        if let Some(keywords) = summary.keywords.as_deref().filter(|k| !k.is_empty()) {
            report.push_str(&format!("Keywords: {}\n", keywords.join(", ")));
        }
        Self { lines: report.lines().count(), report }
    }
}

impl Extension for FormatReport {
    fn features() -> Vec<String> {
        vec!["format-report".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        let input: Input<'_> = request.input.parse_json()?;
        let report = Report::of(&input);
        log::info("formatted report", &[("lines", &report.lines)]);
        Response::json(&report)
    }
}

register_extension!(FormatReport);

#[cfg(test)]
mod tests {
    use symphony_guest_sdk::Payload;

    use super::*;

    /// The report for `json`, parsed as the guest parses its input.
    fn report(json: &str) -> Result<Report, ExtensionError> {
        let payload = Payload::new(Payload::JSON, json.as_bytes());
        let input: Input<'_> = payload.parse_json()?;
        Ok(Report::of(&input))
    }

    #[test]
    fn keywords_get_their_own_line() {
        let json = r#"{"title": "Notes", "summary": {"summary": "It works.", "words": 7, "keywords": ["rust", "wasm"]}}"#;
        assert_eq!(
            report(json),
            Ok(Report {
                report: "# Notes\n\nIt works.\n\nWords: 7\nKeywords: rust, wasm\n".into(),
                lines: 6
            })
        );
    }

    #[test]
    fn absent_empty_or_null_keywords_leave_the_line_out() {
        let expected = Report { report: "# Memo\n\nIt is on.\n\nWords: 7\n".into(), lines: 5 };
        for keywords in ["", r#", "keywords": []"#, r#", "keywords": null"#] {
            let json = format!(
                r#"{{"title": "Memo", "summary": {{"summary": "It is on.", "words": 7{keywords}}}}}"#
            );
            assert_eq!(report(&json).as_ref(), Ok(&expected), "{json}");
        }
    }

    #[test]
    fn malformed_input_is_invalid_input() {
        for json in [
            r#"{"title": "T"}"#,
            r#"{"title": "T", "summary": {"summary": "S", "words": -1}}"#,
            r#"{"title": "T", "summary": {"summary": "S", "words": 1, "keywords": "rust"}}"#,
            "not json",
        ] {
            assert!(matches!(report(json), Err(ExtensionError::InvalidInput(_))), "{json}");
        }
    }
}
