//! Names of ABI values as perf users write them (`perf list` spellings for events, lower-case
//! uapi suffixes for bit masks), and parsing of `"ip|tid|time"`-style mask strings.

use super::{record::*, sample::*, types::*};
use crate::{Error, Result};

/// `attr.type` names.
pub const TYPE_NAMES: &[(&str, u32)] = &[
    ("hardware", PERF_TYPE_HARDWARE),
    ("software", PERF_TYPE_SOFTWARE),
    ("tracepoint", PERF_TYPE_TRACEPOINT),
    ("hw_cache", PERF_TYPE_HW_CACHE),
    ("raw", PERF_TYPE_RAW),
    ("breakpoint", PERF_TYPE_BREAKPOINT),
];

/// Generic hardware event names (`PERF_TYPE_HARDWARE` configs).
pub const HW_EVENT_NAMES: &[(&str, u64)] = &[
    ("cpu-cycles", PERF_COUNT_HW_CPU_CYCLES),
    ("cycles", PERF_COUNT_HW_CPU_CYCLES),
    ("instructions", PERF_COUNT_HW_INSTRUCTIONS),
    ("cache-references", PERF_COUNT_HW_CACHE_REFERENCES),
    ("cache-misses", PERF_COUNT_HW_CACHE_MISSES),
    ("branch-instructions", PERF_COUNT_HW_BRANCH_INSTRUCTIONS),
    ("branches", PERF_COUNT_HW_BRANCH_INSTRUCTIONS),
    ("branch-misses", PERF_COUNT_HW_BRANCH_MISSES),
    ("bus-cycles", PERF_COUNT_HW_BUS_CYCLES),
    ("stalled-cycles-frontend", PERF_COUNT_HW_STALLED_CYCLES_FRONTEND),
    ("stalled-cycles-backend", PERF_COUNT_HW_STALLED_CYCLES_BACKEND),
    ("ref-cycles", PERF_COUNT_HW_REF_CPU_CYCLES),
];

/// Software event names (`PERF_TYPE_SOFTWARE` configs).
pub const SW_EVENT_NAMES: &[(&str, u64)] = &[
    ("cpu-clock", PERF_COUNT_SW_CPU_CLOCK),
    ("task-clock", PERF_COUNT_SW_TASK_CLOCK),
    ("page-faults", PERF_COUNT_SW_PAGE_FAULTS),
    ("faults", PERF_COUNT_SW_PAGE_FAULTS),
    ("context-switches", PERF_COUNT_SW_CONTEXT_SWITCHES),
    ("cs", PERF_COUNT_SW_CONTEXT_SWITCHES),
    ("cpu-migrations", PERF_COUNT_SW_CPU_MIGRATIONS),
    ("migrations", PERF_COUNT_SW_CPU_MIGRATIONS),
    ("minor-faults", PERF_COUNT_SW_PAGE_FAULTS_MIN),
    ("major-faults", PERF_COUNT_SW_PAGE_FAULTS_MAJ),
    ("alignment-faults", PERF_COUNT_SW_ALIGNMENT_FAULTS),
    ("emulation-faults", PERF_COUNT_SW_EMULATION_FAULTS),
    ("dummy", PERF_COUNT_SW_DUMMY),
    ("bpf-output", PERF_COUNT_SW_BPF_OUTPUT),
    ("cgroup-switches", PERF_COUNT_SW_CGROUP_SWITCHES),
];

/// `PERF_SAMPLE_*` names.
pub const SAMPLE_TYPE_NAMES: &[(&str, u64)] = &[
    ("ip", PERF_SAMPLE_IP),
    ("tid", PERF_SAMPLE_TID),
    ("time", PERF_SAMPLE_TIME),
    ("addr", PERF_SAMPLE_ADDR),
    ("read", PERF_SAMPLE_READ),
    ("callchain", PERF_SAMPLE_CALLCHAIN),
    ("id", PERF_SAMPLE_ID),
    ("cpu", PERF_SAMPLE_CPU),
    ("period", PERF_SAMPLE_PERIOD),
    ("stream_id", PERF_SAMPLE_STREAM_ID),
    ("raw", PERF_SAMPLE_RAW),
    ("branch_stack", PERF_SAMPLE_BRANCH_STACK),
    ("regs_user", PERF_SAMPLE_REGS_USER),
    ("stack_user", PERF_SAMPLE_STACK_USER),
    ("weight", PERF_SAMPLE_WEIGHT),
    ("data_src", PERF_SAMPLE_DATA_SRC),
    ("identifier", PERF_SAMPLE_IDENTIFIER),
    ("transaction", PERF_SAMPLE_TRANSACTION),
    ("regs_intr", PERF_SAMPLE_REGS_INTR),
    ("phys_addr", PERF_SAMPLE_PHYS_ADDR),
    ("aux", PERF_SAMPLE_AUX),
    ("cgroup", PERF_SAMPLE_CGROUP),
    ("data_page_size", PERF_SAMPLE_DATA_PAGE_SIZE),
    ("code_page_size", PERF_SAMPLE_CODE_PAGE_SIZE),
    ("weight_struct", PERF_SAMPLE_WEIGHT_STRUCT),
];

/// `PERF_FORMAT_*` names.
pub const READ_FORMAT_NAMES: &[(&str, u64)] = &[
    ("total_time_enabled", PERF_FORMAT_TOTAL_TIME_ENABLED),
    ("total_time_running", PERF_FORMAT_TOTAL_TIME_RUNNING),
    ("id", PERF_FORMAT_ID),
    ("group", PERF_FORMAT_GROUP),
    ("lost", PERF_FORMAT_LOST),
];

/// `PERF_SAMPLE_BRANCH_*` names.
pub const BRANCH_SAMPLE_NAMES: &[(&str, u64)] = &[
    ("user", PERF_SAMPLE_BRANCH_USER),
    ("kernel", PERF_SAMPLE_BRANCH_KERNEL),
    ("hv", PERF_SAMPLE_BRANCH_HV),
    ("any", PERF_SAMPLE_BRANCH_ANY),
    ("any_call", PERF_SAMPLE_BRANCH_ANY_CALL),
    ("any_return", PERF_SAMPLE_BRANCH_ANY_RETURN),
    ("ind_call", PERF_SAMPLE_BRANCH_IND_CALL),
    ("abort_tx", PERF_SAMPLE_BRANCH_ABORT_TX),
    ("in_tx", PERF_SAMPLE_BRANCH_IN_TX),
    ("no_tx", PERF_SAMPLE_BRANCH_NO_TX),
    ("cond", PERF_SAMPLE_BRANCH_COND),
    ("call_stack", PERF_SAMPLE_BRANCH_CALL_STACK),
    ("ind_jump", PERF_SAMPLE_BRANCH_IND_JUMP),
    ("call", PERF_SAMPLE_BRANCH_CALL),
    ("no_flags", PERF_SAMPLE_BRANCH_NO_FLAGS),
    ("no_cycles", PERF_SAMPLE_BRANCH_NO_CYCLES),
    ("type_save", PERF_SAMPLE_BRANCH_TYPE_SAVE),
    ("hw_index", PERF_SAMPLE_BRANCH_HW_INDEX),
    ("priv_save", PERF_SAMPLE_BRANCH_PRIV_SAVE),
    ("counters", PERF_SAMPLE_BRANCH_COUNTERS),
];

/// Record type names (kernel records).
pub const RECORD_TYPE_NAMES: &[(&str, u32)] = &[
    ("mmap", PERF_RECORD_MMAP),
    ("lost", PERF_RECORD_LOST),
    ("comm", PERF_RECORD_COMM),
    ("exit", PERF_RECORD_EXIT),
    ("throttle", PERF_RECORD_THROTTLE),
    ("unthrottle", PERF_RECORD_UNTHROTTLE),
    ("fork", PERF_RECORD_FORK),
    ("read", PERF_RECORD_READ),
    ("sample", PERF_RECORD_SAMPLE),
    ("mmap2", PERF_RECORD_MMAP2),
    ("aux", PERF_RECORD_AUX),
    ("itrace_start", PERF_RECORD_ITRACE_START),
    ("lost_samples", PERF_RECORD_LOST_SAMPLES),
    ("switch", PERF_RECORD_SWITCH),
    ("switch_cpu_wide", PERF_RECORD_SWITCH_CPU_WIDE),
    ("namespaces", PERF_RECORD_NAMESPACES),
    ("ksymbol", PERF_RECORD_KSYMBOL),
    ("bpf_event", PERF_RECORD_BPF_EVENT),
    ("cgroup", PERF_RECORD_CGROUP),
    ("text_poke", PERF_RECORD_TEXT_POKE),
    ("aux_output_hw_id", PERF_RECORD_AUX_OUTPUT_HW_ID),
];

/// Parse `"ip|tid|time"` (names from `table`, `|` or `,` separated, case-insensitive, an
/// optional `PERF_SAMPLE_`-style prefix, or a number) into a mask. `field` names the attr
/// field in the error.
pub fn parse_mask(field: &str, table: &[(&str, u64)], text: &str) -> Result<u64> {
    let mut mask = 0u64;
    for raw in text.split(['|', ',']) {
        let word = raw.trim();
        if word.is_empty() {
            continue;
        }
        if let Some(v) = parse_number(word) {
            mask |= v;
            continue;
        }
        let lower = word.to_ascii_lowercase();
        let short = strip_known_prefix(&lower);
        match table.iter().find(|(n, _)| *n == short) {
            Some((_, v)) => mask |= v,
            None => {
                let known: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
                return Err(Error::Usage(format!("{field}: unknown name {word:?} (known: {})", known.join(", "))));
            }
        }
    }
    Ok(mask)
}

/// The names of the bits set in `mask`, `|`-joined; unknown bits as hex.
pub fn format_mask(table: &[(&str, u64)], mask: u64) -> String {
    let mut parts = Vec::new();
    let mut rest = mask;
    for (name, v) in table {
        if v.count_ones() == 1 && rest & v != 0 {
            parts.push((*name).to_string());
            rest &= !v;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        "0".to_string()
    } else {
        parts.join("|")
    }
}

/// Look up one name in a table of `(name, value)`.
pub fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    let lower = name.trim().to_ascii_lowercase();
    table.iter().find(|(n, _)| *n == lower).map(|(_, v)| *v)
}

fn strip_known_prefix(word: &str) -> &str {
    for p in ["perf_sample_branch_", "perf_sample_", "perf_format_", "perf_flag_", "sample_", "format_"] {
        if let Some(s) = word.strip_prefix(p) {
            return s;
        }
    }
    word
}

/// Parse a decimal or `0x` hexadecimal number.
pub fn parse_number(word: &str) -> Option<u64> {
    let w = word.trim();
    if let Some(h) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        w.parse().ok()
    }
}

/// Resolve an event name for `attr.config` given `attr.type` (`perf list` spellings for
/// hardware and software events; a number for any type).
pub fn resolve_config(type_: u32, text: &str) -> Result<u64> {
    if let Some(v) = parse_number(text) {
        return Ok(v);
    }
    let table = match type_ {
        PERF_TYPE_HARDWARE => HW_EVENT_NAMES,
        PERF_TYPE_SOFTWARE => SW_EVENT_NAMES,
        _ => {
            return Err(Error::Usage(format!(
                "config: {text:?} is not a number, and attr.type {type_} has no event names (give a number)"
            )))
        }
    };
    lookup(table, text).ok_or_else(|| {
        let known: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        Error::Usage(format!("config: unknown event {text:?} for type {type_} (known: {})", known.join(", ")))
    })
}

/// `attr.type` from a name or a number.
pub fn resolve_type(text: &str) -> Result<u32> {
    if let Some(v) = parse_number(text) {
        return u32::try_from(v).map_err(|_| Error::Usage(format!("type: {v} does not fit in 32 bits")));
    }
    lookup(TYPE_NAMES, text).ok_or_else(|| {
        let known: Vec<&str> = TYPE_NAMES.iter().map(|(n, _)| *n).collect();
        Error::Usage(format!("type: unknown type {text:?} (known: {})", known.join(", ")))
    })
}

/// The flag names of `perf_event_open()`'s `flags` argument.
pub const OPEN_FLAG_NAMES: &[(&str, u64)] = &[
    ("fd_no_group", PERF_FLAG_FD_NO_GROUP),
    ("fd_output", PERF_FLAG_FD_OUTPUT),
    ("pid_cgroup", PERF_FLAG_PID_CGROUP),
    ("fd_cloexec", PERF_FLAG_FD_CLOEXEC),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_prefixes_and_numbers() {
        let m = parse_mask("sample_type", SAMPLE_TYPE_NAMES, "ip|TID, PERF_SAMPLE_TIME|0x100").unwrap();
        assert_eq!(m, PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_PERIOD);
        assert_eq!(format_mask(SAMPLE_TYPE_NAMES, m), "ip|tid|time|period");
        assert_eq!(format_mask(SAMPLE_TYPE_NAMES, 1 << 40), "0x10000000000");
    }

    #[test]
    fn unknown_name_names_the_field() {
        let e = parse_mask("read_format", READ_FORMAT_NAMES, "id|bogus").unwrap_err();
        assert!(e.to_string().starts_with("read_format: unknown name \"bogus\""), "{e}");
    }

    #[test]
    fn every_single_bit_name_round_trips() {
        for table in [SAMPLE_TYPE_NAMES, READ_FORMAT_NAMES, BRANCH_SAMPLE_NAMES] {
            for (name, v) in table {
                assert_eq!(parse_mask("f", table, name).unwrap(), *v);
                assert_eq!(format_mask(table, *v), *name);
            }
        }
    }
}
