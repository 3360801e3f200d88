//! The knobs of a simulated machine that the kernel reads from sysctls, from the caller's
//! credentials and from rlimits. Defaults are the kernel's defaults (Linux 6.18, x86-64, 4 KiB
//! pages) with a privileged caller (root: CAP_PERFMON, CAP_SYS_ADMIN, CAP_IPC_LOCK), which is
//! how `perf` is usually run while prototyping; set `caller` to [`Caller::unprivileged`] to model
//! an ordinary user.

use crate::abi::sample::{PERF_MAX_CONTEXTS_PER_STACK, PERF_MAX_STACK_DEPTH};

/// `/proc/sys/kernel/perf_*` values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sysctls {
    /// `kernel.perf_event_paranoid` (default 2).
    pub perf_event_paranoid: i32,
    /// `kernel.perf_event_max_sample_rate` (default 100000; the kernel may lower it at run time).
    pub perf_event_max_sample_rate: u64,
    /// `kernel.perf_event_max_stack` (default 127).
    pub perf_event_max_stack: u32,
    /// `kernel.perf_event_max_contexts_per_stack` (default 8).
    pub perf_event_max_contexts_per_stack: u32,
    /// `kernel.perf_event_mlock_kb` (default 512 + PAGE_SIZE/1024 = 516).
    pub perf_event_mlock_kb: u64,
    /// `kernel.perf_cpu_time_max_percent` (default 25).
    pub perf_cpu_time_max_percent: u32,
    /// Kernel lockdown forbids `PERF_SAMPLE_REGS_INTR` (`security_locked_down(LOCKDOWN_PERF)`).
    pub lockdown_perf: bool,
}

impl Default for Sysctls {
    fn default() -> Self {
        Sysctls {
            perf_event_paranoid: 2,
            perf_event_max_sample_rate: 100_000,
            perf_event_max_stack: PERF_MAX_STACK_DEPTH,
            perf_event_max_contexts_per_stack: PERF_MAX_CONTEXTS_PER_STACK,
            perf_event_mlock_kb: 516,
            perf_cpu_time_max_percent: 25,
            lockdown_perf: false,
        }
    }
}

/// Credentials and limits of the task that calls `perf_event_open()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    /// CAP_PERFMON (or CAP_SYS_ADMIN): `perfmon_capable()`.
    pub cap_perfmon: bool,
    /// CAP_SYS_PTRACE: may attach to other users' tasks (`ptrace_may_access`).
    pub cap_sys_ptrace: bool,
    /// CAP_IPC_LOCK: exempt from the mlock limit of perf buffers.
    pub cap_ipc_lock: bool,
    /// RLIMIT_MEMLOCK in bytes (default 8 MiB).
    pub rlimit_memlock: u64,
}

impl Caller {
    /// root: every capability.
    pub fn root() -> Self {
        Caller { uid: 0, cap_perfmon: true, cap_sys_ptrace: true, cap_ipc_lock: true, rlimit_memlock: 8 << 20 }
    }

    /// An ordinary user (uid 1000, no capabilities).
    pub fn unprivileged() -> Self {
        Caller { uid: 1000, cap_perfmon: false, cap_sys_ptrace: false, cap_ipc_lock: false, rlimit_memlock: 8 << 20 }
    }
}

impl Default for Caller {
    fn default() -> Self {
        Caller::root()
    }
}

/// `perf_allow_kernel()`: kernel profiling needs paranoid <= 1 or CAP_PERFMON.
pub fn perf_allow_kernel(s: &Sysctls, c: &Caller) -> bool {
    s.perf_event_paranoid <= 1 || c.cap_perfmon
}

/// `perf_allow_cpu()`: CPU-wide events need paranoid <= 0 or CAP_PERFMON.
pub fn perf_allow_cpu(s: &Sysctls, c: &Caller) -> bool {
    s.perf_event_paranoid <= 0 || c.cap_perfmon
}

/// `perf_allow_tracepoint()`: raw tracepoint data needs paranoid <= -1 or CAP_PERFMON.
pub fn perf_allow_tracepoint(s: &Sysctls, c: &Caller) -> bool {
    s.perf_event_paranoid <= -1 || c.cap_perfmon
}
