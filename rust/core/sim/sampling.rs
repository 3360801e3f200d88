//! Sampling-period arithmetic of a non-frequency sampling event: `hwc->period_left` counts down
//! as the event counts and the event overflows each time it reaches zero, then starts a new
//! period (`x86_perf_event_set_period()` / `perf_swevent_set_period()` with a fixed
//! `sample_period`). Counts grow at a rate per second of the event's active time.

/// Counts below this are rounding noise of the f64 rate arithmetic, not count left.
const EPS: f64 = 1e-6;

/// Nanoseconds until an event with `left` counts to go overflows at `rate` counts per second
/// (at least 1 ns; None when it does not count).
pub fn ns_until_overflow(left: f64, rate: f64) -> Option<u64> {
    if rate <= 0.0 || !rate.is_finite() {
        return None;
    }
    if left <= EPS {
        return Some(1);
    }
    let ns = ((left - EPS) * 1e9 / rate).ceil();
    Some(if ns < 1.0 {
        1
    } else if ns >= u64::MAX as f64 {
        u64::MAX
    } else {
        ns as u64
    })
}

/// Count `dt_ns` at `rate`: returns the number of overflows, leaving `left` in (0, period].
pub fn consume(left: &mut f64, period: u64, rate: f64, dt_ns: u64) -> u64 {
    if rate <= 0.0 || period == 0 {
        return 0;
    }
    *left -= rate * dt_ns as f64 / 1e9;
    let mut n = 0;
    if *left <= EPS {
        let p = period as f64;
        let extra = ((EPS - *left) / p).floor();
        n = 1 + extra as u64;
        *left += p * (1.0 + extra);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_period_per_overflow() {
        let mut left = 100_000.0;
        assert_eq!(ns_until_overflow(left, 1e9), Some(100_000));
        assert_eq!(consume(&mut left, 100_000, 1e9, 99_999), 0);
        assert_eq!(consume(&mut left, 100_000, 1e9, 1), 1);
        assert_eq!(left, 100_000.0);
        assert_eq!(consume(&mut left, 100_000, 1e9, 350_000), 3);
        assert_eq!(left, 50_000.0);
        assert_eq!(ns_until_overflow(left, 0.0), None);
    }
}
