//! Per-cache statistics in the shape of `/proc/slabinfo` (version 2.1). Models
//! `get_slabinfo()` in mm/slub.c and `cache_show()` in mm/slab_common.c: SLUB counts every
//! object of a CPU slab or CPU partial slab as active, and only free objects on the node
//! partial list as free. The model adds the exact number of allocated objects and the bytes
//! lost to padding and slab tails. Facts: spec/task-data-slab-page-size.md §B.1, §B.3.

use std::fmt::Write as _;

/// One row of `/proc/slabinfo` plus perfcore's extra columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlabInfo {
    /// Cache name.
    pub name: String,
    /// `active_objs`: `num_objs` minus free objects on the node partial list (SLUB's count).
    pub active_objs: usize,
    /// `num_objs`: object slots in all slabs.
    pub num_objs: usize,
    /// `objsize`: the object stride `s->size` (not `object_size`).
    pub objsize: usize,
    /// `objperslab`.
    pub objperslab: usize,
    /// `pagesperslab` = `1 << order`.
    pub pagesperslab: usize,
    /// `active_slabs` (SLUB reports all slabs).
    pub active_slabs: usize,
    /// `num_slabs`.
    pub num_slabs: usize,
    /// Objects really allocated right now (exact; not a /proc column).
    pub inuse_objs: usize,
    /// `s->object_size`, the size the caller asked for.
    pub object_size: usize,
    /// Bytes of padding in all slots: `num_objs * (objsize - object_size)`.
    pub padding_bytes: usize,
    /// Bytes unused at the end of the slabs: `num_slabs * (slab bytes - objperslab * objsize)`.
    pub tail_waste_bytes: usize,
    /// Bytes of all slabs.
    pub total_bytes: usize,
    /// Slabs that are some CPU's current slab.
    pub cpu_slabs: usize,
    /// Slabs on per-CPU partial lists.
    pub cpu_partial_slabs: usize,
    /// Slabs on the node partial list.
    pub node_partial_slabs: usize,
    /// Slabs with no free object that are on no list.
    pub full_slabs: usize,
}

impl SlabInfo {
    /// The line `/proc/slabinfo` would print for this cache (tunables are 0 under SLUB,
    /// `sharedavail` is 0).
    pub fn proc_line(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "{:<17} {:>6} {:>6} {:>6} {:>4} {:>4} : tunables {:>4} {:>4} {:>4} : slabdata {:>6} {:>6} {:>6}",
            self.name,
            self.active_objs,
            self.num_objs,
            self.objsize,
            self.objperslab,
            self.pagesperslab,
            0,
            0,
            0,
            self.active_slabs,
            self.num_slabs,
            0
        );
        s
    }

    /// The header lines of `/proc/slabinfo`.
    pub fn proc_header() -> &'static str {
        "slabinfo - version: 2.1\n# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>"
    }
}

/// Render rows as the text of `/proc/slabinfo`.
pub fn format_proc_slabinfo(rows: &[SlabInfo]) -> String {
    let mut s = String::from(SlabInfo::proc_header());
    for r in rows {
        s.push('\n');
        s.push_str(&r.proc_line());
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_line_has_the_eleven_numbers_in_order() {
        let r = SlabInfo {
            name: "x86_lbr".into(),
            active_objs: 39,
            num_objs: 78,
            objsize: 832,
            objperslab: 39,
            pagesperslab: 8,
            active_slabs: 2,
            num_slabs: 2,
            inuse_objs: 1,
            object_size: 788,
            padding_bytes: 78 * 44,
            tail_waste_bytes: 640,
            total_bytes: 65536,
            cpu_slabs: 1,
            cpu_partial_slabs: 0,
            node_partial_slabs: 1,
            full_slabs: 0,
        };
        let line = r.proc_line();
        let nums: Vec<u64> = line.split_whitespace().filter_map(|t| t.parse().ok()).collect();
        assert_eq!(nums, vec![39, 78, 832, 39, 8, 0, 0, 0, 2, 2, 0]);
        assert!(line.starts_with("x86_lbr "));
        assert!(format_proc_slabinfo(&[r]).starts_with("slabinfo - version: 2.1\n"));
    }
}
