//! Record types and header `misc` bits (`enum perf_event_type`, `PERF_RECORD_MISC_*`), the
//! PERF_RECORD_AUX flags, and the perf tool's own record types used in perf.data.

// enum perf_event_type (kernel records)
pub const PERF_RECORD_MMAP: u32 = 1;
pub const PERF_RECORD_LOST: u32 = 2;
pub const PERF_RECORD_COMM: u32 = 3;
pub const PERF_RECORD_EXIT: u32 = 4;
pub const PERF_RECORD_THROTTLE: u32 = 5;
pub const PERF_RECORD_UNTHROTTLE: u32 = 6;
pub const PERF_RECORD_FORK: u32 = 7;
pub const PERF_RECORD_READ: u32 = 8;
pub const PERF_RECORD_SAMPLE: u32 = 9;
pub const PERF_RECORD_MMAP2: u32 = 10;
pub const PERF_RECORD_AUX: u32 = 11;
pub const PERF_RECORD_ITRACE_START: u32 = 12;
pub const PERF_RECORD_LOST_SAMPLES: u32 = 13;
pub const PERF_RECORD_SWITCH: u32 = 14;
pub const PERF_RECORD_SWITCH_CPU_WIDE: u32 = 15;
pub const PERF_RECORD_NAMESPACES: u32 = 16;
pub const PERF_RECORD_KSYMBOL: u32 = 17;
pub const PERF_RECORD_BPF_EVENT: u32 = 18;
pub const PERF_RECORD_CGROUP: u32 = 19;
pub const PERF_RECORD_TEXT_POKE: u32 = 20;
pub const PERF_RECORD_AUX_OUTPUT_HW_ID: u32 = 21;

// perf tool records (tools/lib/perf/include/perf/event.h), used in perf.data
pub const PERF_RECORD_HEADER_ATTR: u32 = 64;
pub const PERF_RECORD_HEADER_EVENT_TYPE: u32 = 65;
pub const PERF_RECORD_HEADER_TRACING_DATA: u32 = 66;
pub const PERF_RECORD_HEADER_BUILD_ID: u32 = 67;
pub const PERF_RECORD_FINISHED_ROUND: u32 = 68;
pub const PERF_RECORD_ID_INDEX: u32 = 69;
pub const PERF_RECORD_AUXTRACE_INFO: u32 = 70;
pub const PERF_RECORD_AUXTRACE: u32 = 71;
pub const PERF_RECORD_AUXTRACE_ERROR: u32 = 72;
pub const PERF_RECORD_THREAD_MAP: u32 = 73;
pub const PERF_RECORD_CPU_MAP: u32 = 74;
pub const PERF_RECORD_STAT_CONFIG: u32 = 75;
pub const PERF_RECORD_STAT: u32 = 76;
pub const PERF_RECORD_STAT_ROUND: u32 = 77;
pub const PERF_RECORD_EVENT_UPDATE: u32 = 78;
pub const PERF_RECORD_TIME_CONV: u32 = 79;
pub const PERF_RECORD_HEADER_FEATURE: u32 = 80;
pub const PERF_RECORD_COMPRESSED: u32 = 81;
pub const PERF_RECORD_FINISHED_INIT: u32 = 82;

// header.misc
pub const PERF_RECORD_MISC_CPUMODE_MASK: u16 = 7;
pub const PERF_RECORD_MISC_CPUMODE_UNKNOWN: u16 = 0;
pub const PERF_RECORD_MISC_KERNEL: u16 = 1;
pub const PERF_RECORD_MISC_USER: u16 = 2;
pub const PERF_RECORD_MISC_HYPERVISOR: u16 = 3;
pub const PERF_RECORD_MISC_GUEST_KERNEL: u16 = 4;
pub const PERF_RECORD_MISC_GUEST_USER: u16 = 5;
pub const PERF_RECORD_MISC_PROC_MAP_PARSE_TIMEOUT: u16 = 1 << 12;
/// MMAP/MMAP2: the mapping is not executable.
pub const PERF_RECORD_MISC_MMAP_DATA: u16 = 1 << 13;
/// COMM: the name change came from exec.
pub const PERF_RECORD_MISC_COMM_EXEC: u16 = 1 << 13;
/// FORK: the fork came from exec (newer kernels).
pub const PERF_RECORD_MISC_FORK_EXEC: u16 = 1 << 13;
/// SWITCH / SWITCH_CPU_WIDE: a switch out (otherwise in).
pub const PERF_RECORD_MISC_SWITCH_OUT: u16 = 1 << 13;
/// SAMPLE: the IP is exact (precise_ip).
pub const PERF_RECORD_MISC_EXACT_IP: u16 = 1 << 14;
/// SWITCH out: the task was preempted (still runnable).
pub const PERF_RECORD_MISC_SWITCH_OUT_PREEMPT: u16 = 1 << 14;
/// MMAP2: build id instead of device/inode.
pub const PERF_RECORD_MISC_MMAP_BUILD_ID: u16 = 1 << 14;
pub const PERF_RECORD_MISC_EXT_RESERVED: u16 = 1 << 15;

// PERF_RECORD_AUX flags
pub const PERF_AUX_FLAG_TRUNCATED: u64 = 0x01;
pub const PERF_AUX_FLAG_OVERWRITE: u64 = 0x02;
pub const PERF_AUX_FLAG_PARTIAL: u64 = 0x04;
pub const PERF_AUX_FLAG_COLLISION: u64 = 0x08;
pub const PERF_AUX_FLAG_PMU_FORMAT_TYPE_MASK: u64 = 0xff00;

/// Size of `struct perf_event_header`.
pub const PERF_EVENT_HEADER_SIZE: usize = 8;
