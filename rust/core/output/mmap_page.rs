//! Page 0 of every perf mapping: `struct perf_event_mmap_page`, field by field at its uapi
//! offset, kept in real memory (little-endian words) so a consumer written against the ABI can
//! read it. Models perf_event_init_userpage() and perf_event_update_userpage() in
//! kernel/events/core.c (the `lock` seqcount); facts: spec/ring-buffer-aux-records.md §1.

use crate::sync::{AtomicU64, Ordering};

/// Byte offset of `version` (u32, never written by the kernel: 0).
pub const OFF_VERSION: usize = 0;
/// Byte offset of `compat_version` (u32, 0).
pub const OFF_COMPAT_VERSION: usize = 4;
/// Byte offset of `lock` (u32 seqcount).
pub const OFF_LOCK: usize = 8;
/// Byte offset of `index` (u32, hardware counter + 1, 0 for software events).
pub const OFF_INDEX: usize = 12;
/// Byte offset of `offset` (s64).
pub const OFF_OFFSET: usize = 16;
/// Byte offset of `time_enabled` (u64).
pub const OFF_TIME_ENABLED: usize = 24;
/// Byte offset of `time_running` (u64).
pub const OFF_TIME_RUNNING: usize = 32;
/// Byte offset of `capabilities` (u64 bitfield).
pub const OFF_CAPABILITIES: usize = 40;
/// Byte offset of `pmc_width` (u16).
pub const OFF_PMC_WIDTH: usize = 48;
/// Byte offset of `time_shift` (u16).
pub const OFF_TIME_SHIFT: usize = 50;
/// Byte offset of `time_mult` (u32).
pub const OFF_TIME_MULT: usize = 52;
/// Byte offset of `time_offset` (u64).
pub const OFF_TIME_OFFSET: usize = 56;
/// Byte offset of `time_zero` (u64).
pub const OFF_TIME_ZERO: usize = 64;
/// Byte offset of `size` (u32, = 96).
pub const OFF_SIZE: usize = 72;
/// Byte offset of `time_cycles` (u64).
pub const OFF_TIME_CYCLES: usize = 80;
/// Byte offset of `time_mask` (u64).
pub const OFF_TIME_MASK: usize = 88;
/// Byte offset of `data_head` (u64, kernel-written).
pub const OFF_DATA_HEAD: usize = 1024;
/// Byte offset of `data_tail` (u64, user-written).
pub const OFF_DATA_TAIL: usize = 1032;
/// Byte offset of `data_offset` (u64, = PAGE_SIZE).
pub const OFF_DATA_OFFSET: usize = 1040;
/// Byte offset of `data_size` (u64).
pub const OFF_DATA_SIZE: usize = 1048;
/// Byte offset of `aux_head` (u64, kernel-written).
pub const OFF_AUX_HEAD: usize = 1056;
/// Byte offset of `aux_tail` (u64, user-written).
pub const OFF_AUX_TAIL: usize = 1064;
/// Byte offset of `aux_offset` (u64, user-written before mapping the AUX area).
pub const OFF_AUX_OFFSET: usize = 1072;
/// Byte offset of `aux_size` (u64, user-written before mapping the AUX area).
pub const OFF_AUX_SIZE: usize = 1080;
/// Value of `size`: `offsetof(struct perf_event_mmap_page, __reserved)`.
pub const USER_PAGE_STRUCT_SIZE: u32 = 96;
/// Bytes of the page the struct occupies (through `aux_size`).
pub const USER_PAGE_USED: usize = 1088;

/// `capabilities` bit 0: `cap_bit0` (deprecated, always 0).
pub const CAP_BIT0: u64 = 1 << 0;
/// `capabilities` bit 1: `cap_bit0_is_deprecated` (always 1).
pub const CAP_BIT0_IS_DEPRECATED: u64 = 1 << 1;
/// `capabilities` bit 2: `cap_user_rdpmc`.
pub const CAP_USER_RDPMC: u64 = 1 << 2;
/// `capabilities` bit 3: `cap_user_time`.
pub const CAP_USER_TIME: u64 = 1 << 3;
/// `capabilities` bit 4: `cap_user_time_zero`.
pub const CAP_USER_TIME_ZERO: u64 = 1 << 4;
/// `capabilities` bit 5: `cap_user_time_short`.
pub const CAP_USER_TIME_SHORT: u64 = 1 << 5;

/// Every named field: (name, byte offset, size in bytes), in layout order.
pub const USER_PAGE_FIELDS: [(&str, usize, usize); 22] = [
    ("version", OFF_VERSION, 4),
    ("compat_version", OFF_COMPAT_VERSION, 4),
    ("lock", OFF_LOCK, 4),
    ("index", OFF_INDEX, 4),
    ("offset", OFF_OFFSET, 8),
    ("time_enabled", OFF_TIME_ENABLED, 8),
    ("time_running", OFF_TIME_RUNNING, 8),
    ("capabilities", OFF_CAPABILITIES, 8),
    ("pmc_width", OFF_PMC_WIDTH, 2),
    ("time_shift", OFF_TIME_SHIFT, 2),
    ("time_mult", OFF_TIME_MULT, 4),
    ("time_offset", OFF_TIME_OFFSET, 8),
    ("time_zero", OFF_TIME_ZERO, 8),
    ("size", OFF_SIZE, 4),
    ("time_cycles", OFF_TIME_CYCLES, 8),
    ("time_mask", OFF_TIME_MASK, 8),
    ("data_head", OFF_DATA_HEAD, 8),
    ("data_tail", OFF_DATA_TAIL, 8),
    ("data_offset", OFF_DATA_OFFSET, 8),
    ("data_size", OFF_DATA_SIZE, 8),
    ("aux_head", OFF_AUX_HEAD, 8),
    ("aux_tail", OFF_AUX_TAIL, 8),
];

/// Memory made of little-endian 64-bit words: the user page followed by the data pages, or an
/// AUX area. Every access is atomic (relaxed unless the protocol says otherwise), so a
/// producer and a consumer on different threads never race; the byte image is exactly what a
/// process sees through its mapping.
#[derive(Debug)]
pub struct Words {
    words: Box<[AtomicU64]>,
}

impl Words {
    /// Zeroed memory of `bytes` bytes (a multiple of 8).
    pub fn zeroed(bytes: usize) -> Self {
        debug_assert!(bytes % 8 == 0);
        let words = (0..bytes / 8).map(|_| AtomicU64::new(0)).collect::<Vec<_>>().into_boxed_slice();
        Words { words }
    }

    /// Size in bytes.
    pub fn len_bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// Load the u64 at word index `w`.
    #[inline]
    pub fn load(&self, w: usize, o: Ordering) -> u64 {
        u64::from_le(self.words[w].load(o))
    }

    /// Store `v` at word index `w`.
    #[inline]
    pub fn store(&self, w: usize, v: u64, o: Ordering) {
        self.words[w].store(v.to_le(), o)
    }

    /// The words from index `from` on (the data area of a ring).
    #[inline]
    pub(crate) fn words_from(&self, from: usize) -> &[AtomicU64] {
        &self.words[from..]
    }

    /// Read one byte at byte offset `off`.
    pub fn byte(&self, off: usize) -> u8 {
        self.load(off / 8, Ordering::Relaxed).to_le_bytes()[off % 8]
    }

    /// Write one byte at byte offset `off` (single writer per word: a relaxed read-modify-write).
    pub fn set_byte(&self, off: usize, b: u8) {
        let mut le = self.load(off / 8, Ordering::Relaxed).to_le_bytes();
        le[off % 8] = b;
        self.store(off / 8, u64::from_le_bytes(le), Ordering::Relaxed);
    }

    /// Copy `out.len()` bytes starting at byte offset `off` (no wrap) into `out`.
    pub fn read_bytes(&self, off: usize, out: &mut [u8]) {
        let mut i = 0;
        while i < out.len() {
            let p = off + i;
            if p % 8 == 0 && out.len() - i >= 8 {
                out[i..i + 8].copy_from_slice(&self.load(p / 8, Ordering::Relaxed).to_le_bytes());
                i += 8;
            } else {
                out[i] = self.byte(p);
                i += 1;
            }
        }
    }

    /// Write `data` starting at byte offset `off` (no wrap).
    pub fn write_bytes(&self, off: usize, data: &[u8]) {
        let mut i = 0;
        while i < data.len() {
            let p = off + i;
            if p % 8 == 0 && data.len() - i >= 8 {
                let v = u64::from_le_bytes(data[i..i + 8].try_into().expect("8 bytes"));
                self.store(p / 8, v, Ordering::Relaxed);
                i += 8;
            } else {
                self.set_byte(p, data[i]);
                i += 1;
            }
        }
    }

    /// Read a field of `size` bytes (2, 4 or 8) at byte offset `off`, zero-extended.
    pub fn read_field(&self, off: usize, size: usize) -> u64 {
        let mut b = [0u8; 8];
        self.read_bytes(off, &mut b[..size]);
        u64::from_le_bytes(b)
    }

    /// Write a field of `size` bytes (2, 4 or 8) at byte offset `off`.
    pub fn write_field(&self, off: usize, size: usize, v: u64) {
        self.write_bytes(off, &v.to_le_bytes()[..size]);
    }

    /// Pointer to the first byte, for a read-only zero-copy view (`memoryview`).
    ///
    /// The memory is a boxed slice that never moves or shrinks while `self` lives. Readers
    /// through this pointer see what a process sees through its mapping: records are complete
    /// only below an acquired `data_head`.
    #[cfg(not(loom))]
    pub fn as_ptr(&self) -> *const u8 {
        self.words.as_ptr() as *const u8
    }
}

/// Counter and time values the kernel copies into the user page (the fields written by
/// perf_event_update_userpage()).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserPageCounters {
    /// `index`: hardware counter + 1 when rdpmc is usable, else 0.
    pub index: u32,
    /// `offset`: count minus the hardware counter's previous value.
    pub offset: i64,
    /// `time_enabled`, including children.
    pub time_enabled: u64,
    /// `time_running`, including children.
    pub time_running: u64,
    /// `capabilities` (bit 1, `cap_bit0_is_deprecated`, is always forced on).
    pub capabilities: u64,
    /// `pmc_width`.
    pub pmc_width: u16,
}

/// Initialise the user page as perf_event_init_userpage() does.
pub fn init_userpage(mem: &Words, data_size: u64) {
    mem.write_field(OFF_CAPABILITIES, 8, CAP_BIT0_IS_DEPRECATED);
    mem.write_field(OFF_SIZE, 4, u64::from(USER_PAGE_STRUCT_SIZE));
    mem.write_field(OFF_DATA_OFFSET, 8, crate::abi::PAGE_SIZE as u64);
    mem.write_field(OFF_DATA_SIZE, 8, data_size);
}

/// Write the counter block under the `lock` seqcount: +1 (odd: update in progress), the
/// fields, +1 again, as perf_event_update_userpage() does.
pub fn update_userpage(mem: &Words, c: &UserPageCounters) {
    let lock = mem.read_field(OFF_LOCK, 4) as u32;
    mem.write_field(OFF_LOCK, 4, u64::from(lock.wrapping_add(1)));
    mem.write_field(OFF_INDEX, 4, u64::from(c.index));
    mem.write_field(OFF_OFFSET, 8, c.offset as u64);
    mem.write_field(OFF_TIME_ENABLED, 8, c.time_enabled);
    mem.write_field(OFF_TIME_RUNNING, 8, c.time_running);
    mem.write_field(OFF_CAPABILITIES, 8, (c.capabilities & !CAP_BIT0) | CAP_BIT0_IS_DEPRECATED);
    mem.write_field(OFF_PMC_WIDTH, 2, u64::from(c.pmc_width));
    mem.write_field(OFF_LOCK, 4, u64::from(lock.wrapping_add(2)));
}

/// The user page's fields by name (`version` .. `aux_size`).
pub fn read_userpage(mem: &Words) -> Vec<(&'static str, u64)> {
    let mut v: Vec<(&'static str, u64)> =
        USER_PAGE_FIELDS.iter().map(|(n, off, sz)| (*n, mem.read_field(*off, *sz))).collect();
    v.push(("aux_offset", mem.read_field(OFF_AUX_OFFSET, 8)));
    v.push(("aux_size", mem.read_field(OFF_AUX_SIZE, 8)));
    v
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn init_then_update_leaves_lock_at_two_and_abi_values() {
        let m = Words::zeroed(4096);
        init_userpage(&m, 8 * 4096);
        update_userpage(&m, &UserPageCounters::default());
        assert_eq!(m.read_field(OFF_LOCK, 4), 2);
        assert_eq!(m.read_field(OFF_SIZE, 4), 96);
        assert_eq!(m.read_field(OFF_DATA_OFFSET, 8), 4096);
        assert_eq!(m.read_field(OFF_DATA_SIZE, 8), 32768);
        assert_eq!(m.read_field(OFF_CAPABILITIES, 8), 2);
        assert_eq!(m.read_field(OFF_VERSION, 4), 0);
        // the byte image is little-endian at the uapi offset
        let mut b = [0u8; 8];
        // SAFETY: the pointer covers the 4096 bytes of `m`, alive for this scope.
        let img = unsafe { std::slice::from_raw_parts(m.as_ptr(), 4096) };
        b.copy_from_slice(&img[1048..1056]);
        assert_eq!(u64::from_le_bytes(b), 32768);
    }

    #[test]
    fn byte_writes_round_trip_unaligned() {
        let m = Words::zeroed(64);
        let data: Vec<u8> = (1..=29).collect();
        m.write_bytes(3, &data);
        let mut out = vec![0u8; 29];
        m.read_bytes(3, &mut out);
        assert_eq!(out, data);
        assert_eq!(m.byte(2), 0);
        assert_eq!(m.byte(32), 0);
    }
}
