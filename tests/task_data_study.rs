//! The LBR call-stack study: per-process and 6.15+ system-wide keep full stacks; pre-6.15
//! system-wide truncates them, by exactly the amount the reset-on-sched-in rule predicts.

use perfcore::task_data::lbr::LbrFormat;
use perfcore::task_data::study::{lbr_callstack_study, StudyMode, StudyParams};
use proptest::prelude::*;

/// Independent oracle for the pre-6.15 system-wide mode: the sampled shape is the true stack
/// minus the frames entered before tchain_edit's latest sched-in (LBR reset on sched-in).
fn oracle_full_fraction(p: &StudyParams) -> (u64, u64) {
    let k = p.noise_tasks as u64 + 1;
    let l = p.main_ns + p.f1_ns + p.f2_ns + p.f3_ns;
    let calls = [p.main_ns, p.main_ns + p.f1_ns, p.main_ns + p.f1_ns + p.f2_ns];
    let (mut samples, mut full) = (0, 0);
    let mut t = p.sample_period_ns;
    while t <= p.duration_ns {
        let slice = t / p.slice_ns;
        if k == 1 || slice % k == 0 {
            let (own, own0) = if k == 1 {
                (t, 0)
            } else {
                let base = slice / k * p.slice_ns;
                (base + (t - slice * p.slice_ns), base)
            };
            let r = own % l;
            let start = own - r;
            let depth = calls.iter().filter(|&&c| r >= c).count(); // frames above main
            samples += 1;
            // Full iff every call of the current stack happened at/after the sched-in, or the
            // stack is just main.
            if depth == 0 || start + calls[0] >= own0 || own0 == 0 {
                full += 1;
            }
        }
        t += p.sample_period_ns;
    }
    (samples, full)
}

fn params(mode: StudyMode) -> StudyParams {
    StudyParams { mode, duration_ns: 1_000_000_000, ..StudyParams::default() }
}

#[test]
fn per_process_and_new_system_wide_keep_full_stacks() {
    for mode in [StudyMode::PerProcess, StudyMode::PerProcessPmuContext, StudyMode::SystemWideTaskStruct] {
        let r = lbr_callstack_study(&params(mode)).unwrap();
        assert!(r.samples > 1000, "{mode:?}: {} samples", r.samples);
        assert!(r.full * 100 >= 99 * r.samples, "{mode:?}: {} of {} full", r.full, r.samples);
        assert!(r.f3_full * 100 >= 99 * r.f3_samples, "{mode:?}");
        // Only each task's first sched-in (blob still LBR_NONE) resets; afterwards every
        // sched-in of a task with data restores (or skips as the last owner).
        assert!(r.lbr.resets <= 4, "{mode:?}: {} resets", r.lbr.resets);
        assert!(r.lbr.restores + r.lbr.restore_skips >= r.switches / 4 - 1, "{mode:?}: {:?}", r.lbr);
    }
}

#[test]
fn old_system_wide_is_truncated_as_the_reset_rule_predicts() {
    let p = params(StudyMode::SystemWidePmuContext);
    let r = lbr_callstack_study(&p).unwrap();
    let (samples, full) = oracle_full_fraction(&p);
    assert_eq!(r.samples, samples);
    assert_eq!(r.full, full);
    assert!(r.full * 100 < 90 * r.samples, "{} of {}", r.full, r.samples);
    assert!(r.shapes.contains_key("f3"), "{:?}", r.shapes);
    assert!(r.shapes.contains_key("main-f1-f2-f3"));
    assert_eq!(r.blobs, 0, "CPU-wide events get no task data in the 6.2-6.14 design");
    assert!(r.lbr.resets >= r.switches / 2);
}

#[test]
fn sample_counts_agree_between_designs() {
    let a = lbr_callstack_study(&params(StudyMode::PerProcess)).unwrap();
    let b = lbr_callstack_study(&params(StudyMode::SystemWidePmuContext)).unwrap();
    assert_eq!(a.samples, b.samples);
    assert_eq!(a.shapes.values().sum::<u64>(), a.samples);
}

#[test]
fn new_system_wide_allocates_one_blob_per_thread() {
    let r = lbr_callstack_study(&params(StudyMode::SystemWideTaskStruct)).unwrap();
    assert_eq!(r.blobs, 4);
}

#[test]
fn bad_parameters_are_errors() {
    for p in [
        StudyParams { slice_ns: 0, ..StudyParams::default() },
        StudyParams { sample_period_ns: 0, ..StudyParams::default() },
        StudyParams { main_ns: 0, f1_ns: 0, f2_ns: 0, f3_ns: 0, ..StudyParams::default() },
        StudyParams { lbr_depth: 7, ..StudyParams::default() },
        StudyParams { lbr_format: LbrFormat::Legacy, lbr_depth: 64, ..StudyParams::default() },
    ] {
        assert!(lbr_callstack_study(&p).is_err(), "{p:?}");
    }
    assert!(StudyMode::parse("bogus").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn old_mode_matches_the_oracle_for_any_timing(
        k in 0u32..4, slice in 1u64..50, period in 1u64..20,
        m in 0u64..20, a in 0u64..20, b in 0u64..20, f3 in 1u64..200,
    ) {
        let p = StudyParams {
            mode: StudyMode::SystemWidePmuContext, noise_tasks: k,
            slice_ns: slice * 1000, sample_period_ns: period * 1000 + 7, duration_ns: 20_000_000,
            main_ns: m * 1000, f1_ns: a * 1000, f2_ns: b * 1000, f3_ns: f3 * 1000,
            ..StudyParams::default()
        };
        let r = lbr_callstack_study(&p).unwrap();
        let (samples, full) = oracle_full_fraction(&p);
        prop_assert_eq!(r.samples, samples);
        prop_assert_eq!(r.full, full);
        let q = StudyParams { mode: StudyMode::SystemWideTaskStruct, ..p };
        let n = lbr_callstack_study(&q).unwrap();
        prop_assert_eq!(n.full, n.samples);
    }
}
