//! Who answered a conducted call, in words for people: the extension asked, a fallback
//! extension, a degraded answer (static or last good) given in its place, or nobody. The JSON
//! forms keep the raw `served_by` / `fallback` / `degraded` fields; this is only their reading.

use symphony_conductor::ConductedOutcome;

/// Where a degraded answer came from, when the caller knows (the route's chain says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DegradedSource {
    /// The route's static answer.
    Static,
    /// Not known from the outcome alone: a static or a last-good answer.
    StaticOrLastGood,
}

/// Who served `outcome`, e.g. `summarize@1.0.0 (fallback)` or
/// `static answer (instead of flaky@1.0.0)`.
pub(crate) fn served_by(outcome: &ConductedOutcome, degraded: DegradedSource) -> String {
    let id = &outcome.served_by;
    if outcome.result.is_err() {
        // `served_by` is then only the last extension asked; it answered nothing.
        return format!("nobody (last asked: {id})");
    }
    if outcome.degraded {
        let what = match degraded {
            DegradedSource::Static => "static answer",
            DegradedSource::StaticOrLastGood => "static or last-good answer",
        };
        return format!("{what} (instead of {id})");
    }
    if outcome.fallback { format!("{id} (fallback)") } else { id.clone() }
}

#[cfg(test)]
mod tests {
    use symphony_conductor::ConductedOutcome;
    use symphony_types::error::{CallError, HostError};
    use symphony_types::payload::Payload;
    use symphony_types::usage::Usage;

    use super::{DegradedSource, served_by};

    fn outcome(ok: bool, fallback: bool, degraded: bool) -> ConductedOutcome {
        ConductedOutcome {
            result: if ok {
                Ok(Payload::new("text/plain", b"x".to_vec()))
            } else {
                Err(CallError::Host(HostError::PoolExhausted))
            },
            json: None,
            served_by: "flaky@1.0.0".to_owned(),
            attempts: Vec::new(),
            fallback,
            degraded,
            usage: Usage::default(),
            last_attempt_error: None,
            log: None,
        }
    }

    #[test]
    fn each_kind_of_answer_names_who_gave_it() {
        let any = DegradedSource::StaticOrLastGood;
        assert_eq!(served_by(&outcome(true, false, false), any), "flaky@1.0.0");
        assert_eq!(served_by(&outcome(true, true, false), any), "flaky@1.0.0 (fallback)");
        assert_eq!(
            served_by(&outcome(true, true, true), DegradedSource::Static),
            "static answer (instead of flaky@1.0.0)"
        );
        assert_eq!(
            served_by(&outcome(true, true, true), any),
            "static or last-good answer (instead of flaky@1.0.0)"
        );
        assert_eq!(served_by(&outcome(false, false, false), any), "nobody (last asked: flaky@1.0.0)");
    }
}
