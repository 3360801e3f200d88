//! Machine presets for core PMUs: counter counts, CPU masks and a small event table each, so
//! that counter constraints in scenarios are real.
//!
//! Facts: context-and-scheduling.md §7 (hybrid registration: the big-core PMU `cpu_core`
//! takes `PERF_TYPE_RAW`, the others dynamic types >= `PERF_TYPE_MAX`, all with
//! `PERF_PMU_CAP_EXTENDED_HW_TYPE`) and §8.4-8.5 (fixed counters 0 = instructions, 1 = core
//! cycles, 2 = reference cycles (pseudo-encoding 0x0300, fixed only), 3 = TOPDOWN.SLOTS from
//! Ice Lake on; Intel fixed events may fall back to any GP counter; P-core 8 GP + 4 fixed,
//! E-core 6 GP + 3 fixed; AMD 6 GP, no fixed; ARM PMUv3 a cycle counter + 6 event counters).
//! The constrained raw events are representative of the vendor constraint tables
//! (`intel_*_event_constraints`, AMD family 15h overlapping masks) and are **not** checked
//! against those tables; they exist so that constraint scheduling is exercised.
//!
//! Preset names: `intel-icx`, `intel-skl-ht`, `amd-zen`, `adl-hybrid`, `arm-biglittle`.

use super::core_pmu::{CorePmuDesc, CounterAlloc, HwEventDesc};
use super::x86_sched::{Constraint, IDX_FIXED};
use crate::abi::types::*;

/// Names of all presets.
pub const PRESET_NAMES: [&str; 5] = ["intel-icx", "intel-skl-ht", "amd-zen", "adl-hybrid", "arm-biglittle"];

/// Number of CPUs of every preset machine.
pub const PRESET_NR_CPUS: u32 = 8;

/// Dynamic PMU type of `cpu_atom` on `adl-hybrid` (any value >= `PERF_TYPE_MAX`).
pub const ADL_ATOM_TYPE: u32 = 8;
/// Dynamic PMU types of the two `arm-biglittle` PMUs (LITTLE, big).
pub const ARM_TYPES: [u32; 2] = [8, 9];

const fn fx(i: u32) -> u64 {
    1u64 << (IDX_FIXED + i)
}

fn ev(name: &'static str, hw_id: Option<u64>, raw: u64, mask: u64) -> HwEventDesc {
    HwEventDesc { name, hw_id, raw, constraint: Constraint::new(mask) }
}

/// The Intel table for `gp` GP counters and `fixed` fixed counters, plus `extra`.
fn intel_events(gp_mask: u64, fixed: u32, extra: Vec<HwEventDesc>) -> Vec<HwEventDesc> {
    let mut v = vec![
        ev("cycles", Some(PERF_COUNT_HW_CPU_CYCLES), 0x003c, fx(1) | gp_mask),
        ev("instructions", Some(PERF_COUNT_HW_INSTRUCTIONS), 0x00c0, fx(0) | gp_mask),
        ev("ref-cycles", Some(PERF_COUNT_HW_REF_CPU_CYCLES), 0x0300, fx(2)),
        ev("cache-references", Some(PERF_COUNT_HW_CACHE_REFERENCES), 0x4f2e, gp_mask),
        ev("cache-misses", Some(PERF_COUNT_HW_CACHE_MISSES), 0x412e, gp_mask),
        ev("branches", Some(PERF_COUNT_HW_BRANCH_INSTRUCTIONS), 0x00c4, gp_mask),
        ev("branch-misses", Some(PERF_COUNT_HW_BRANCH_MISSES), 0x00c5, gp_mask),
    ];
    if fixed >= 4 {
        v.push(ev("topdown.slots", None, 0x0400, fx(3)));
    }
    v.extend(extra);
    v
}

fn all_cpus() -> Vec<u32> {
    (0..PRESET_NR_CPUS).collect()
}

/// The LBR implementation behind a preset's core PMUs, which fixes the PMU task-data blob
/// layout (`intel_pmu_lbr_init_skl()` / `intel_pmu_arch_lbr_init()`, spec A.5): Skylake and Ice
/// Lake have the MSR ("legacy") LBR, Alder Lake has Arch LBR saved by XSAVES. AMD Zen (before
/// Zen 4) and ARM PMUv3 without BRBE have no branch stack at all (`x86_pmu.lbr_nr == 0`,
/// `!armpmu->has_branch_stack`): None.
pub fn lbr_format(preset: &str) -> Option<crate::task_data::lbr::LbrFormat> {
    use crate::task_data::lbr::LbrFormat;
    match preset {
        "intel-icx" | "intel-skl-ht" => Some(LbrFormat::Legacy),
        "adl-hybrid" => Some(LbrFormat::ArchXsave),
        _ => None,
    }
}

/// The core PMUs of a preset, in registration order. `None` for an unknown name.
pub fn core_pmus(preset: &str) -> Option<Vec<CorePmuDesc>> {
    let pmus = match preset {
        "intel-icx" => vec![CorePmuDesc {
            name: "cpu",
            type_: PERF_TYPE_RAW,
            nr_gp: 8,
            nr_fixed: 4,
            cpus: all_cpus(),
            alloc: CounterAlloc::X86,
            hybrid: false,
            extended_hw_type: false,
            events: intel_events(
                0xff,
                4,
                vec![
                    ev("inst_retired.prec_dist", None, 0x01c0, fx(0)),
                    ev("l1d_pend_miss.pending", None, 0x0148, 0x0f),
                    ev("cycle_activity.stalls_total", None, 0x04a3, 0x0f),
                    ev("mem_trans_retired.load_latency", None, 0x01cd, 0xfe),
                ],
            ),
        }],
        "intel-skl-ht" => vec![CorePmuDesc {
            name: "cpu",
            type_: PERF_TYPE_RAW,
            nr_gp: 4,
            nr_fixed: 3,
            cpus: all_cpus(),
            alloc: CounterAlloc::X86,
            hybrid: false,
            extended_hw_type: false,
            events: intel_events(
                0x0f,
                3,
                vec![
                    ev("inst_retired.prec_dist", None, 0x01c0, 0x02),
                    ev("l1d_pend_miss.pending", None, 0x0148, 0x04),
                    ev("cycle_activity.stalls_l1d_miss", None, 0x0ca3, 0x04),
                ],
            ),
        }],
        "amd-zen" => vec![CorePmuDesc {
            name: "cpu",
            type_: PERF_TYPE_RAW,
            nr_gp: 6,
            nr_fixed: 0,
            cpus: all_cpus(),
            alloc: CounterAlloc::X86,
            hybrid: false,
            extended_hw_type: false,
            events: vec![
                ev("cycles", Some(PERF_COUNT_HW_CPU_CYCLES), 0x0076, 0x3f),
                ev("instructions", Some(PERF_COUNT_HW_INSTRUCTIONS), 0x00c0, 0x3f),
                ev("cache-references", Some(PERF_COUNT_HW_CACHE_REFERENCES), 0xff60, 0x3f),
                ev("cache-misses", Some(PERF_COUNT_HW_CACHE_MISSES), 0x0964, 0x3f),
                ev("branches", Some(PERF_COUNT_HW_BRANCH_INSTRUCTIONS), 0x00c2, 0x3f),
                ev("branch-misses", Some(PERF_COUNT_HW_BRANCH_MISSES), 0x00c3, 0x3f),
                // Family-15h style overlapping masks (representative).
                HwEventDesc {
                    name: "raw-overlap-0x09",
                    hw_id: None,
                    raw: 0x0141,
                    constraint: Constraint::overlapping(0x09),
                },
                ev("raw-low3", None, 0x0241, 0x07),
                ev("raw-high3", None, 0x0341, 0x38),
            ],
        }],
        "adl-hybrid" => vec![
            CorePmuDesc {
                name: "cpu_core",
                type_: PERF_TYPE_RAW,
                nr_gp: 8,
                nr_fixed: 4,
                cpus: (0..4).collect(),
                alloc: CounterAlloc::X86,
                hybrid: true,
                extended_hw_type: true,
                events: intel_events(
                    0xff,
                    4,
                    vec![
                        ev("inst_retired.prec_dist", None, 0x01c0, fx(0)),
                        ev("l1d_pend_miss.pending", None, 0x0148, 0x0f),
                    ],
                ),
            },
            CorePmuDesc {
                name: "cpu_atom",
                type_: ADL_ATOM_TYPE,
                nr_gp: 6,
                nr_fixed: 3,
                cpus: (4..8).collect(),
                alloc: CounterAlloc::X86,
                hybrid: true,
                extended_hw_type: true,
                events: intel_events(0x3f, 3, vec![ev("mem_uops_retired.all_loads", None, 0x81d0, 0x03)]),
            },
        ],
        "arm-biglittle" => {
            let arm = |name, type_, cpus: Vec<u32>| CorePmuDesc {
                name,
                type_,
                nr_gp: 6,
                nr_fixed: 1,
                cpus,
                alloc: CounterAlloc::Arm,
                hybrid: true,
                extended_hw_type: true,
                events: vec![
                    ev("cycles", Some(PERF_COUNT_HW_CPU_CYCLES), 0x0011, fx(0) | 0x3f),
                    ev("instructions", Some(PERF_COUNT_HW_INSTRUCTIONS), 0x0008, 0x3f),
                    ev("cache-references", Some(PERF_COUNT_HW_CACHE_REFERENCES), 0x0004, 0x3f),
                    ev("cache-misses", Some(PERF_COUNT_HW_CACHE_MISSES), 0x0003, 0x3f),
                    ev("branches", Some(PERF_COUNT_HW_BRANCH_INSTRUCTIONS), 0x0021, 0x3f),
                    ev("branch-misses", Some(PERF_COUNT_HW_BRANCH_MISSES), 0x0010, 0x3f),
                ],
            };
            vec![
                arm("armv8_cortex_a55", ARM_TYPES[0], (0..4).collect()),
                arm("armv8_cortex_a76", ARM_TYPES[1], (4..8).collect()),
            ]
        }
        _ => return None,
    };
    Some(pmus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_has_consistent_tables() {
        for name in PRESET_NAMES {
            let pmus = core_pmus(name).unwrap();
            assert!(!pmus.is_empty());
            for p in &pmus {
                let all = p.gp_mask() | (((1u64 << p.nr_fixed) - 1) << IDX_FIXED);
                for e in &p.events {
                    assert!(e.constraint.weight() > 0, "{name}/{}", e.name);
                    assert_eq!(e.constraint.idxmsk & !all, 0, "{name}/{} names a missing counter", e.name);
                }
                assert!(p.event("cycles").is_some());
            }
        }
        assert!(core_pmus("nope").is_none());
    }

    #[test]
    fn hybrid_types_follow_the_kernel_registration() {
        let adl = core_pmus("adl-hybrid").unwrap();
        assert_eq!((adl[0].name, adl[0].type_, adl[0].nr_gp, adl[0].nr_fixed), ("cpu_core", 4, 8, 4));
        assert_eq!((adl[1].name, adl[1].nr_gp, adl[1].nr_fixed), ("cpu_atom", 6, 3));
        assert!(adl[1].type_ >= PERF_TYPE_MAX);
        assert!(adl.iter().all(|p| p.extended_hw_type && p.hybrid));
    }
}
