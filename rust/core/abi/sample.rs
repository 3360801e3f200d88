//! What a sample carries and how counts are read: `PERF_SAMPLE_*`, `PERF_FORMAT_*`,
//! `PERF_SAMPLE_BRANCH_*`, the callchain context markers and the register ABI values.

// enum perf_event_sample_format
pub const PERF_SAMPLE_IP: u64 = 1 << 0;
pub const PERF_SAMPLE_TID: u64 = 1 << 1;
pub const PERF_SAMPLE_TIME: u64 = 1 << 2;
pub const PERF_SAMPLE_ADDR: u64 = 1 << 3;
pub const PERF_SAMPLE_READ: u64 = 1 << 4;
pub const PERF_SAMPLE_CALLCHAIN: u64 = 1 << 5;
pub const PERF_SAMPLE_ID: u64 = 1 << 6;
pub const PERF_SAMPLE_CPU: u64 = 1 << 7;
pub const PERF_SAMPLE_PERIOD: u64 = 1 << 8;
pub const PERF_SAMPLE_STREAM_ID: u64 = 1 << 9;
pub const PERF_SAMPLE_RAW: u64 = 1 << 10;
pub const PERF_SAMPLE_BRANCH_STACK: u64 = 1 << 11;
pub const PERF_SAMPLE_REGS_USER: u64 = 1 << 12;
pub const PERF_SAMPLE_STACK_USER: u64 = 1 << 13;
pub const PERF_SAMPLE_WEIGHT: u64 = 1 << 14;
pub const PERF_SAMPLE_DATA_SRC: u64 = 1 << 15;
pub const PERF_SAMPLE_IDENTIFIER: u64 = 1 << 16;
pub const PERF_SAMPLE_TRANSACTION: u64 = 1 << 17;
pub const PERF_SAMPLE_REGS_INTR: u64 = 1 << 18;
pub const PERF_SAMPLE_PHYS_ADDR: u64 = 1 << 19;
pub const PERF_SAMPLE_AUX: u64 = 1 << 20;
pub const PERF_SAMPLE_CGROUP: u64 = 1 << 21;
pub const PERF_SAMPLE_DATA_PAGE_SIZE: u64 = 1 << 22;
pub const PERF_SAMPLE_CODE_PAGE_SIZE: u64 = 1 << 23;
pub const PERF_SAMPLE_WEIGHT_STRUCT: u64 = 1 << 24;
/// `PERF_SAMPLE_MAX`: every bit at or above it is EINVAL.
pub const PERF_SAMPLE_MAX: u64 = 1 << 25;
/// `PERF_SAMPLE_WEIGHT_TYPE`
pub const PERF_SAMPLE_WEIGHT_TYPE: u64 = PERF_SAMPLE_WEIGHT | PERF_SAMPLE_WEIGHT_STRUCT;

// enum perf_event_read_format
pub const PERF_FORMAT_TOTAL_TIME_ENABLED: u64 = 1 << 0;
pub const PERF_FORMAT_TOTAL_TIME_RUNNING: u64 = 1 << 1;
pub const PERF_FORMAT_ID: u64 = 1 << 2;
pub const PERF_FORMAT_GROUP: u64 = 1 << 3;
pub const PERF_FORMAT_LOST: u64 = 1 << 4;
/// `PERF_FORMAT_MAX`
pub const PERF_FORMAT_MAX: u64 = 1 << 5;

// enum perf_branch_sample_type (values, not shifts)
pub const PERF_SAMPLE_BRANCH_USER: u64 = 1 << 0;
pub const PERF_SAMPLE_BRANCH_KERNEL: u64 = 1 << 1;
pub const PERF_SAMPLE_BRANCH_HV: u64 = 1 << 2;
pub const PERF_SAMPLE_BRANCH_ANY: u64 = 1 << 3;
pub const PERF_SAMPLE_BRANCH_ANY_CALL: u64 = 1 << 4;
pub const PERF_SAMPLE_BRANCH_ANY_RETURN: u64 = 1 << 5;
pub const PERF_SAMPLE_BRANCH_IND_CALL: u64 = 1 << 6;
pub const PERF_SAMPLE_BRANCH_ABORT_TX: u64 = 1 << 7;
pub const PERF_SAMPLE_BRANCH_IN_TX: u64 = 1 << 8;
pub const PERF_SAMPLE_BRANCH_NO_TX: u64 = 1 << 9;
pub const PERF_SAMPLE_BRANCH_COND: u64 = 1 << 10;
pub const PERF_SAMPLE_BRANCH_CALL_STACK: u64 = 1 << 11;
pub const PERF_SAMPLE_BRANCH_IND_JUMP: u64 = 1 << 12;
pub const PERF_SAMPLE_BRANCH_CALL: u64 = 1 << 13;
pub const PERF_SAMPLE_BRANCH_NO_FLAGS: u64 = 1 << 14;
pub const PERF_SAMPLE_BRANCH_NO_CYCLES: u64 = 1 << 15;
pub const PERF_SAMPLE_BRANCH_TYPE_SAVE: u64 = 1 << 16;
pub const PERF_SAMPLE_BRANCH_HW_INDEX: u64 = 1 << 17;
pub const PERF_SAMPLE_BRANCH_PRIV_SAVE: u64 = 1 << 18;
pub const PERF_SAMPLE_BRANCH_COUNTERS: u64 = 1 << 19;
/// `PERF_SAMPLE_BRANCH_MAX`
pub const PERF_SAMPLE_BRANCH_MAX: u64 = 1 << 20;
/// `PERF_SAMPLE_BRANCH_PLM_ALL`: the privilege-level bits.
pub const PERF_SAMPLE_BRANCH_PLM_ALL: u64 = PERF_SAMPLE_BRANCH_USER | PERF_SAMPLE_BRANCH_KERNEL | PERF_SAMPLE_BRANCH_HV;
/// `PERF_SAMPLE_BRANCH_PERM_PLM`: levels that need kernel-profiling permission.
pub const PERF_SAMPLE_BRANCH_PERM_PLM: u64 = PERF_SAMPLE_BRANCH_KERNEL | PERF_SAMPLE_BRANCH_HV;

// enum perf_callchain_context (as u64 markers in a callchain)
pub const PERF_CONTEXT_HV: u64 = (-32i64) as u64;
pub const PERF_CONTEXT_KERNEL: u64 = (-128i64) as u64;
pub const PERF_CONTEXT_USER: u64 = (-512i64) as u64;
pub const PERF_CONTEXT_GUEST: u64 = (-2048i64) as u64;
pub const PERF_CONTEXT_GUEST_KERNEL: u64 = (-2176i64) as u64;
pub const PERF_CONTEXT_GUEST_USER: u64 = (-2560i64) as u64;
pub const PERF_CONTEXT_MAX: u64 = (-4095i64) as u64;
/// `PERF_MAX_STACK_DEPTH`: default of `kernel.perf_event_max_stack`.
pub const PERF_MAX_STACK_DEPTH: u32 = 127;
/// `PERF_MAX_CONTEXTS_PER_STACK`: default of `kernel.perf_event_max_contexts_per_stack`.
pub const PERF_MAX_CONTEXTS_PER_STACK: u32 = 8;

// enum perf_sample_regs_abi
pub const PERF_SAMPLE_REGS_ABI_NONE: u64 = 0;
pub const PERF_SAMPLE_REGS_ABI_32: u64 = 1;
pub const PERF_SAMPLE_REGS_ABI_64: u64 = 2;

// x86-64 register indices (arch/x86/include/uapi/asm/perf_regs.h)
pub const PERF_REG_X86_SP: u32 = 7;
pub const PERF_REG_X86_IP: u32 = 8;
pub const PERF_REG_X86_DS: u32 = 12;
pub const PERF_REG_X86_ES: u32 = 13;
pub const PERF_REG_X86_FS: u32 = 14;
pub const PERF_REG_X86_GS: u32 = 15;
/// `PERF_REG_X86_64_MAX`: R15 + 1.
pub const PERF_REG_X86_64_MAX: u32 = 24;
/// `PERF_REG_X86_XMM0`: first extended (XMM) register bit.
pub const PERF_REG_X86_XMM0: u32 = 32;
/// `PERF_REG_EXTENDED_MASK` on x86: the XMM bits, which need `PERF_PMU_CAP_EXTENDED_REGS`.
pub const PERF_REG_EXTENDED_MASK: u64 = !((1u64 << PERF_REG_X86_XMM0) - 1);

/// `union perf_mem_data_src` value meaning "not available" (`PERF_MEM_NA`).
pub const PERF_MEM_NA: u64 = 0x1e_0508_0021;
