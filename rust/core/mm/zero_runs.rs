//! Tool-side checks over a stream of sampled page sizes: the "many consecutive page sizes of 0"
//! detector that the 8d97e71811aa commit message says the perf tool has (it was not found in
//! tools/perf: spec/task-data-slab-page-size.md §C.5 and §D item 3, so this is perfcore's own
//! version of it), and a per-page-size histogram like `perf report --sort data_page_size`.

use std::collections::BTreeMap;

/// A run of consecutive samples whose page size is 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZeroRun {
    /// Index of the first sample of the run.
    pub start: usize,
    /// Number of samples in the run.
    pub len: usize,
    /// The most likely cause, as a sentence.
    pub cause: &'static str,
}

/// Cause when every sample in the run had data address 0.
pub const CAUSE_NO_ADDRESS: &str = "the PMU supplied no data address (data->addr is 0): the event \
    does not record memory addresses (not a PEBS/IBS memory event) or the sampled instructions \
    had no memory operand";
/// Cause when the whole stream is zero.
pub const CAUSE_WHOLE_STREAM: &str = "every sample has page size 0: the kernel cannot walk page \
    tables for this architecture (no CONFIG_HAVE_GUP_FAST, or no pXd_leaf_size hooks) or the PMU \
    supplies no data addresses";
/// Cause for a run inside an otherwise resolving stream.
pub const CAUSE_WRONG_TABLES: &str = "the walked page tables are not the ones in use: \
    current->mm->pgd differs from the PGD the CPU runs on (e.g. Address Space Isolation), or a \
    kernel thread was running (lazy TLB: user addresses are walked in init_mm and give 0), or \
    the memory was unmapped before the sample was taken";

/// Find every run of at least `min_run` consecutive zero page sizes (`min_run` 0 counts as 1).
/// `addrs`, if given (same length as `sizes`), are the sampled addresses and sharpen the cause.
pub fn find_zero_runs(sizes: &[u64], addrs: Option<&[u64]>, min_run: usize) -> Vec<ZeroRun> {
    let min_run = min_run.max(1);
    let mut out = Vec::new();
    let mut i = 0;
    while i < sizes.len() {
        if sizes[i] != 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < sizes.len() && sizes[i] == 0 {
            i += 1;
        }
        let len = i - start;
        if len < min_run {
            continue;
        }
        let no_addr = addrs.and_then(|a| a.get(start..i)).is_some_and(|a| a.iter().all(|&x| x == 0));
        let cause = if no_addr {
            CAUSE_NO_ADDRESS
        } else if len == sizes.len() {
            CAUSE_WHOLE_STREAM
        } else {
            CAUSE_WRONG_TABLES
        };
        out.push(ZeroRun { start, len, cause });
    }
    out
}

/// Samples per page size (0 = "N/A"), sorted by size.
pub fn page_size_histogram(sizes: &[u64]) -> BTreeMap<u64, u64> {
    let mut h = BTreeMap::new();
    for &s in sizes {
        *h.entry(s).or_insert(0) += 1;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_found_with_start_and_length() {
        let s = [4096, 0, 0, 0, 2 << 20, 0, 0, 4096, 0];
        let r = find_zero_runs(&s, None, 2);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].start, r[0].len), (1, 3));
        assert_eq!((r[1].start, r[1].len), (5, 2));
        assert_eq!(r[0].cause, CAUSE_WRONG_TABLES);
        assert_eq!(find_zero_runs(&s, None, 1).len(), 3);
    }

    #[test]
    fn causes_follow_the_evidence() {
        assert_eq!(find_zero_runs(&[0, 0, 0], None, 3)[0].cause, CAUSE_WHOLE_STREAM);
        let r = find_zero_runs(&[4096, 0, 0], Some(&[1, 0, 0]), 2);
        assert_eq!(r[0].cause, CAUSE_NO_ADDRESS);
        assert!(find_zero_runs(&[], None, 1).is_empty());
    }

    #[test]
    fn histogram_counts_each_size() {
        let h = page_size_histogram(&[0, 4096, 4096, 1 << 30]);
        assert_eq!(h.into_iter().collect::<Vec<_>>(), vec![(0, 1), (4096, 2), (1 << 30, 1)]);
    }
}
