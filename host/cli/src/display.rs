//! Human-readable numbers and counted nouns for CLI output: sizes, digit grouping, short
//! magnitudes and singular/plural. Tables are laid out by `table`.

/// `1536` → `1.5 KiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// `12345678` → `12,345,678`.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `20_000_000` → `20.0 M`, `15_281` → `15.3 K`, `999` → `999`: a magnitude at a glance.
pub(crate) fn short(n: u64) -> String {
    const UNITS: [(f64, &str); 4] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")];
    let value = n as f64;
    UNITS
        .iter()
        .find(|(scale, _)| value >= *scale)
        .map_or_else(|| n.to_string(), |(scale, unit)| format!("{:.1} {unit}", value / scale))
}

/// `n` and the noun that goes with it: `1 call`, `3 calls`, `1,000 calls`.
pub(crate) fn plural(n: impl TryInto<u64>, one: &str, many: &str) -> String {
    let n = n.try_into().unwrap_or(u64::MAX);
    let noun = if n == 1 { one } else { many };
    format!("{} {noun}", count(n))
}

#[cfg(test)]
mod tests {
    #[test]
    fn counted_nouns_agree_with_their_number() {
        assert_eq!(super::plural(0_usize, "call", "calls"), "0 calls");
        assert_eq!(super::plural(1_u64, "call", "calls"), "1 call");
        assert_eq!(super::plural(2_usize, "entry", "entries"), "2 entries");
        assert_eq!(super::plural(10_000_usize, "call", "calls"), "10,000 calls");
    }

    #[test]
    fn short_magnitudes() {
        assert_eq!(super::short(999), "999");
        assert_eq!(super::short(15_281), "15.3 K");
        assert_eq!(super::short(20_000_000), "20.0 M");
        assert_eq!(super::short(3_000_000_000), "3.0 G");
    }

    #[test]
    fn formats() {
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(12), "12 B");
        assert_eq!(super::count(12_345_678), "12,345,678");
        assert_eq!(super::count(999), "999");
    }
}
