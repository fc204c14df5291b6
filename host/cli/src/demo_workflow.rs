//! The workflow part of `symphony demo`: the sample `report` pipeline (extract → summarize →
//! format-report), first checked statically (its schemas predict a possible break), then run
//! on an ordinary document, then on an edge case where summarize 2.0.0 answers
//! `"keywords": null`, which format-report's input schema refuses: the break is caught between
//! the two steps, counted against the producer, and summarize 1.0.0 serves instead. Returns
//! how many scenarios did not behave as shown.

use serde_json::json;

use symphony_host::Platform;
use symphony_host::workflow::{RunControl, RunOptions, RunStatus};
use symphony_types::payload::Payload;

use super::workflow::print_result;

/// The sample workflow the demo runs.
const WORKFLOW: &str = "report";

pub(crate) async fn run(platform: &Platform) -> usize {
    println!();
    println!(
        "workflow `{WORKFLOW}`: extract → summarize → format-report, data contracts checked between steps"
    );
    let definition = match platform.find_workflow(WORKFLOW) {
        Ok(definition) => definition,
        Err(e) => {
            println!("  cannot load it: {e}");
            return 1;
        }
    };
    for finding in &platform.check_workflow(&definition).findings {
        println!("  check: {finding}");
    }
    let prepared = match platform.prepare_workflow(definition) {
        Ok(prepared) => prepared,
        Err(e) => {
            println!("  cannot prepare it: {e}");
            return 1;
        }
    };
    let documents = [
        (
            "an ordinary document",
            json!({"document": "# Release notes\n\nThe sandbox now caps memory for every call.\nGuests keep running when the host restarts."}),
            false,
        ),
        (
            "an edge case: no keywords in the text",
            json!({"document": "# Memo\nIt is on. We go at six."}),
            true,
        ),
    ];
    let mut unexpected = 0;
    for (what, input, breaks) in documents {
        println!();
        println!("{what}:");
        let Ok(input) = Payload::json(&input) else {
            unexpected += 1;
            continue;
        };
        let control = RunControl::new(&prepared);
        let result = platform.run_workflow(&prepared, input, &control, RunOptions::default()).await;
        print_result(&result);
        let summarize = result.step("summarize");
        let broke_and_recovered = summarize.is_some_and(|s| {
            s.fallback && s.attempts.first().and_then(|a| a.error_kind) == Some("contract_violation")
        });
        if result.status != RunStatus::Succeeded || broke_and_recovered != breaks {
            unexpected += 1;
        } else if breaks {
            println!(
                "summarize 2.0.0's output broke format-report's input contract; the consumer never saw it and \
                 summarize 1.0.0 served instead."
            );
        }
    }
    unexpected
}
