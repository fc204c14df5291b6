//! `extract`: the title, body, section count and word count of a markdown-ish document.
//!
//! Step 1 of the `report` workflow (`sample-extensions/workflows/report.toml`): its `body` is what
//! `summarize` summarises, its `title` heads the report `format-report` writes. The data
//! contracts are `schemas/input.json` and `schemas/output.json`; checking payloads against them
//! is the host's job, this file only keeps to them.
//!
//! Input JSON `{"document": "..."}`; output JSON
//! `{"title": "...", "body": "...", "sections": N, "words": N}`:
//! - `title`: the text of the first `# ` heading; without one, the first non-empty line (heading
//!   markers stripped), which then is not part of the body;
//! - `body`: every other line that is not a heading (a line starting with `#`, indentation
//!   aside), trimmed, blank
//!   lines dropped, paragraphs and their lines joined by single spaces;
//! - `sections`: the number of heading lines;
//! - `words`: whitespace-separated words of `body`.
//!
//! A document with no text at all (empty, blank or bare `#` markers) is invalid input: it has no
//! title to give. Logs one info line with the section and word counts.

use serde::{Deserialize, Serialize};
use symphony_guest_sdk::host::log;
use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// Marker of a top-level heading, the title's first choice.
const TITLE_MARKER: &str = "# ";

/// The extract extension.
struct Extract;

/// The expected input.
#[derive(Deserialize)]
struct Input<'a> {
    #[serde(borrow)]
    document: std::borrow::Cow<'a, str>,
}

/// What is returned.
#[derive(Debug, PartialEq, Eq, Serialize)]
struct Extracted<'a> {
    title: &'a str,
    body: String,
    sections: usize,
    words: usize,
}

/// Whether `line` is a heading: it starts with `#` (after any indentation).
fn is_heading(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// The text of a line with its heading markers, if any, and surrounding whitespace removed.
fn line_text(line: &str) -> &str {
    line.trim().trim_start_matches('#').trim()
}

/// Split `document` into title, body and counts; `None` when no line carries any text.
fn extract(document: &str) -> Option<Extracted<'_>> {
    let lines: Vec<&str> = document.lines().collect();
    let heading_title = lines.iter().find_map(|line| {
        line.trim_start().strip_prefix(TITLE_MARKER).map(str::trim).filter(|text| !text.is_empty())
    });
    // Without a `# ` heading the first line with text is the title, and leaves the body.
    let (title, title_line) = match heading_title {
        Some(title) => (title, None),
        None => {
            let (at, line) = lines.iter().enumerate().find(|(_, line)| !line_text(line).is_empty())?;
            (line_text(line), Some(at))
        }
    };
    let body = lines
        .iter()
        .enumerate()
        .filter(|&(at, line)| Some(at) != title_line && !is_heading(line))
        .map(|(_, line)| line.trim())
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Some(Extracted {
        title,
        words: body.split_whitespace().count(),
        body,
        sections: lines.iter().filter(|line| is_heading(line)).count(),
    })
}

impl Extension for Extract {
    fn features() -> Vec<String> {
        vec!["extract".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        let input: Input<'_> = request.input.parse_json()?;
        let extracted = extract(&input.document)
            .ok_or_else(|| ExtensionError::invalid_input("`document` has no text to take a title from"))?;
        log::info("extracted", &[("sections", &extracted.sections), ("words", &extracted.words)]);
        Response::json(&extracted)
    }
}

register_extension!(Extract);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_the_first_top_level_heading_and_headings_leave_the_body() {
        let document = "Preamble line.\n\n# Release notes\n\nThe sandbox caps memory.\nGuests restart.\n\n\
                        ## Details\n\n  Fuel is counted.  \n";
        assert_eq!(
            extract(document),
            Some(Extracted {
                title: "Release notes",
                body: "Preamble line. The sandbox caps memory. Guests restart. Fuel is counted.".into(),
                sections: 2,
                words: 11,
            })
        );
    }

    #[test]
    fn without_a_top_level_heading_the_first_line_with_text_is_the_title() {
        let document = "\n  ## Minutes  \nWe met.\n\nWe agreed.";
        assert_eq!(
            extract(document),
            Some(Extracted { title: "Minutes", body: "We met. We agreed.".into(), sections: 1, words: 4 })
        );
        let plain = "Shopping list\neggs\nmilk";
        assert_eq!(
            extract(plain),
            Some(Extracted { title: "Shopping list", body: "eggs milk".into(), sections: 0, words: 2 })
        );
    }

    #[test]
    fn an_empty_top_level_heading_is_not_a_title() {
        let document = "# \n# Real title\nText.";
        assert_eq!(extract(document).map(|e| e.title), Some("Real title"));
    }

    #[test]
    fn a_title_only_document_has_an_empty_body() {
        assert_eq!(
            extract("# Memo"),
            Some(Extracted { title: "Memo", body: String::new(), sections: 1, words: 0 })
        );
    }

    #[test]
    fn a_document_without_text_has_no_title() {
        for document in ["", "   \n\n\t", "#\n##  \n"] {
            assert_eq!(extract(document), None, "{document:?}");
        }
    }
}
