//! Summary statistics of benchmark samples, shared by `bench transfers` and `bench x402`.
//!
//! One definition for both: the nearest-rank [`percentile`] and the [`median`] (mean of the
//! two middle values for an even count). Every helper returns `None` for no samples and
//! leaves the fallback to the caller.

use std::time::Duration;

/// Sorts samples ascending, in [`f64::total_cmp`] order.
pub(crate) fn sort(v: &mut [f64]) {
    v.sort_by(f64::total_cmp);
}

/// The middle value, or the mean of the two middle values for an even count.
pub(crate) fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    sort(&mut v);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Nearest-rank percentile `p` (0..=100) of ascending samples: the value of rank
/// ⌈p/100 · len⌉, at least the first.
pub(crate) fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a rank within 0..=len; the cast saturates and is clamped below"
    )]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// A duration in milliseconds.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
    }

    #[test]
    fn sorts_ascending() {
        let mut v = vec![3.0, -1.0, 2.5, 0.0];
        sort(&mut v);
        assert_eq!(v, [-1.0, 0.0, 2.5, 3.0]);
    }

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5.0]), Some(5.0));
        assert_eq!(median(vec![2.0, 1.0]), Some(1.5));
        assert_eq!(median(vec![9.0, 1.0, 5.0]), Some(5.0));
        assert_eq!(median(vec![10.0, 1.0, 4.0, 2.0]), Some(3.0));
        assert_eq!(median(vec![5.0, 1.0, 4.0, 2.0, 3.0]), Some(3.0));
    }

    #[test]
    fn nearest_rank_percentile() {
        assert_eq!(percentile::<f64>(&[], 50.0), None);
        let odd = [10.0, 20.0, 30.0];
        assert_eq!(percentile(&odd, 0.0), Some(10.0));
        assert_eq!(percentile(&odd, 33.0), Some(10.0));
        assert_eq!(percentile(&odd, 34.0), Some(20.0));
        assert_eq!(percentile(&odd, 50.0), Some(20.0));
        assert_eq!(percentile(&odd, 99.0), Some(30.0));
        assert_eq!(percentile(&odd, 100.0), Some(30.0));
        let even = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&even, 50.0), Some(2.0));
        assert_eq!(percentile(&even, 75.0), Some(3.0));
        assert_eq!(percentile(&even, 76.0), Some(4.0));
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
    }

    #[test]
    fn milliseconds() {
        assert_eq!(ms(Duration::ZERO), 0.0);
        assert_eq!(ms(Duration::from_micros(1500)), 1.5);
        assert_eq!(ms(Duration::from_secs(2)), 2000.0);
    }
}
