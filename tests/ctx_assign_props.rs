//! Counter assignment: the exhaustive search is the oracle for the kernel's greedy
//! (`perf_assign_events()`), on random constraint sets. Known failure classes of the greedy
//! (see the `x86_sched` module doc) are allowed only on non-laminar sets, and the documented
//! concrete case must fail in the model exactly as in the kernel.

use perfcore::pmu::x86_sched::*;
use proptest::prelude::*;

fn constraint(nr_gp: u32, nr_fixed: u32) -> impl Strategy<Value = Constraint> {
    let gp_all = (1u64 << nr_gp) - 1;
    (1u64..=gp_all, 0u64..(1 << nr_fixed), any::<bool>(), 0u8..4).prop_map(move |(gp, fx, overlap, shape)| {
        let fixed = fx << IDX_FIXED;
        let m = match shape {
            0 => gp_all | fixed, // unconstrained (with fixed fallback when fx != 0)
            1 => fixed.max(1 << IDX_FIXED) & (((1u64 << nr_fixed) - 1) << IDX_FIXED), // fixed only
            _ => gp | fixed,
        };
        let m = if m == 0 { gp_all } else { m };
        Constraint { idxmsk: m, overlap }
    })
}

fn laminar_constraint(nr_gp: u32) -> impl Strategy<Value = Constraint> {
    // Aligned power-of-two blocks of GP counters, optionally with fixed counter 0 on the
    // full mask: a laminar family.
    let gp_all = (1u64 << nr_gp) - 1;
    (0u32..=3, 0u32..8, any::<bool>(), any::<bool>()).prop_map(move |(lg, blk, fixed, overlap)| {
        let size = 1u64 << lg; // 1, 2, 4 or 8 counters (nr_gp = 8)
        let nblocks = u64::from(nr_gp) / size;
        let start = (u64::from(blk) % nblocks) * size;
        let mut m = ((1u64 << size) - 1) << start;
        if fixed && m == gp_all {
            m |= 1 << IDX_FIXED;
        }
        Constraint { idxmsk: m, overlap }
    })
}

fn greedy(c: &[Constraint], gpmax: u32) -> Option<Vec<u32>> {
    let evs: Vec<SchedEvent> = c.iter().map(|&k| SchedEvent { constraint: k, prev_idx: None }).collect();
    schedule_events(&evs, gpmax).map(|s| s.assign)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn greedy_against_brute_force(c in prop::collection::vec(constraint(4, 3), 0..9)) {
        let gpmax = 4;
        let g = greedy(&c, gpmax);
        let b = brute_force_assign(&c, gpmax);
        if let Some(a) = &g {
            prop_assert!(is_valid_assignment(&c, a, gpmax), "greedy produced an invalid assignment {:?}", a);
        }
        if let Some(a) = &b {
            prop_assert!(is_valid_assignment(&c, a, gpmax));
        }
        if b.is_none() {
            prop_assert!(g.is_none(), "greedy succeeded where no assignment exists");
        }
        if g.is_none() && b.is_some() {
            prop_assert!(!is_laminar(&c), "greedy failed on a feasible laminar set: {:?}", c);
        }
    }

    #[test]
    fn greedy_exact_on_laminar_sets(c in prop::collection::vec(laminar_constraint(8), 0..12)) {
        prop_assert!(is_laminar(&c));
        let g = greedy(&c, 8);
        let b = brute_force_assign(&c, 8);
        prop_assert_eq!(g.is_some(), b.is_some(), "constraints {:?}", c);
    }

    #[test]
    fn fast_path_keeps_a_valid_previous_assignment(c in prop::collection::vec(constraint(4, 3), 1..7)) {
        if let Some(a) = greedy(&c, 4) {
            let evs: Vec<SchedEvent> = c.iter().zip(&a).map(|(&k, &i)| SchedEvent { constraint: k, prev_idx: Some(i) }).collect();
            let s = schedule_events(&evs, 4).unwrap();
            prop_assert!(s.fast_path);
            prop_assert_eq!(s.assign, a);
        }
    }
}

#[test]
fn documented_known_failure_fails_like_the_kernel() {
    // Module doc, case 1: 0x09 without the overlap flag plus three 0x07 events.
    let c = [Constraint::new(0x09), Constraint::new(0x07), Constraint::new(0x07), Constraint::new(0x07)];
    assert!(greedy(&c, 6).is_none(), "the greedy must fail here, as the kernel does");
    let b = brute_force_assign(&c, 6).expect("an assignment exists");
    assert_eq!(b[0], 3, "the only way: the 0x09 event on counter 3");
    assert!(!is_laminar(&c));
    // Case 2: more overlapping decisions than SCHED_STATES_MAX saved states.
    let c = [
        Constraint::overlapping(0x09),
        Constraint::overlapping(0x12),
        Constraint::overlapping(0x24),
        Constraint::new(0x07),
        Constraint::new(0x07),
        Constraint::new(0x07),
    ];
    let b = brute_force_assign(&c, 6);
    assert!(b.is_some());
    assert!(greedy(&c, 6).is_none(), "three backtracks needed, two saved states available");
}
