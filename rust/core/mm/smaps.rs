//! Reader of `/proc/PID/smaps` (the format of `show_smap()` in fs/proc/task_mmu.c) and the
//! builder of a perfcore address space from it, so a study can start from a real process's
//! layout: each range becomes a VMA (hugetlb when `KernelPageSize` is above 4 kB), populated
//! when it has resident pages (`Rss`, or the hugetlb counters), and `AnonHugePages` /
//! `FilePmdMapped` / `ShmemPmdMapped` become that many 2 MiB PMD leaves.
//!
//! Approximations (smaps gives totals, not positions): a range with any resident page is
//! populated in full, and its huge pages are placed in its first 2 MiB-aligned blocks.

use super::mmap::{MapKind, MMAP_MIN_ADDR};
use super::pgtable::{SIZE_2M, SIZE_4K};
use super::spaces::{AddressSpaces, MmId};
use crate::{Error, Result};

/// One range of smaps with the fields the model uses (sizes in bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmapsRange {
    /// First address.
    pub start: u64,
    /// End (exclusive).
    pub end: u64,
    /// Permissions, e.g. "r-xp".
    pub perms: String,
    /// Inode of the backing file (0 for anonymous memory).
    pub inode: u64,
    /// Path or pseudo-path ("[heap]", "[stack]", ...), empty if none.
    pub path: String,
    /// `KernelPageSize`.
    pub kernel_page_size: u64,
    /// `Rss`.
    pub rss: u64,
    /// `AnonHugePages`.
    pub anon_huge_pages: u64,
    /// `FilePmdMapped`.
    pub file_pmd_mapped: u64,
    /// `ShmemPmdMapped`.
    pub shmem_pmd_mapped: u64,
    /// `Shared_Hugetlb` + `Private_Hugetlb`.
    pub hugetlb: u64,
}

fn bad(line: usize, what: String) -> Error {
    Error::Usage(format!("smaps line {line}: {what}"))
}

fn parse_header(line: usize, s: &str) -> Result<Option<SmapsRange>> {
    let mut f = s.split_whitespace();
    let Some(range) = f.next() else {
        return Ok(None);
    };
    let Some((a, b)) = range.split_once('-') else {
        return Ok(None);
    };
    let (Ok(start), Ok(end)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
        return Ok(None);
    };
    let perms = f.next().ok_or_else(|| bad(line, format!("range {range} has no permissions field")))?;
    let _offset = f.next().ok_or_else(|| bad(line, format!("range {range} has no offset field")))?;
    let _dev = f.next().ok_or_else(|| bad(line, format!("range {range} has no device field")))?;
    let inode = f.next().ok_or_else(|| bad(line, format!("range {range} has no inode field")))?;
    let inode: u64 = inode.parse().map_err(|_| bad(line, format!("inode {inode:?} is not a number")))?;
    if end <= start {
        return Err(bad(line, format!("range {range} ends before it starts")));
    }
    let path = f.collect::<Vec<_>>().join(" ");
    Ok(Some(SmapsRange { start, end, perms: perms.to_string(), inode, path, ..SmapsRange::default() }))
}

/// Parse smaps text. Any line that is neither a range header nor a `Key: value` line, a key
/// before the first header, or a `kB` field that is not a number is an error naming the line.
pub fn parse_smaps(text: &str) -> Result<Vec<SmapsRange>> {
    let mut out: Vec<SmapsRange> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end();
        if line.is_empty() {
            continue;
        }
        if let Some(r) = parse_header(n, line)? {
            out.push(r);
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(bad(
                n,
                format!("expected `start-end perms offset dev inode [path]` or `Key: value`, got {line:?}"),
            ));
        };
        if key.contains(char::is_whitespace) || key.is_empty() {
            return Err(bad(
                n,
                format!("expected `start-end perms offset dev inode [path]` or `Key: value`, got {line:?}"),
            ));
        }
        let Some(cur) = out.last_mut() else {
            return Err(bad(n, format!("field {key:?} comes before any range header")));
        };
        let value = value.trim();
        let Some(num) = value.strip_suffix("kB") else {
            continue;
        };
        let kb: u64 = num.trim().parse().map_err(|_| bad(n, format!("{key} value {value:?} is not a number of kB")))?;
        let bytes = kb.checked_mul(1024).ok_or_else(|| bad(n, format!("{key} value {kb} kB overflows")))?;
        match key {
            "KernelPageSize" => cur.kernel_page_size = bytes,
            "Rss" => cur.rss = bytes,
            "AnonHugePages" => cur.anon_huge_pages = bytes,
            "FilePmdMapped" => cur.file_pmd_mapped = bytes,
            "ShmemPmdMapped" => cur.shmem_pmd_mapped = bytes,
            "Shared_Hugetlb" | "Private_Hugetlb" => cur.hugetlb += bytes,
            _ => {}
        }
    }
    Ok(out)
}

/// What building an mm from smaps did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmapsBuild {
    /// The new address space.
    pub mm: Option<MmId>,
    /// Ranges mapped.
    pub mapped: usize,
    /// Ranges left out and why (e.g. `[vsyscall]`, which lies in the kernel half).
    pub skipped: Vec<(u64, String)>,
    /// 2 MiB blocks made PMD leaves from the THP counters.
    pub huge_blocks: u64,
}

impl AddressSpaces {
    /// A new mm holding the layout of `ranges` (from [`parse_smaps`]).
    pub fn mm_from_smaps(&self, ranges: &[SmapsRange]) -> Result<SmapsBuild> {
        let mm = self.new_mm()?;
        let mut b = SmapsBuild { mm: Some(mm), ..SmapsBuild::default() };
        let top = self.paging().task_size_max();
        for r in ranges {
            if r.end > top || r.start < MMAP_MIN_ADDR {
                b.skipped.push((r.start, format!("{} {:#x}-{:#x} is outside the user range", r.path, r.start, r.end)));
                continue;
            }
            let huge = r.kernel_page_size > SIZE_4K;
            let (kind, ps, populate) = if huge {
                (MapKind::Hugetlb, r.kernel_page_size, r.hugetlb > 0 || r.rss > 0)
            } else if r.inode != 0 && !r.path.is_empty() && !r.path.starts_with('[') {
                (MapKind::File, SIZE_4K, r.rss > 0)
            } else {
                (MapKind::Anon, SIZE_4K, r.rss > 0)
            };
            if let Err(e) = self.mmap(mm, r.start, r.end - r.start, ps, kind, populate) {
                b.skipped.push((r.start, format!("{} {:#x}-{:#x}: {e}", r.path, r.start, r.end)));
                continue;
            }
            b.mapped += 1;
            let want = (r.anon_huge_pages + r.file_pmd_mapped + r.shmem_pmd_mapped) / SIZE_2M;
            let mut block = r.start.div_ceil(SIZE_2M) * SIZE_2M;
            let mut got = 0;
            while got < want && block + SIZE_2M <= r.end {
                got += self.collapse(mm, block, SIZE_2M)?;
                block += SIZE_2M;
            }
            b.huge_blocks += got;
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
00400000-00600000 rw-p 00000000 00:00 0 
Size:               2048 kB
KernelPageSize:        4 kB
Rss:                2048 kB
AnonHugePages:      2048 kB
VmFlags: rd wr mr mw me ac
7f0000000000-7f0000001000 r--p 00000000 08:01 1234                       /usr/lib/x.so
KernelPageSize:        4 kB
Rss:                   4 kB
THPeligible:    0
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
Rss:                   0 kB
";

    #[test]
    fn parses_ranges_and_fields() {
        let r = parse_smaps(SAMPLE).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].start, r[0].end), (0x400000, 0x600000));
        assert_eq!(r[0].anon_huge_pages, 2 << 20);
        assert_eq!(r[1].path, "/usr/lib/x.so");
        assert_eq!(r[1].inode, 1234);
        assert_eq!(r[2].path, "[vsyscall]");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_smaps("00400000-00600000 rw-p 00000000 00:00 0\nRss: lots kB\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse_smaps("Rss: 4 kB\n").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = parse_smaps("00400000-00600000 rw-p 00000000 00:00 0\nthis is junk\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse_smaps("00600000-00400000 rw-p 00000000 00:00 0\n").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
