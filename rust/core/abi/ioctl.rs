//! perf ioctl request numbers (`PERF_EVENT_IOC_*`, x86-64 `_IO/_IOR/_IOW` encoding with type '$').

const fn io(nr: u32) -> u32 {
    (0x24 << 8) | nr
}
const fn iow(nr: u32, size: u32) -> u32 {
    (1 << 30) | (size << 16) | (0x24 << 8) | nr
}
const fn ior(nr: u32, size: u32) -> u32 {
    (2 << 30) | (size << 16) | (0x24 << 8) | nr
}
const fn iowr(nr: u32, size: u32) -> u32 {
    (3 << 30) | (size << 16) | (0x24 << 8) | nr
}

pub const PERF_EVENT_IOC_ENABLE: u32 = io(0);
pub const PERF_EVENT_IOC_DISABLE: u32 = io(1);
pub const PERF_EVENT_IOC_REFRESH: u32 = io(2);
pub const PERF_EVENT_IOC_RESET: u32 = io(3);
pub const PERF_EVENT_IOC_PERIOD: u32 = iow(4, 8);
pub const PERF_EVENT_IOC_SET_OUTPUT: u32 = io(5);
pub const PERF_EVENT_IOC_SET_FILTER: u32 = iow(6, 8);
pub const PERF_EVENT_IOC_ID: u32 = ior(7, 8);
pub const PERF_EVENT_IOC_SET_BPF: u32 = iow(8, 4);
pub const PERF_EVENT_IOC_PAUSE_OUTPUT: u32 = iow(9, 4);
pub const PERF_EVENT_IOC_QUERY_BPF: u32 = iowr(10, 8);
pub const PERF_EVENT_IOC_MODIFY_ATTRIBUTES: u32 = iow(11, 8);

/// `PERF_IOC_FLAG_GROUP`: apply ENABLE/DISABLE/RESET/REFRESH to the whole group.
pub const PERF_IOC_FLAG_GROUP: u64 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    /// Values as printed by the C preprocessor on x86-64.
    #[test]
    fn ioctl_numbers_match_the_uapi_encoding() {
        assert_eq!(PERF_EVENT_IOC_ENABLE, 0x2400);
        assert_eq!(PERF_EVENT_IOC_DISABLE, 0x2401);
        assert_eq!(PERF_EVENT_IOC_REFRESH, 0x2402);
        assert_eq!(PERF_EVENT_IOC_RESET, 0x2403);
        assert_eq!(PERF_EVENT_IOC_PERIOD, 0x4008_2404);
        assert_eq!(PERF_EVENT_IOC_SET_OUTPUT, 0x2405);
        assert_eq!(PERF_EVENT_IOC_SET_FILTER, 0x4008_2406);
        assert_eq!(PERF_EVENT_IOC_ID, 0x8008_2407);
        assert_eq!(PERF_EVENT_IOC_SET_BPF, 0x4004_2408);
        assert_eq!(PERF_EVENT_IOC_PAUSE_OUTPUT, 0x4004_2409);
        assert_eq!(PERF_EVENT_IOC_QUERY_BPF, 0xc008_240a);
        assert_eq!(PERF_EVENT_IOC_MODIFY_ATTRIBUTES, 0x4008_240b);
    }
}
