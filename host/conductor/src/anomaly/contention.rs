//! Host contention: a finding about time alone is compared with the other extensions called
//! recently. When they slowed down by a comparable factor, it is the host's load (one tenant's
//! burst, a busy machine), not this extension's doing, and nothing is raised against it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::history::ExtensionHistory;
use super::policy::Thresholds;
use super::robust::median;
use super::sample::Metric;

/// How recently another extension must have been called to count as a peer when a time
/// finding is checked for host contention, in milliseconds: calls older than this say nothing
/// about the host's load now.
pub const CONTENTION_PEER_WINDOW_MS: u64 = 30_000;

/// A time finding is the host's contention when the active peers' median shift is at least
/// this share of the extension's own shift (and itself a shift, at least the policy's
/// `shift_min_ratio`): everyone slowed down together, so it is not this extension's doing.
pub const CONTENTION_SHARE: f64 = 0.5;

/// Why a time finding was not raised.
pub(super) struct Contention {
    /// This extension's recent median over its baseline, when it has a baseline.
    pub extension_shift: Option<f64>,
    /// The median of that ratio over the active peers.
    pub host_shift: f64,
    /// Active peers compared with.
    pub peers: usize,
}

/// Whether a time finding on `extension` is the host's contention: the other extensions
/// called within [`CONTENTION_PEER_WINDOW_MS`] moved by a comparable factor.
pub(super) fn host_contention(
    histories: &BTreeMap<String, ExtensionHistory>,
    extension: &str,
    metric: Metric,
    now: Duration,
    thresholds: &Thresholds,
) -> Option<Contention> {
    let window = Duration::from_millis(CONTENTION_PEER_WINDOW_MS);
    let mut shifts: Vec<f64> = histories
        .iter()
        .filter(|(id, h)| {
            id.as_str() != extension && h.last_seen.is_some_and(|seen| now.saturating_sub(seen) <= window)
        })
        .filter_map(|(_, h)| h.shift_ratio(metric, thresholds.recent_calls))
        .collect();
    let peers = shifts.len();
    let host_shift = median(&mut shifts)?;
    let extension_shift =
        histories.get(extension).and_then(|h| h.shift_ratio(metric, thresholds.recent_calls));
    let own = extension_shift.unwrap_or(thresholds.shift_min_ratio);
    (host_shift >= thresholds.shift_min_ratio && host_shift >= own * CONTENTION_SHARE).then_some(Contention {
        extension_shift,
        host_shift,
        peers,
    })
}
