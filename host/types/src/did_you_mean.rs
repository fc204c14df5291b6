//! "Did you mean": the known name closest to a misspelled one, by the Jaro–Winkler similarity
//! clap uses for misspelled subcommands. Used for extensions, workflows and workflow steps.

/// How similar (0..=1) a known name must be to count as a likely typo of what was asked.
pub const SUGGESTION_MIN_SIMILARITY: f64 = 0.8;

/// The name of `known` most like `wanted`, if any is like it enough to be a likely typo.
#[must_use]
pub fn closest_name<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    known
        .into_iter()
        .map(|name| (strsim::jaro_winkler(wanted, name), name))
        .filter(|(similarity, _)| *similarity >= SUGGESTION_MIN_SIMILARITY)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_its_name_and_a_stranger_finds_none() {
        assert_eq!(closest_name("ecoh", ["echo", "miner"]), Some("echo".to_owned()));
        assert_eq!(closest_name("zzz", ["echo", "miner"]), None);
    }
}
