//! Sampling-period arithmetic of the run loop: stepping a count through any split of time
//! gives floor(total counts / period) overflows, and the predicted overflow instant is exact.

use perfcore::sim::sampling::{consume, ns_until_overflow};
use proptest::prelude::*;

proptest! {
    /// However the run is cut into steps, the overflows add up to floor(rate * t / period).
    #[test]
    fn overflows_are_floor_of_counts_over_period(
        rate_mhz in 1u64..4000,
        period in 1_000u64..5_000_000,
        steps in prop::collection::vec(1u64..3_000_000, 1..40),
    ) {
        let rate = rate_mhz as f64 * 1e6;
        let mut left = period as f64;
        let mut n = 0u64;
        for &dt in &steps {
            n += consume(&mut left, period, rate, dt);
            prop_assert!(left > 0.0 && left <= period as f64 + 1e-6);
        }
        let total: u64 = steps.iter().sum();
        let counts = rate_mhz as u128 * total as u128 / 1000; // rate * t, exact in integers
        let expected = (counts / period as u128) as u64;
        prop_assert!(n.abs_diff(expected) <= 1, "{} vs {}", n, expected);
    }

    /// Stepping exactly to the predicted instant overflows there, and not one ns earlier.
    #[test]
    fn predicted_instant_is_the_first_overflow(rate_mhz in 1u64..4000, period in 1_000u64..5_000_000) {
        let rate = rate_mhz as f64 * 1e6;
        let d = ns_until_overflow(period as f64, rate).unwrap();
        let mut left = period as f64;
        if d > 1 {
            prop_assert_eq!(consume(&mut left, period, rate, d - 1), 0);
            prop_assert_eq!(consume(&mut left, period, rate, 1), 1);
        } else {
            prop_assert!(consume(&mut left, period, rate, 1) >= 1);
        }
    }
}

#[test]
fn no_rate_never_overflows() {
    let mut left = 10.0;
    assert_eq!(ns_until_overflow(left, 0.0), None);
    assert_eq!(consume(&mut left, 10, 0.0, 1_000_000_000), 0);
    assert_eq!(left, 10.0);
}
