//! `struct perf_event_attr` (VER8, 136 bytes on 6.18) with byte-exact encoding for every
//! published size, and the flag bitfield at offset 40 by name.
//! Facts: spec/ring-buffer-aux-records.md §7.

/// `PERF_ATTR_SIZE_VER0` .. `VER8`.
pub const PERF_ATTR_SIZE_VER0: u32 = 64;
pub const PERF_ATTR_SIZE_VER1: u32 = 72;
pub const PERF_ATTR_SIZE_VER2: u32 = 80;
pub const PERF_ATTR_SIZE_VER3: u32 = 96;
pub const PERF_ATTR_SIZE_VER4: u32 = 104;
pub const PERF_ATTR_SIZE_VER5: u32 = 112;
pub const PERF_ATTR_SIZE_VER6: u32 = 120;
pub const PERF_ATTR_SIZE_VER7: u32 = 128;
pub const PERF_ATTR_SIZE_VER8: u32 = 136;
/// Every published size, oldest first.
pub const PERF_ATTR_SIZES: [u32; 9] = [
    PERF_ATTR_SIZE_VER0,
    PERF_ATTR_SIZE_VER1,
    PERF_ATTR_SIZE_VER2,
    PERF_ATTR_SIZE_VER3,
    PERF_ATTR_SIZE_VER4,
    PERF_ATTR_SIZE_VER5,
    PERF_ATTR_SIZE_VER6,
    PERF_ATTR_SIZE_VER7,
    PERF_ATTR_SIZE_VER8,
];

/// The attr exactly as the kernel lays it out. Unions are stored as their raw slot; accessors
/// give the union members their names.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PerfEventAttr {
    pub type_: u32,
    pub size: u32,
    pub config: u64,
    /// `sample_period` or, with `freq`, `sample_freq`.
    pub sample_period: u64,
    pub sample_type: u64,
    pub read_format: u64,
    /// The bitfield word; see [`AttrFlag`].
    pub flags: u64,
    /// `wakeup_events` or, with `watermark`, `wakeup_watermark`.
    pub wakeup_events: u32,
    pub bp_type: u32,
    /// `bp_addr` / `kprobe_func` / `uprobe_path` / `config1`.
    pub config1: u64,
    /// `bp_len` / `kprobe_addr` / `probe_offset` / `config2`.
    pub config2: u64,
    pub branch_sample_type: u64,
    pub sample_regs_user: u64,
    pub sample_stack_user: u32,
    pub clockid: i32,
    pub sample_regs_intr: u64,
    pub aux_watermark: u32,
    pub sample_max_stack: u16,
    pub reserved_2: u16,
    pub aux_sample_size: u32,
    /// `aux_action`: bit0 aux_start_paused, bit1 aux_pause, bit2 aux_resume, bits 3-31 reserved.
    pub aux_action: u32,
    pub sig_data: u64,
    pub config3: u64,
}

const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == 136);

/// One named bit (or bit range) of the flag word at offset 40.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttrFlag {
    Disabled,
    Inherit,
    Pinned,
    Exclusive,
    ExcludeUser,
    ExcludeKernel,
    ExcludeHv,
    ExcludeIdle,
    Mmap,
    Comm,
    Freq,
    InheritStat,
    EnableOnExec,
    Task,
    Watermark,
    MmapData,
    SampleIdAll,
    ExcludeHost,
    ExcludeGuest,
    ExcludeCallchainKernel,
    ExcludeCallchainUser,
    Mmap2,
    CommExec,
    UseClockid,
    ContextSwitch,
    WriteBackward,
    Namespaces,
    Ksymbol,
    BpfEvent,
    AuxOutput,
    Cgroup,
    TextPoke,
    BuildId,
    InheritThread,
    RemoveOnExec,
    Sigtrap,
}

impl AttrFlag {
    /// Every one-bit flag with its name (as in the uapi header) and bit position.
    pub const ALL: [(AttrFlag, &'static str, u32); 36] = [
        (AttrFlag::Disabled, "disabled", 0),
        (AttrFlag::Inherit, "inherit", 1),
        (AttrFlag::Pinned, "pinned", 2),
        (AttrFlag::Exclusive, "exclusive", 3),
        (AttrFlag::ExcludeUser, "exclude_user", 4),
        (AttrFlag::ExcludeKernel, "exclude_kernel", 5),
        (AttrFlag::ExcludeHv, "exclude_hv", 6),
        (AttrFlag::ExcludeIdle, "exclude_idle", 7),
        (AttrFlag::Mmap, "mmap", 8),
        (AttrFlag::Comm, "comm", 9),
        (AttrFlag::Freq, "freq", 10),
        (AttrFlag::InheritStat, "inherit_stat", 11),
        (AttrFlag::EnableOnExec, "enable_on_exec", 12),
        (AttrFlag::Task, "task", 13),
        (AttrFlag::Watermark, "watermark", 14),
        (AttrFlag::MmapData, "mmap_data", 17),
        (AttrFlag::SampleIdAll, "sample_id_all", 18),
        (AttrFlag::ExcludeHost, "exclude_host", 19),
        (AttrFlag::ExcludeGuest, "exclude_guest", 20),
        (AttrFlag::ExcludeCallchainKernel, "exclude_callchain_kernel", 21),
        (AttrFlag::ExcludeCallchainUser, "exclude_callchain_user", 22),
        (AttrFlag::Mmap2, "mmap2", 23),
        (AttrFlag::CommExec, "comm_exec", 24),
        (AttrFlag::UseClockid, "use_clockid", 25),
        (AttrFlag::ContextSwitch, "context_switch", 26),
        (AttrFlag::WriteBackward, "write_backward", 27),
        (AttrFlag::Namespaces, "namespaces", 28),
        (AttrFlag::Ksymbol, "ksymbol", 29),
        (AttrFlag::BpfEvent, "bpf_event", 30),
        (AttrFlag::AuxOutput, "aux_output", 31),
        (AttrFlag::Cgroup, "cgroup", 32),
        (AttrFlag::TextPoke, "text_poke", 33),
        (AttrFlag::BuildId, "build_id", 34),
        (AttrFlag::InheritThread, "inherit_thread", 35),
        (AttrFlag::RemoveOnExec, "remove_on_exec", 36),
        (AttrFlag::Sigtrap, "sigtrap", 37),
    ];

    /// Bit position in the flag word.
    pub fn bit(self) -> u32 {
        Self::ALL.iter().find(|(f, _, _)| *f == self).map(|(_, _, b)| *b).unwrap_or(0)
    }

    /// The uapi name of the flag.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(f, _, _)| *f == self).map(|(_, n, _)| *n).unwrap_or("")
    }

    /// The flag with this uapi name.
    pub fn from_name(name: &str) -> Option<AttrFlag> {
        Self::ALL.iter().find(|(_, n, _)| *n == name).map(|(f, _, _)| *f)
    }
}

/// Shift of the 2-bit `precise_ip` field in the flag word.
pub const PRECISE_IP_SHIFT: u32 = 15;
/// First bit of `__reserved_1` in the flag word (bits 38-63 must be zero).
pub const FLAGS_RESERVED_SHIFT: u32 = 38;
/// Mask of `__reserved_1`.
pub const FLAGS_RESERVED_MASK: u64 = !((1u64 << FLAGS_RESERVED_SHIFT) - 1);

/// `aux_action` bits.
pub const AUX_START_PAUSED: u32 = 1 << 0;
pub const AUX_PAUSE: u32 = 1 << 1;
pub const AUX_RESUME: u32 = 1 << 2;
/// `__reserved_3` inside `aux_action` (bits 3-31).
pub const AUX_ACTION_RESERVED_MASK: u32 = !0b111;

/// Byte offset and size of every field, in declaration order (the table of spec §7).
pub const FIELD_LAYOUT: [(&str, usize, usize); 25] = [
    ("type", 0, 4),
    ("size", 4, 4),
    ("config", 8, 8),
    ("sample_period", 16, 8),
    ("sample_type", 24, 8),
    ("read_format", 32, 8),
    ("flags", 40, 8),
    ("wakeup_events", 48, 4),
    ("bp_type", 52, 4),
    ("config1", 56, 8),
    ("config2", 64, 8),
    ("branch_sample_type", 72, 8),
    ("sample_regs_user", 80, 8),
    ("sample_stack_user", 88, 4),
    ("clockid", 92, 4),
    ("sample_regs_intr", 96, 8),
    ("aux_watermark", 104, 4),
    ("sample_max_stack", 108, 2),
    ("__reserved_2", 110, 2),
    ("aux_sample_size", 112, 4),
    ("aux_action", 116, 4),
    ("sig_data", 120, 8),
    ("config3", 128, 8),
    // the two union aliases most often used by name
    ("sample_freq", 16, 8),
    ("wakeup_watermark", 48, 4),
];

impl PerfEventAttr {
    /// A zeroed attr with `size` = VER8.
    pub fn new() -> Self {
        PerfEventAttr { size: PERF_ATTR_SIZE_VER8, ..Default::default() }
    }

    /// Whether a one-bit flag is set.
    pub fn flag(&self, f: AttrFlag) -> bool {
        self.flags & (1u64 << f.bit()) != 0
    }

    /// Set or clear a one-bit flag.
    pub fn set_flag(&mut self, f: AttrFlag, on: bool) {
        let m = 1u64 << f.bit();
        if on {
            self.flags |= m;
        } else {
            self.flags &= !m;
        }
    }

    /// The 2-bit `precise_ip` field.
    pub fn precise_ip(&self) -> u8 {
        ((self.flags >> PRECISE_IP_SHIFT) & 3) as u8
    }

    /// Set `precise_ip` (0-3; higher bits are dropped as the bitfield would).
    pub fn set_precise_ip(&mut self, v: u8) {
        self.flags = (self.flags & !(3 << PRECISE_IP_SHIFT)) | ((u64::from(v) & 3) << PRECISE_IP_SHIFT);
    }

    /// `__reserved_1`: flag bits 38-63.
    pub fn reserved_1(&self) -> u64 {
        self.flags >> FLAGS_RESERVED_SHIFT
    }

    /// `sample_freq` (the same slot as `sample_period`).
    pub fn sample_freq(&self) -> u64 {
        self.sample_period
    }

    /// `wakeup_watermark` (the same slot as `wakeup_events`).
    pub fn wakeup_watermark(&self) -> u32 {
        self.wakeup_events
    }

    /// `aux_start_paused`, `aux_pause`, `aux_resume` and `__reserved_3` of `aux_action`.
    pub fn aux_start_paused(&self) -> bool {
        self.aux_action & AUX_START_PAUSED != 0
    }
    pub fn aux_pause(&self) -> bool {
        self.aux_action & AUX_PAUSE != 0
    }
    pub fn aux_resume(&self) -> bool {
        self.aux_action & AUX_RESUME != 0
    }
    pub fn reserved_3(&self) -> u32 {
        self.aux_action & AUX_ACTION_RESERVED_MASK
    }

    /// The full 136 bytes, native (little) endian.
    pub fn to_bytes_full(&self) -> [u8; 136] {
        let mut b = [0u8; 136];
        let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(0, &self.type_.to_le_bytes());
        put(4, &self.size.to_le_bytes());
        put(8, &self.config.to_le_bytes());
        put(16, &self.sample_period.to_le_bytes());
        put(24, &self.sample_type.to_le_bytes());
        put(32, &self.read_format.to_le_bytes());
        put(40, &self.flags.to_le_bytes());
        put(48, &self.wakeup_events.to_le_bytes());
        put(52, &self.bp_type.to_le_bytes());
        put(56, &self.config1.to_le_bytes());
        put(64, &self.config2.to_le_bytes());
        put(72, &self.branch_sample_type.to_le_bytes());
        put(80, &self.sample_regs_user.to_le_bytes());
        put(88, &self.sample_stack_user.to_le_bytes());
        put(92, &self.clockid.to_le_bytes());
        put(96, &self.sample_regs_intr.to_le_bytes());
        put(104, &self.aux_watermark.to_le_bytes());
        put(108, &self.sample_max_stack.to_le_bytes());
        put(110, &self.reserved_2.to_le_bytes());
        put(112, &self.aux_sample_size.to_le_bytes());
        put(116, &self.aux_action.to_le_bytes());
        put(120, &self.sig_data.to_le_bytes());
        put(128, &self.config3.to_le_bytes());
        b
    }

    /// Encode as `size` bytes: the first `min(size, 136)` bytes of the struct, zero-padded
    /// beyond 136 (an older or newer user-space header). The `size` field itself is written as
    /// stored; callers that want it to match set it first.
    pub fn to_bytes(&self, size: usize) -> Vec<u8> {
        let full = self.to_bytes_full();
        let mut v = vec![0u8; size];
        let n = size.min(full.len());
        v[..n].copy_from_slice(&full[..n]);
        v
    }

    /// Decode user bytes of any length the way `copy_struct_from_user()` fills the kernel's
    /// struct: fields past the end of `bytes` are zero, bytes past 136 are ignored here (see
    /// [`PerfEventAttr::has_nonzero_tail`]).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut full = [0u8; 136];
        let n = bytes.len().min(136);
        full[..n].copy_from_slice(&bytes[..n]);
        let u32_at = |o: usize| u32::from_le_bytes(full[o..o + 4].try_into().unwrap_or([0; 4]));
        let u64_at = |o: usize| u64::from_le_bytes(full[o..o + 8].try_into().unwrap_or([0; 8]));
        let u16_at = |o: usize| u16::from_le_bytes(full[o..o + 2].try_into().unwrap_or([0; 2]));
        PerfEventAttr {
            type_: u32_at(0),
            size: u32_at(4),
            config: u64_at(8),
            sample_period: u64_at(16),
            sample_type: u64_at(24),
            read_format: u64_at(32),
            flags: u64_at(40),
            wakeup_events: u32_at(48),
            bp_type: u32_at(52),
            config1: u64_at(56),
            config2: u64_at(64),
            branch_sample_type: u64_at(72),
            sample_regs_user: u64_at(80),
            sample_stack_user: u32_at(88),
            clockid: u32_at(92) as i32,
            sample_regs_intr: u64_at(96),
            aux_watermark: u32_at(104),
            sample_max_stack: u16_at(108),
            reserved_2: u16_at(110),
            aux_sample_size: u32_at(112),
            aux_action: u32_at(116),
            sig_data: u64_at(120),
            config3: u64_at(128),
        }
    }

    /// Whether user bytes carry anything non-zero past the kernel's 136-byte struct
    /// (`copy_struct_from_user()` then fails with E2BIG).
    pub fn has_nonzero_tail(bytes: &[u8]) -> bool {
        bytes.len() > 136 && bytes[136..].iter().any(|&b| b != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// Pins every field's offset and size to the table of spec §7 (and to FIELD_LAYOUT).
    #[test]
    fn layout_matches_the_uapi_table() {
        let rust: [(&str, usize, usize); 23] = [
            ("type", offset_of!(PerfEventAttr, type_), 4),
            ("size", offset_of!(PerfEventAttr, size), 4),
            ("config", offset_of!(PerfEventAttr, config), 8),
            ("sample_period", offset_of!(PerfEventAttr, sample_period), 8),
            ("sample_type", offset_of!(PerfEventAttr, sample_type), 8),
            ("read_format", offset_of!(PerfEventAttr, read_format), 8),
            ("flags", offset_of!(PerfEventAttr, flags), 8),
            ("wakeup_events", offset_of!(PerfEventAttr, wakeup_events), 4),
            ("bp_type", offset_of!(PerfEventAttr, bp_type), 4),
            ("config1", offset_of!(PerfEventAttr, config1), 8),
            ("config2", offset_of!(PerfEventAttr, config2), 8),
            ("branch_sample_type", offset_of!(PerfEventAttr, branch_sample_type), 8),
            ("sample_regs_user", offset_of!(PerfEventAttr, sample_regs_user), 8),
            ("sample_stack_user", offset_of!(PerfEventAttr, sample_stack_user), 4),
            ("clockid", offset_of!(PerfEventAttr, clockid), 4),
            ("sample_regs_intr", offset_of!(PerfEventAttr, sample_regs_intr), 8),
            ("aux_watermark", offset_of!(PerfEventAttr, aux_watermark), 4),
            ("sample_max_stack", offset_of!(PerfEventAttr, sample_max_stack), 2),
            ("__reserved_2", offset_of!(PerfEventAttr, reserved_2), 2),
            ("aux_sample_size", offset_of!(PerfEventAttr, aux_sample_size), 4),
            ("aux_action", offset_of!(PerfEventAttr, aux_action), 4),
            ("sig_data", offset_of!(PerfEventAttr, sig_data), 8),
            ("config3", offset_of!(PerfEventAttr, config3), 8),
        ];
        // FIELD_LAYOUT is the spec §7 table, typed in from the uapi header, not from the struct
        for (name, off, size) in rust {
            assert!(FIELD_LAYOUT.contains(&(name, off, size)), "{name} at {off} ({size} bytes)");
        }
        assert_eq!(FIELD_LAYOUT.len(), rust.len() + 2, "only the two union aliases are extra");
        assert_eq!(std::mem::size_of::<PerfEventAttr>(), PERF_ATTR_SIZE_VER8 as usize);
    }

    /// Each VER size ends exactly at the field that version added (spec §7 "added" column).
    #[test]
    fn version_sizes_end_at_their_fields() {
        assert_eq!(PERF_ATTR_SIZE_VER0 as usize, offset_of!(PerfEventAttr, config2));
        assert_eq!(PERF_ATTR_SIZE_VER1 as usize, offset_of!(PerfEventAttr, branch_sample_type));
        assert_eq!(PERF_ATTR_SIZE_VER2 as usize, offset_of!(PerfEventAttr, sample_regs_user));
        assert_eq!(PERF_ATTR_SIZE_VER3 as usize, offset_of!(PerfEventAttr, sample_regs_intr));
        assert_eq!(PERF_ATTR_SIZE_VER4 as usize, offset_of!(PerfEventAttr, aux_watermark));
        assert_eq!(PERF_ATTR_SIZE_VER5 as usize, offset_of!(PerfEventAttr, aux_sample_size));
        assert_eq!(PERF_ATTR_SIZE_VER6 as usize, offset_of!(PerfEventAttr, sig_data));
        assert_eq!(PERF_ATTR_SIZE_VER7 as usize, offset_of!(PerfEventAttr, config3));
    }

    /// The cross-check of spec §7: a perf 6.1 recording's flag word 0x61943303.
    #[test]
    fn flag_bits_decode_a_real_perf_record_flag_word() {
        let a = PerfEventAttr { flags: 0x6194_3303, ..PerfEventAttr::new() };
        let set: Vec<&str> = AttrFlag::ALL.iter().filter(|(f, _, _)| a.flag(*f)).map(|(_, n, _)| *n).collect();
        assert_eq!(
            set,
            [
                "disabled",
                "inherit",
                "mmap",
                "comm",
                "enable_on_exec",
                "task",
                "sample_id_all",
                "exclude_guest",
                "mmap2",
                "comm_exec",
                "ksymbol",
                "bpf_event"
            ]
        );
        assert_eq!(a.precise_ip(), 0);
    }

    proptest::proptest! {
        #[test]
        fn encode_decode_round_trips_at_every_version(words in proptest::collection::vec(proptest::num::u64::ANY, 17)) {
            let mut bytes = Vec::with_capacity(136);
            for w in &words { bytes.extend_from_slice(&w.to_le_bytes()); }
            let a = PerfEventAttr::from_bytes(&bytes);
            proptest::prop_assert_eq!(a.to_bytes_full().to_vec(), bytes.clone());
            for size in PERF_ATTR_SIZES {
                let s = size as usize;
                let short = PerfEventAttr::from_bytes(&bytes[..s]);
                let enc = short.to_bytes(s);
                proptest::prop_assert_eq!(&enc[..], &bytes[..s]);
                // fields past the version's size decode as zero
                proptest::prop_assert!(short.to_bytes_full()[s..].iter().all(|&b| b == 0));
            }
        }

        #[test]
        fn set_flag_touches_only_its_bit(start in proptest::num::u64::ANY, idx in 0usize..36, on in proptest::bool::ANY) {
            let (f, _, bit) = AttrFlag::ALL[idx];
            let mut a = PerfEventAttr { flags: start, ..PerfEventAttr::new() };
            a.set_flag(f, on);
            proptest::prop_assert_eq!(a.flags & !(1u64 << bit), start & !(1u64 << bit));
            proptest::prop_assert_eq!(a.flag(f), on);
        }
    }
}
