//! Property tests of the group rbtree: after every operation the red-black invariants hold
//! (root black, no red-red, equal black height, BST order, parent links, cached leftmost) and
//! the in-order sequence equals a sorted `Vec` oracle; `first`/`next`/`visit_merge` agree with
//! filters over the oracle.

use perfcore::ctx::groups::{cpu_heads, task_heads, GroupKey, GroupTree, VisitStats};
use perfcore::ctx::rbtree::NodeId;
use proptest::prelude::*;
use std::ops::ControlFlow;

#[derive(Clone, Debug)]
enum Op {
    Insert { cpu: i32, pmu: u32, cgroup: Option<u64> },
    Delete(usize),
    Rotate(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (-1i32..3, 0u32..3, prop::option::of(1u64..4)).prop_map(|(cpu, pmu, cgroup)| Op::Insert { cpu, pmu, cgroup }),
        2 => any::<usize>().prop_map(Op::Delete),
        1 => any::<usize>().prop_map(Op::Rotate),
    ]
}

struct Model {
    tree: GroupTree<u32>,
    oracle: Vec<(GroupKey, u32)>,
    handles: Vec<(u32, NodeId)>,
    next_val: u32,
    counter: u64,
}

impl Model {
    fn insert(&mut self, cpu: i32, pmu: u32, cgroup: Option<u64>) {
        let v = self.next_val;
        self.next_val += 1;
        let (n, key) = self.tree.insert(cpu, pmu, cgroup, v);
        self.counter += 1;
        assert_eq!(key.group_index, self.counter, "group_index is the per-tree counter");
        self.oracle.push((key, v));
        self.oracle.sort();
        self.handles.push((v, n));
    }

    fn delete(&mut self, i: usize) -> Option<(GroupKey, u32)> {
        if self.handles.is_empty() {
            return None;
        }
        let (v, n) = self.handles.swap_remove(i % self.handles.len());
        let (k, got) = self.tree.delete(n).expect("live handle");
        assert_eq!(got, v);
        self.oracle.retain(|&(_, x)| x != v);
        Some((k, v))
    }

    fn check(&self) {
        self.tree.check().unwrap();
        let seq: Vec<(GroupKey, u32)> = self.tree.iter().map(|(_, k, v)| (k, v)).collect();
        assert_eq!(seq, self.oracle);
        let lm = self.tree.leftmost();
        assert_eq!(lm.is_nil(), self.oracle.is_empty());
        if !lm.is_nil() {
            assert_eq!(self.tree.val(lm), self.oracle[0].1);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn tree_matches_sorted_oracle_after_every_op(ops in prop::collection::vec(op(), 1..200)) {
        let mut m = Model { tree: GroupTree::new(), oracle: vec![], handles: vec![], next_val: 0, counter: 0 };
        for o in ops {
            match o {
                Op::Insert { cpu, pmu, cgroup } => m.insert(cpu, pmu, cgroup),
                Op::Delete(i) => { m.delete(i); }
                Op::Rotate(i) => {
                    // rotate_ctx(): delete + insert moves the group to the tail of its subtree.
                    if let Some((k, _)) = m.delete(i) {
                        m.insert(k.cpu, k.pmu, k.cgroup);
                        let last = m.oracle.iter().rfind(|(x, _)| (x.cpu, x.pmu, x.cgroup) == (k.cpu, k.pmu, k.cgroup)).unwrap();
                        prop_assert_eq!(last.1, m.next_val - 1, "rotated group is last in its subtree");
                    }
                }
            }
            m.check();
        }
    }

    #[test]
    fn first_next_and_merge_match_filters(
        ops in prop::collection::vec((-1i32..3, 0u32..3, prop::option::of(1u64..4)), 0..120),
        dels in prop::collection::vec(any::<usize>(), 0..30),
        qcpu in 0i32..3, qpmu in 0u32..3, qcg in prop::option::of(1u64..4), any_pmu in any::<bool>(),
    ) {
        let mut m = Model { tree: GroupTree::new(), oracle: vec![], handles: vec![], next_val: 0, counter: 0 };
        for (c, p, g) in ops { m.insert(c, p, g); }
        for d in dels { m.delete(d); }
        // first / next over one {cpu, pmu, cgroup} subtree (or any pmu)
        let pmu = if any_pmu { None } else { Some(qpmu) };
        let want: Vec<u32> = m.oracle.iter()
            .filter(|(k, _)| k.cpu == qcpu && pmu.is_none_or(|p| k.pmu == p) && k.cgroup == qcg)
            .map(|(_, v)| *v).collect();
        let mut got = Vec::new();
        let mut n = m.tree.first(qcpu, pmu, qcg);
        if pmu.is_some() {
            while !n.is_nil() { got.push(m.tree.val(n)); n = m.tree.next(n, pmu); }
            prop_assert_eq!(got, want);
        } else {
            prop_assert_eq!(if n.is_nil() { None } else { Some(m.tree.val(n)) }, want.first().copied());
        }
        // task-context merge: {-1} and {cpu} subtrees, no cgroup, by group_index
        let mut want: Vec<(u64, u32)> = m.oracle.iter()
            .filter(|(k, _)| (k.cpu == -1 || k.cpu == qcpu) && k.pmu == qpmu && k.cgroup.is_none())
            .map(|(k, v)| (k.group_index, *v)).collect();
        want.sort();
        let mut got = Vec::new();
        let mut st = VisitStats::default();
        let _ = m.tree.visit_merge::<(), _>(&task_heads(qcpu), qpmu, false, &mut st, |_, v| { got.push(v); ControlFlow::Continue(()) });
        prop_assert_eq!(&got, &want.iter().map(|x| x.1).collect::<Vec<_>>());
        prop_assert_eq!(st.visited as usize, got.len());
        // CPU-context merge: no-cgroup plus the path [3, 1] (cgroup 3 under 1), not cgroup 2
        let path = [3u64, 1];
        let mut want: Vec<(u64, u32)> = m.oracle.iter()
            .filter(|(k, _)| k.cpu == qcpu && k.pmu == qpmu && k.cgroup.is_none_or(|c| path.contains(&c)))
            .map(|(k, v)| (k.group_index, *v)).collect();
        want.sort();
        let mut got = Vec::new();
        let mut st = VisitStats::default();
        let _ = m.tree.visit_merge::<(), _>(&cpu_heads(qcpu, &path), qpmu, false, &mut st, |_, v| { got.push(v); ControlFlow::Continue(()) });
        prop_assert_eq!(got, want.iter().map(|x| x.1).collect::<Vec<_>>());
        prop_assert!(st.lookups == 3);
    }
}
