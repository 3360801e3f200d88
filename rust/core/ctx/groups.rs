//! The event-group tree of a context: one red-black tree per context and kind (pinned or
//! flexible) holding group **leaders only**, keyed `{cpu, pmu, cgroup, group_index}`.
//!
//! Models, in kernel/events/core.c: `perf_event_groups_cmp()` (the derived `Ord` of
//! [`GroupKey`]: cpu as a signed int so -1 sorts first, then pmu, then cgroup with "none"
//! first and ids ascending, then `group_index`), `perf_event_groups_insert()` (a per-tree
//! counter gives the first leader index 1 and every insert the next index, so a leader always
//! lands last in its `{cpu, pmu, cgroup}` subtree), `perf_event_groups_delete()` (the caller
//! resets the event's `group_index` to 0), `perf_event_groups_first()` / `_next()`
//! (`rb_find_first` / `rb_next_match` with `__group_cmp`, where a pmu of `None` in the search
//! key matches every PMU), `__group_cmp_ignore_cgroup()` (used by `ctx_event_to_rotate()`), and
//! `visit_groups_merge()`: a min-heap merge **by group_index only** of several subtree
//! iterators — `{-1, pmu}` and `{cpu, pmu}` for a task context, `{cpu, pmu, none}` plus
//! `{cpu, pmu, cg}` for the current cgroup and every ancestor for the CPU context — skipped
//! entirely when the PMU's `filter(cpu)` says so (hybrid PMUs, spec §7).
//!
//! Spec: context-and-scheduling.md §2. PMUs are ordered by a stable id (the kernel uses the
//! `struct pmu` address: arbitrary but stable).

use super::rbtree::{NodeId, RbTree};
use std::cmp::Ordering;
use std::ops::ControlFlow;

/// The tree key. Field order is the comparison order of `perf_event_groups_cmp()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// `event->cpu`; -1 ("any CPU", task contexts only) sorts before every CPU.
    pub cpu: i32,
    /// The PMU of the leader's epc (`event->pmu_ctx->pmu`), as a stable id.
    pub pmu: u32,
    /// The event's cgroup id; `None` sorts before every cgroup.
    pub cgroup: Option<u64>,
    /// Insertion order within the tree (`++groups->index`).
    pub group_index: u64,
}

/// The tree's internal key: [`GroupKey`] packed into three `u64` words whose lexicographic
/// order is exactly `GroupKey`'s (cpu biased by 2^31 so -1 sorts first, then pmu; cgroup
/// `None` as 0 and `Some(id)` as id + 1; group_index). Three word compares instead of four
/// field compares with an `Option`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Packed {
    cpu_pmu: u64,
    cg: u64,
    idx: u64,
}

#[inline]
fn pack_cpu_pmu(cpu: i32, pmu: u32) -> u64 {
    ((cpu as i64 + (1i64 << 31)) as u64) << 32 | u64::from(pmu)
}

#[inline]
fn pack_cg(cg: Option<u64>) -> u64 {
    // ids are < u64::MAX in practice; saturate so the order stays monotone.
    cg.map_or(0, |c| c.saturating_add(1))
}

impl Packed {
    #[inline]
    fn new(k: &GroupKey) -> Self {
        Packed { cpu_pmu: pack_cpu_pmu(k.cpu, k.pmu), cg: pack_cg(k.cgroup), idx: k.group_index }
    }

    #[inline]
    fn cpu(&self) -> i32 {
        ((self.cpu_pmu >> 32) as i64 - (1i64 << 31)) as i32
    }

    #[inline]
    fn pmu(&self) -> u32 {
        self.cpu_pmu as u32
    }

    #[inline]
    fn key(&self) -> GroupKey {
        GroupKey {
            cpu: self.cpu(),
            pmu: self.pmu(),
            cgroup: if self.cg == 0 { None } else { Some(self.cg - 1) },
            group_index: self.idx,
        }
    }
}

/// Counters a tree walk adds to (engine statistics: "tree visits").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VisitStats {
    /// Group leaders handed to the visit function.
    pub visited: u64,
    /// Tree nodes probed while looking up subtree heads.
    pub probes: u64,
    /// Subtree head lookups (`perf_event_groups_first()` calls).
    pub lookups: u64,
}

impl VisitStats {
    /// Add another set of counters into this one.
    pub fn add(&mut self, o: &VisitStats) {
        self.visited += o.visited;
        self.probes += o.probes;
        self.lookups += o.lookups;
    }
}

/// One `struct perf_event_groups`: the rbtree plus its index counter. `V` is what a node
/// carries (an event id in the engine).
#[derive(Clone, Debug)]
pub struct GroupTree<V> {
    tree: RbTree<Packed, V>,
    index: u64,
}

impl<V: Copy + Default> Default for GroupTree<V> {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn cmp_subtree(node: &Packed, cpu: i32, pmu: Option<u32>, cgroup: Option<u64>) -> Ordering {
    // How `node` orders against the search key {cpu, pmu, cgroup} (`__group_cmp()` reversed:
    // Less means the node sorts before the key). A `None` pmu matches every PMU.
    match pmu {
        Some(p) => (node.cpu_pmu, node.cg).cmp(&(pack_cpu_pmu(cpu, p), pack_cg(cgroup))),
        None => match node.cpu().cmp(&cpu) {
            Ordering::Equal => node.cg.cmp(&pack_cg(cgroup)),
            o => o,
        },
    }
}

impl<V: Copy + Default> GroupTree<V> {
    /// An empty tree (`perf_event_groups_init()`: index 0).
    pub fn new() -> Self {
        GroupTree { tree: RbTree::new(), index: 0 }
    }

    /// An empty tree with arena room for `n` leaders (no reallocation until then).
    pub fn with_capacity(n: usize) -> Self {
        GroupTree { tree: RbTree::with_capacity(n), index: 0 }
    }

    /// Number of leaders in the tree.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// True when no leader is in the tree.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// The last index handed out (`groups->index`).
    pub fn index_counter(&self) -> u64 {
        self.index
    }

    /// Insert a leader (`perf_event_groups_insert()`): it gets the next group_index.
    /// Returns its node handle and key.
    pub fn insert(&mut self, cpu: i32, pmu: u32, cgroup: Option<u64>, val: V) -> (NodeId, GroupKey) {
        self.index += 1;
        let key = GroupKey { cpu, pmu, cgroup, group_index: self.index };
        (self.tree.insert(Packed::new(&key), val), key)
    }

    /// Remove a leader by handle (`perf_event_groups_delete()`); the caller resets the event's
    /// group_index to 0. `None` for a stale handle.
    pub fn delete(&mut self, node: NodeId) -> Option<(GroupKey, V)> {
        self.tree.remove(node).map(|(k, v)| (k.key(), v))
    }

    /// Key of a live node.
    pub fn key(&self, node: NodeId) -> GroupKey {
        self.tree.key(node).key()
    }

    /// Value of a live node.
    pub fn val(&self, node: NodeId) -> V {
        self.tree.val(node)
    }

    /// The smallest node of the whole tree, O(1) (cached leftmost).
    pub fn leftmost(&self) -> NodeId {
        self.tree.first()
    }

    /// `perf_event_groups_first(cpu, pmu, cgroup)`: the leftmost node of the `{cpu, pmu,
    /// cgroup}` subtree; with `pmu == None` the leftmost node with that cpu and cgroup under
    /// any PMU. NIL if none.
    pub fn first(&self, cpu: i32, pmu: Option<u32>, cgroup: Option<u64>) -> NodeId {
        self.first_counted(cpu, pmu, cgroup, &mut VisitStats::default())
    }

    /// [`first`](Self::first) that also counts probes into `stats`.
    pub fn first_counted(&self, cpu: i32, pmu: Option<u32>, cgroup: Option<u64>, stats: &mut VisitStats) -> NodeId {
        stats.lookups += 1;
        if pmu.is_some() {
            let (n, probes) = self.tree.find_first_by(|k| cmp_subtree(k, cpu, pmu, cgroup));
            stats.probes += u64::from(probes);
            return n;
        }
        // Any PMU: within the cpu range the order is (pmu, cgroup), so jump PMU by PMU.
        let mut p = 0u32;
        loop {
            let target = (pack_cpu_pmu(cpu, p), pack_cg(cgroup));
            let n = self.tree.lower_bound_by(|k| (k.cpu_pmu, k.cg).cmp(&target));
            stats.probes += 1;
            if n.is_nil() {
                return n;
            }
            let k = self.tree.key(n).key();
            if k.cpu != cpu {
                return NodeId::NIL;
            }
            if k.pmu == p && k.cgroup == cgroup {
                return n;
            }
            if k.pmu > p {
                // The next PMU present: retry with its id (its cgroup may still match).
                p = k.pmu;
                continue;
            }
            match p.checked_add(1) {
                Some(np) => p = np,
                None => return NodeId::NIL,
            }
        }
    }

    /// `perf_event_groups_next(event, pmu)`: the in-order successor if it still matches
    /// `{node.cpu, pmu (any if None), node.cgroup}`, else NIL.
    #[inline]
    pub fn next(&self, node: NodeId, pmu: Option<u32>) -> NodeId {
        let k = *self.tree.key(node);
        let n = self.tree.next(node);
        if n.is_nil() {
            return n;
        }
        let nk = self.tree.key(n);
        let same = match pmu {
            Some(p) => nk.cpu_pmu == pack_cpu_pmu(k.cpu(), p) && nk.cg == k.cg,
            None => nk.cpu() == k.cpu() && nk.cg == k.cg,
        };
        if same {
            n
        } else {
            NodeId::NIL
        }
    }

    /// The first node of `{cpu, pmu}` ignoring cgroup (`__group_cmp_ignore_cgroup()`, used by
    /// `ctx_event_to_rotate()`).
    pub fn first_ignore_cgroup(&self, cpu: i32, pmu: u32) -> NodeId {
        let target = pack_cpu_pmu(cpu, pmu);
        self.tree.find_first_by(|k| k.cpu_pmu.cmp(&target)).0
    }

    /// Whole-tree in-order iteration (`perf_event_groups_for_each()`).
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, GroupKey, V)> + '_ {
        self.tree.iter().map(|(n, k, v)| (n, k.key(), v))
    }

    /// The red-black and order invariants (see [`RbTree::check`]) plus: every group_index is
    /// unique and not above the counter.
    pub fn check(&self) -> Result<usize, String> {
        let bh = self.tree.check()?;
        let mut seen: Vec<u64> = self.iter().map(|(_, k, _)| k.group_index).collect();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return Err("duplicate group_index".into());
        }
        if seen.last().is_some_and(|&m| m > self.index || m == 0) {
            return Err("group_index out of range".into());
        }
        Ok(bh)
    }

    /// `visit_groups_merge()`: call `func` on every leader of the given `{cpu, cgroup}`
    /// subtrees of `pmu`, in ascending group_index (a min-heap merge of one iterator per
    /// non-empty subtree). `skip` is the PMU's `filter(cpu)` answer: when true nothing is
    /// visited. `func` may stop the walk by returning `ControlFlow::Break`.
    ///
    /// Use [`task_heads`] or [`cpu_heads`] for the subtree list.
    pub fn visit_merge<B, F>(
        &self,
        heads: &[(i32, Option<u64>)],
        pmu: u32,
        skip: bool,
        stats: &mut VisitStats,
        mut func: F,
    ) -> ControlFlow<B>
    where
        F: FnMut(NodeId, V) -> ControlFlow<B>,
    {
        if skip {
            return ControlFlow::Continue(());
        }
        // Small fixed heap for the common cases (task ctx: 2, CPU ctx: 1 + cgroup depth).
        let mut inline: [(u64, NodeId); 8] = [(0, NodeId::NIL); 8];
        let mut spill: Vec<(u64, NodeId)> = Vec::new();
        let heap: &mut [(u64, NodeId)];
        let mut n = 0usize;
        if heads.len() <= inline.len() {
            for &(cpu, cg) in heads {
                let h = self.first_counted(cpu, Some(pmu), cg, stats);
                if !h.is_nil() {
                    inline[n] = (self.tree.key(h).idx, h);
                    n += 1;
                }
            }
            heap = &mut inline[..n];
        } else {
            for &(cpu, cg) in heads {
                let h = self.first_counted(cpu, Some(pmu), cg, stats);
                if !h.is_nil() {
                    spill.push((self.tree.key(h).idx, h));
                }
            }
            n = spill.len();
            heap = &mut spill[..];
        }
        // heapify (min by group_index)
        for i in (0..n / 2).rev() {
            sift_down(heap, n, i);
        }
        let mut len = n;
        while len > 0 {
            let (_, top) = heap[0];
            stats.visited += 1;
            func(top, self.tree.val(top))?;
            let nx = self.next(top, Some(pmu));
            if nx.is_nil() {
                len -= 1;
                heap[0] = heap[len];
            } else {
                heap[0] = (self.tree.key(nx).idx, nx);
            }
            sift_down(heap, len, 0);
        }
        ControlFlow::Continue(())
    }
}

#[inline]
fn sift_down(h: &mut [(u64, NodeId)], len: usize, mut i: usize) {
    loop {
        let l = 2 * i + 1;
        if l >= len {
            return;
        }
        let r = l + 1;
        let m = if r < len && h[r].0 < h[l].0 { r } else { l };
        if h[m].0 < h[i].0 {
            h.swap(m, i);
            i = m;
        } else {
            return;
        }
    }
}

/// Subtree heads visited for a **task** context on `cpu`: `{-1}` then `{cpu}`, no cgroup.
pub fn task_heads(cpu: i32) -> [(i32, Option<u64>); 2] {
    [(-1, None), (cpu, None)]
}

/// Subtree heads visited for the **CPU** context on `cpu`: `{cpu, none}` then, for the CPU's
/// current cgroup path (current cgroup first, then each ancestor up to the root),
/// `{cpu, cg}`.
pub fn cpu_heads(cpu: i32, cgroup_path: &[u64]) -> Vec<(i32, Option<u64>)> {
    let mut v = Vec::with_capacity(1 + cgroup_path.len());
    v.push((cpu, None));
    v.extend(cgroup_path.iter().map(|&c| (cpu, Some(c))));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_leader_gets_index_one_and_order_is_cpu_pmu_cgroup_index() {
        let mut t: GroupTree<u32> = GroupTree::new();
        let (_, k1) = t.insert(0, 4, None, 1);
        assert_eq!(k1.group_index, 1);
        t.insert(-1, 4, None, 2);
        t.insert(0, 4, Some(7), 3);
        t.insert(0, 4, None, 4);
        t.insert(0, 2, None, 5);
        let order: Vec<u32> = t.iter().map(|(_, _, v)| v).collect();
        assert_eq!(order, vec![2, 5, 1, 4, 3]);
        t.check().unwrap();
    }

    #[test]
    fn merge_visits_any_cpu_and_this_cpu_by_index_only() {
        let mut t: GroupTree<u32> = GroupTree::new();
        t.insert(0, 4, None, 10); // idx 1
        t.insert(-1, 4, None, 20); // idx 2
        t.insert(1, 4, None, 99); // idx 3, other CPU
        t.insert(0, 4, None, 30); // idx 4
        t.insert(-1, 6, None, 98); // idx 5, other PMU
        t.insert(-1, 4, None, 40); // idx 6
        let mut seen = Vec::new();
        let mut st = VisitStats::default();
        let _ = t.visit_merge::<(), _>(&task_heads(0), 4, false, &mut st, |_, v| {
            seen.push(v);
            ControlFlow::Continue(())
        });
        assert_eq!(seen, vec![10, 20, 30, 40]);
        assert_eq!(st.visited, 4);
        seen.clear();
        let _ = t.visit_merge::<(), _>(&task_heads(0), 4, true, &mut st, |_, v| {
            seen.push(v);
            ControlFlow::Continue(())
        });
        assert!(seen.is_empty(), "a filtered PMU visits nothing");
    }

    #[test]
    fn first_with_any_pmu() {
        let mut t: GroupTree<u32> = GroupTree::new();
        t.insert(0, 9, Some(3), 1);
        t.insert(0, 2, Some(5), 2);
        t.insert(0, 5, Some(3), 3);
        let n = t.first(0, None, Some(3));
        assert_eq!(t.val(n), 3);
        assert!(t.first(0, None, Some(4)).is_nil());
        assert!(t.first(1, None, None).is_nil());
    }
}
