//! `batch`: the well-behaved long step. It processes `items` items, one every `item_ms`
//! milliseconds (waiting on the WASI monotonic clock, so it burns no fuel while it waits),
//! reports `progress(done / items, "item N of M")` after each, and checks `cancelled()` before
//! the next: a cancelled call stops within one item and says how far it got.
//!
//! Input JSON `{"items": N, "item_ms": M}` (defaults `DEFAULT_ITEMS`, `DEFAULT_ITEM_MS`; at most
//! `MAX_ITEMS` items); output `{"done": N, "items": M, "cancelled": bool}`. Waiting needs the
//! `clocks` capability, which the manifest declares and a platform policy must grant.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use symphony_guest_sdk::host;
use symphony_guest_sdk::{Extension, ExtensionError, Request, Response, register_extension};

/// Items processed when the input names no count.
const DEFAULT_ITEMS: u32 = 10;
/// Milliseconds per item when the input names none.
const DEFAULT_ITEM_MS: u64 = 50;
/// Most items one call takes.
const MAX_ITEMS: u32 = 10_000;

/// The batch extension.
struct Batch;

/// The expected input.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Input {
    items: u32,
    item_ms: u64,
}

impl Default for Input {
    fn default() -> Self {
        Self { items: DEFAULT_ITEMS, item_ms: DEFAULT_ITEM_MS }
    }
}

/// How far the call got.
#[derive(Debug, PartialEq, Eq, Serialize)]
struct Output {
    done: u32,
    items: u32,
    cancelled: bool,
}

/// Run `items` items, calling `work` for each and `stop` before each; `report` after each.
fn process(items: u32, mut work: impl FnMut(), stop: impl Fn() -> bool, report: impl Fn(u32)) -> Output {
    for done in 0..items {
        if stop() {
            return Output { done, items, cancelled: true };
        }
        work();
        report(done + 1);
    }
    Output { done: items, items, cancelled: false }
}

impl Extension for Batch {
    fn features() -> Vec<String> {
        vec!["batch".into()]
    }

    fn invoke(request: Request) -> Result<Response, ExtensionError> {
        let Input { items, item_ms } =
            if request.input.bytes.is_empty() { Input::default() } else { request.input.parse_json()? };
        if items > MAX_ITEMS {
            return Err(ExtensionError::invalid_input(format!("at most {MAX_ITEMS} items per call")));
        }
        let output = process(
            items,
            || std::thread::sleep(Duration::from_millis(item_ms)),
            host::cancelled,
            |done| host::progress(done as f32 / items.max(1) as f32, &format!("item {done} of {items}")),
        );
        Response::json(&output)
    }
}

register_extension!(Batch);

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn every_item_is_processed_and_reported_in_order() {
        let reported = std::cell::RefCell::new(Vec::new());
        let output = process(3, || {}, || false, |done| reported.borrow_mut().push(done));
        assert_eq!(output, Output { done: 3, items: 3, cancelled: false });
        assert_eq!(*reported.borrow(), [1, 2, 3]);
    }

    #[test]
    fn a_cancel_stops_before_the_next_item() {
        let worked = Cell::new(0);
        let output = process(5, || worked.set(worked.get() + 1), || worked.get() == 2, |_| {});
        assert_eq!(output, Output { done: 2, items: 5, cancelled: true });
    }
}
