//! The perf.data file header (`struct perf_file_header`, 104 bytes, native = little endian):
//! magic `PERFILE2`, header size, the size of one attrs-section entry, the attrs / data /
//! event_types sections and the 256-bit `adds_features` bitmap. Models what
//! tools/perf/util/header.c perf_file_header__read() accepts and perf_session__write_header()
//! writes; facts: spec/ring-buffer-aux-records.md §8.1, tools/perf/Documentation/perf.data-file-format.txt.

use crate::error::{Error, Result};

/// `PERFILE2`, the magic of a version-2 file written on a little-endian machine.
pub const PERF_MAGIC: [u8; 8] = *b"PERFILE2";
/// Size of `struct perf_file_header` with the feature bitmap.
pub const PERF_FILE_HEADER_SIZE: u64 = 104;
/// Size of `struct perf_pipe_file_header` (pipe mode: magic + size only).
pub const PERF_PIPE_HEADER_SIZE: u64 = 16;
/// Size of one `struct perf_file_section` (`u64 offset, size`).
pub const PERF_FILE_SECTION_SIZE: u64 = 16;
/// Bits of the `adds_features` bitmap (`HEADER_FEAT_BITS`).
pub const HEADER_FEAT_BITS: u32 = 256;

// Feature bits (`enum HEADER_*` of tools/perf/util/header.h, perf 6.1).
pub const HEADER_TRACING_DATA: u32 = 1;
pub const HEADER_BUILD_ID: u32 = 2;
pub const HEADER_HOSTNAME: u32 = 3;
pub const HEADER_OSRELEASE: u32 = 4;
pub const HEADER_VERSION: u32 = 5;
pub const HEADER_ARCH: u32 = 6;
pub const HEADER_NRCPUS: u32 = 7;
pub const HEADER_CPUDESC: u32 = 8;
pub const HEADER_CPUID: u32 = 9;
pub const HEADER_TOTAL_MEM: u32 = 10;
pub const HEADER_CMDLINE: u32 = 11;
pub const HEADER_EVENT_DESC: u32 = 12;
pub const HEADER_SAMPLE_TIME: u32 = 21;
/// `HEADER_LAST_FEATURE` of perf 6.1: bits at or above it are unknown to that perf (skipped).
pub const HEADER_LAST_FEATURE: u32 = 32;

/// Names of the feature bits below [`HEADER_LAST_FEATURE`], as `perf report --header` spells them.
pub const FEATURE_NAMES: [&str; HEADER_LAST_FEATURE as usize] = [
    "RESERVED",
    "TRACING_DATA",
    "BUILD_ID",
    "HOSTNAME",
    "OSRELEASE",
    "VERSION",
    "ARCH",
    "NRCPUS",
    "CPUDESC",
    "CPUID",
    "TOTAL_MEM",
    "CMDLINE",
    "EVENT_DESC",
    "CPU_TOPOLOGY",
    "NUMA_TOPOLOGY",
    "BRANCH_STACK",
    "PMU_MAPPINGS",
    "GROUP_DESC",
    "AUXTRACE",
    "STAT",
    "CACHE",
    "SAMPLE_TIME",
    "MEM_TOPOLOGY",
    "CLOCKID",
    "DIR_FORMAT",
    "BPF_PROG_INFO",
    "BPF_BTF",
    "COMPRESSED",
    "CPU_PMU_CAPS",
    "CLOCK_DATA",
    "HYBRID_TOPOLOGY",
    "PMU_CAPS",
];

/// The name of feature `bit` (`FEATURE_<bit>` past the ones perf 6.1 knows).
pub fn feature_name(bit: u32) -> String {
    match FEATURE_NAMES.get(bit as usize) {
        Some(n) => (*n).to_string(),
        None => format!("FEATURE_{bit}"),
    }
}

/// `struct perf_file_section`: where a part of the file is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileSection {
    pub offset: u64,
    pub size: u64,
}

impl FileSection {
    /// Parse 16 bytes (`b` must hold them).
    pub fn from_bytes(b: &[u8]) -> Self {
        FileSection { offset: le64(&b[0..8]), size: le64(&b[8..16]) }
    }

    /// The 16 bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.offset.to_le_bytes());
        b[8..].copy_from_slice(&self.size.to_le_bytes());
        b
    }

    /// Check that the section lies inside a file of `file_len` bytes; `what` names it and
    /// `at` is the file offset of the section descriptor, for the error.
    pub fn check_within(self, what: &str, at: u64, file_len: u64) -> Result<()> {
        match self.offset.checked_add(self.size) {
            Some(end) if end <= file_len => Ok(()),
            _ => Err(Error::perf_data(
                at,
                format!(
                    "{what} section {{offset {:#x}, size {}}} ends past the end of the {file_len}-byte file",
                    self.offset, self.size
                ),
            )),
        }
    }

    /// One past the last byte (saturating; only meaningful after [`FileSection::check_within`]).
    pub fn end(self) -> u64 {
        self.offset.saturating_add(self.size)
    }
}

/// `struct perf_file_header`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileHeader {
    /// Bytes of one attrs-section entry (`attr.size + 16`): only used to count the entries.
    pub attr_size: u64,
    pub attrs: FileSection,
    pub data: FileSection,
    /// Obsolete; written as zero.
    pub event_types: FileSection,
    /// The `adds_features` bitmap (bit n of the file is bit n%64 of word n/64).
    pub adds_features: [u64; 4],
}

pub(crate) fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

pub(crate) fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[..4].try_into().expect("4 bytes"))
}

impl FileHeader {
    /// Whether feature `bit` is set.
    pub fn has_feature(&self, bit: u32) -> bool {
        bit < HEADER_FEAT_BITS && self.adds_features[(bit / 64) as usize] & (1u64 << (bit % 64)) != 0
    }

    /// Set feature `bit` (< 256).
    pub fn set_feature(&mut self, bit: u32) {
        self.adds_features[(bit / 64) as usize] |= 1u64 << (bit % 64);
    }

    /// The set feature bits in ascending order: the order of the feature section table.
    pub fn feature_bits(&self) -> Vec<u32> {
        (0..HEADER_FEAT_BITS).filter(|&b| self.has_feature(b)).collect()
    }

    /// The 104 header bytes.
    pub fn to_bytes(&self) -> [u8; PERF_FILE_HEADER_SIZE as usize] {
        let mut b = [0u8; PERF_FILE_HEADER_SIZE as usize];
        b[0..8].copy_from_slice(&PERF_MAGIC);
        b[8..16].copy_from_slice(&PERF_FILE_HEADER_SIZE.to_le_bytes());
        b[16..24].copy_from_slice(&self.attr_size.to_le_bytes());
        b[24..40].copy_from_slice(&self.attrs.to_bytes());
        b[40..56].copy_from_slice(&self.data.to_bytes());
        b[56..72].copy_from_slice(&self.event_types.to_bytes());
        for (i, w) in self.adds_features.iter().enumerate() {
            b[72 + 8 * i..80 + 8 * i].copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    /// Parse and validate the header from the first bytes of a file of `file_len` bytes
    /// (`b` holds `min(file_len, 104)` bytes). Checks the magic (a byte-swapped magic is a
    /// big-endian file: unsupported; `PERFFILE` is the version-1 format), the header size
    /// (a 16-byte header is pipe mode: unsupported here), and that every section lies inside
    /// the file, so later reads never trust a size the file cannot back.
    pub fn parse(b: &[u8], file_len: u64) -> Result<FileHeader> {
        if b.len() < 8 {
            return Err(Error::perf_data(
                0,
                format!("magic: the file has {} bytes, too short for the 8-byte magic", b.len()),
            ));
        }
        // cannot fire: an 8-byte slice, length checked above
        let magic: [u8; 8] = b[0..8].try_into().expect("8");
        if magic != PERF_MAGIC {
            let mut swapped = PERF_MAGIC;
            swapped.reverse();
            let why = if magic == swapped {
                "is byte-swapped: a big-endian perf.data file, which perfcore does not support (little-endian only)"
                    .to_string()
            } else if &magic == b"PERFFILE" {
                "is PERFFILE: the version-1 perf.data format, which perfcore does not support".to_string()
            } else {
                format!("{magic:02x?} is not PERFILE2: not a perf.data file")
            };
            return Err(Error::perf_data(0, format!("magic {why}")));
        }
        if b.len() < 16 {
            return Err(Error::perf_data(8, format!("size: the file ends at byte {} inside the header", b.len())));
        }
        let size = le64(&b[8..16]);
        if size == PERF_PIPE_HEADER_SIZE {
            return Err(Error::perf_data(
                8,
                "size 16 is a pipe-mode header (perf record -o -); perfcore reads file-mode perf.data only",
            ));
        }
        if size != PERF_FILE_HEADER_SIZE {
            return Err(Error::perf_data(
                8,
                format!(
                    "size {size} is not {PERF_FILE_HEADER_SIZE} (struct perf_file_header): incompatible file format"
                ),
            ));
        }
        if (b.len() as u64) < PERF_FILE_HEADER_SIZE {
            return Err(Error::perf_data(
                b.len() as u64,
                format!("the file has {} bytes, fewer than the {PERF_FILE_HEADER_SIZE}-byte header", b.len()),
            ));
        }
        let mut adds_features = [0u64; 4];
        for (i, w) in adds_features.iter_mut().enumerate() {
            *w = le64(&b[72 + 8 * i..]);
        }
        let h = FileHeader {
            attr_size: le64(&b[16..24]),
            attrs: FileSection::from_bytes(&b[24..40]),
            data: FileSection::from_bytes(&b[40..56]),
            event_types: FileSection::from_bytes(&b[56..72]),
            adds_features,
        };
        if h.attr_size == 0 {
            return Err(Error::perf_data(16, "attr_size is 0 (the size of one attrs-section entry)"));
        }
        h.attrs.check_within("attrs", 24, file_len)?;
        h.data.check_within("data", 40, file_len)?;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_have_the_documented_offsets() {
        let mut h = FileHeader {
            attr_size: 144,
            attrs: FileSection { offset: 120, size: 144 },
            data: FileSection { offset: 264, size: 1056 },
            ..Default::default()
        };
        h.set_feature(HEADER_SAMPLE_TIME);
        h.set_feature(200);
        let b = h.to_bytes();
        assert_eq!(&b[0..8], b"PERFILE2");
        assert_eq!(le64(&b[8..]), 104);
        assert_eq!(le64(&b[16..]), 144);
        assert_eq!((le64(&b[24..]), le64(&b[32..])), (120, 144));
        assert_eq!((le64(&b[40..]), le64(&b[48..])), (264, 1056));
        assert_eq!(le64(&b[72..]), 1 << 21);
        assert_eq!(le64(&b[96..]), 1 << (200 - 192));
        assert_eq!(FileHeader::parse(&b, 4096).unwrap(), h);
        assert_eq!(h.feature_bits(), vec![21, 200]);
    }

    #[test]
    fn big_endian_pipe_and_foreign_magics_are_named() {
        let mut b = FileHeader { attr_size: 144, ..Default::default() }.to_bytes();
        b[0..8].copy_from_slice(b"2ELIFREP");
        assert!(FileHeader::parse(&b, 104).unwrap_err().to_string().contains("big-endian"));
        b[0..8].copy_from_slice(b"PERFILE2");
        b[8..16].copy_from_slice(&16u64.to_le_bytes());
        assert!(FileHeader::parse(&b, 104).unwrap_err().to_string().contains("pipe-mode"));
        let e = FileHeader::parse(b"ELF", 3).unwrap_err();
        assert!(matches!(e, Error::PerfData { offset: 0, .. }), "{e}");
    }

    #[test]
    fn sections_past_the_end_of_the_file_are_rejected_before_use() {
        let h = FileHeader { attr_size: 144, attrs: FileSection { offset: 104, size: 1 << 60 }, ..Default::default() };
        let e = FileHeader::parse(&h.to_bytes(), 4096).unwrap_err().to_string();
        assert!(e.contains("attrs section") && e.contains("1152921504606846976"), "{e}");
        let h = FileHeader { attr_size: 144, data: FileSection { offset: u64::MAX, size: 2 }, ..Default::default() };
        assert!(FileHeader::parse(&h.to_bytes(), 4096).unwrap_err().to_string().contains("data section"));
    }
}
