//! Robust statistics for baselines: median, median absolute deviation, exponentially weighted
//! moving average and a least-squares slope. Plain functions over `f64`, no allocation beyond
//! the scratch buffer the caller passes.

use serde::{Deserialize, Serialize};

/// Scales a median absolute deviation to a standard deviation for normally distributed data,
/// so a robust z-score reads like an ordinary one.
pub const MAD_TO_SIGMA: f64 = 1.4826;

/// Share of the baseline median that the spread is never taken to be below. A deterministic
/// guest repeats its fuel, memory and output exactly, so its MAD is 0 and any change at all
/// would be infinitely many deviations away; 5 % of the median is the measurement noise of
/// timers and allocators, so a robust z stays finite and reads as "how many noise widths".
pub const SPREAD_FLOOR_SHARE: f64 = 0.05;

/// The spread a robust z divides by: the baseline's MAD, but never below
/// [`SPREAD_FLOOR_SHARE`] of its median, nor below `resolution` (the smallest difference the
/// metric can show), nor below one unit, so the result is at least 1 and z stays finite.
#[must_use]
pub fn spread_floor(center: f64, mad: f64, resolution: f64) -> f64 {
    mad.max(center.abs() * SPREAD_FLOOR_SHARE).max(resolution).max(1.0)
}

/// Robust z-score of `value` against a baseline `(center, mad)`, with the spread floored by
/// [`spread_floor`]: always finite.
#[must_use]
pub fn robust_z(value: f64, center: f64, mad: f64, resolution: f64) -> f64 {
    (value - center) / (MAD_TO_SIGMA * spread_floor(center, mad, resolution))
}

/// Median of `values` (reordered in place; linear time). `None` when empty.
#[must_use]
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let even = values.len().is_multiple_of(2);
    let mid = values.len() / 2;
    let (lower, upper_middle, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper_middle = *upper_middle;
    if even {
        // The lower middle is the largest of the elements placed before `mid`.
        let lower_middle = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some((lower_middle + upper_middle) / 2.0)
    } else {
        Some(upper_middle)
    }
}

/// Median and median absolute deviation of `values`; `values` is overwritten (used as scratch).
/// `None` when empty.
#[must_use]
pub fn median_mad(values: &mut [f64]) -> Option<(f64, f64)> {
    let center = median(values)?;
    for v in values.iter_mut() {
        *v = (*v - center).abs();
    }
    let mad = median(values)?;
    Some((center, mad))
}

/// Least-squares slope of `values` against their index (units per step). `None` for fewer
/// than two points.
#[must_use]
pub fn slope(values: &[f64]) -> Option<f64> {
    slope_by(values.len(), |i| values[i])
}

/// Least-squares slope of `value(0)..value(n - 1)` against the index, without collecting the
/// values. `None` for fewer than two points.
#[must_use]
pub fn slope_by(n: usize, value: impl Fn(usize) -> f64) -> Option<f64> {
    if n < 2 {
        return None;
    }
    let n_f = n as f64;
    let mean_x = (n_f - 1.0) / 2.0;
    let mean_y = (0..n).map(&value).sum::<f64>() / n_f;
    let (mut num, mut den) = (0.0, 0.0);
    for i in 0..n {
        let dx = i as f64 - mean_x;
        num += dx * (value(i) - mean_y);
        den += dx * dx;
    }
    (den > 0.0).then(|| num / den)
}

/// An exponentially weighted moving average; the first value seeds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Ewma {
    value: Option<f64>,
}

impl Ewma {
    /// Fold in `sample` with weight `alpha` (0..=1; higher follows faster).
    pub fn update(&mut self, sample: f64, alpha: f64) {
        self.value = Some(match self.value {
            None => sample,
            Some(previous) => previous + alpha * (sample - previous),
        });
    }

    /// The current average, if any sample was seen.
    #[must_use]
    pub fn value(&self) -> Option<f64> {
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_mad_ignore_outliers() {
        let mut values = vec![10.0, 11.0, 9.0, 10.0, 1000.0];
        let (m, mad) = median_mad(&mut values).unwrap();
        assert_eq!(m, 10.0);
        assert_eq!(mad, 1.0);
        assert_eq!(median(&mut [1.0, 2.0, 3.0, 4.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn a_constant_baseline_gives_a_finite_z() {
        // MAD 0: the floor is 5 % of the median (here 5.0), so an outlier of 200 is ~26σ.
        let z = robust_z(200.0, 100.0, 0.0, 1.0);
        assert!(z.is_finite());
        assert!((z - 100.0 / (MAD_TO_SIGMA * 5.0)).abs() < 1e-9);
        // A zero median still has the metric's resolution under it.
        assert!(robust_z(10.0, 0.0, 0.0, 0.0).is_finite());
        assert_eq!(spread_floor(100.0, 20.0, 1.0), 20.0);
    }

    #[test]
    fn slope_of_a_line_is_its_step() {
        assert_eq!(slope(&[1.0, 3.0, 5.0, 7.0]), Some(2.0));
        assert_eq!(slope(&[4.0, 4.0, 4.0]), Some(0.0));
        assert_eq!(slope(&[1.0]), None);
    }

    #[test]
    fn ewma_moves_towards_new_samples() {
        let mut avg = Ewma::default();
        assert_eq!(avg.value(), None);
        avg.update(10.0, 0.5);
        avg.update(20.0, 0.5);
        assert_eq!(avg.value(), Some(15.0));
    }
}
