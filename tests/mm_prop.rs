//! Property test: random mmap / munmap / collapse / split sequences, then the walker's answer
//! for many addresses must equal a ranges-list oracle (sorted VMAs with their page sizes plus
//! the set of collapsed 2 MiB blocks), the step walker must agree with the fast walker, kernel
//! addresses must resolve the same in every mm, and page-table pages must all come back after
//! everything is unmapped and a grace period ends.

use perfcore::mm::{AddressSpaces, MapKind, MmConfig, Paging, TaskMmView, SIZE_1G, SIZE_2M, SIZE_4K};
use perfcore::Errno;
use proptest::prelude::*;
use std::collections::BTreeSet;

const BASE: u64 = SIZE_1G;

#[derive(Clone, Debug)]
enum Op {
    Mmap { addr: u64, len: u64, ps: u64, kind: MapKind, populate: bool },
    Munmap { addr: u64, len: u64 },
    Collapse { addr: u64, len: u64 },
    Split { addr: u64 },
}

fn addr_strategy() -> impl Strategy<Value = u64> {
    (0u64..2, 0u64..4, 0u64..512).prop_map(|(g, i, j)| BASE + g * SIZE_1G + i * SIZE_2M + j * SIZE_4K)
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (addr_strategy(), 1u64..1200, any::<bool>(), any::<bool>()).prop_map(|(addr, n, file, populate)| Op::Mmap {
            addr, len: n * SIZE_4K, ps: SIZE_4K, kind: if file { MapKind::File } else { MapKind::Anon }, populate }),
        2 => (addr_strategy(), 1u64..4, any::<bool>()).prop_map(|(a, n, populate)| Op::Mmap {
            addr: a & !(SIZE_2M - 1), len: n * SIZE_2M, ps: SIZE_2M, kind: MapKind::Hugetlb, populate }),
        1 => (0u64..3, any::<bool>()).prop_map(|(g, populate)| Op::Mmap {
            addr: BASE + g * SIZE_1G, len: SIZE_1G, ps: SIZE_1G, kind: MapKind::Hugetlb, populate }),
        3 => (addr_strategy(), 1u64..1500).prop_map(|(addr, n)| Op::Munmap { addr, len: n * SIZE_4K }),
        3 => (addr_strategy(), 1u64..2000).prop_map(|(addr, n)| Op::Collapse { addr, len: n * SIZE_4K }),
        2 => addr_strategy().prop_map(|addr| Op::Split { addr }),
    ]
}

/// Mostly single ops, sometimes an aligned populated anon mmap followed by a collapse over it
/// (so THP blocks appear often).
fn ops_strategy() -> impl Strategy<Value = Vec<Op>> {
    let thp = (addr_strategy(), 1u64..4).prop_map(|(a, n)| {
        let a = a & !(SIZE_2M - 1);
        vec![
            Op::Mmap { addr: a, len: n * SIZE_2M, ps: SIZE_4K, kind: MapKind::Anon, populate: true },
            Op::Collapse { addr: a, len: n * SIZE_2M },
        ]
    });
    let one = op_strategy().prop_map(|o| vec![o]);
    prop::collection::vec(prop_oneof![4 => one, 1 => thp], 1..20).prop_map(|v| v.into_iter().flatten().collect())
}

#[derive(Clone, Debug, PartialEq)]
struct Vma {
    start: u64,
    end: u64,
    kind: MapKind,
    ps: u64,
    populated: bool,
}

#[derive(Default, Debug)]
struct Oracle {
    vmas: Vec<Vma>,
    huge: BTreeSet<u64>,
}

impl Oracle {
    fn unmap(&mut self, a: u64, e: u64) -> Result<(), Errno> {
        for v in &self.vmas {
            if v.kind == MapKind::Hugetlb && v.start < e && v.end > a {
                for cut in [a, e] {
                    if cut > v.start && cut < v.end && cut % v.ps != 0 {
                        return Err(Errno::EINVAL);
                    }
                }
            }
        }
        self.huge.retain(|&b| !(b < e && b + SIZE_2M > a));
        let mut out = Vec::new();
        for v in self.vmas.drain(..) {
            if v.end <= a || v.start >= e {
                out.push(v);
                continue;
            }
            if v.start < a {
                out.push(Vma { end: a, ..v.clone() });
            }
            if v.end > e {
                out.push(Vma { start: e, ..v });
            }
        }
        self.vmas = out;
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<u64, Errno> {
        match *op {
            Op::Mmap { addr, len, ps, kind, populate } => {
                self.unmap(addr, addr + len)?;
                self.vmas.push(Vma { start: addr, end: addr + len, kind, ps, populated: populate });
                Ok(0)
            }
            Op::Munmap { addr, len } => self.unmap(addr, addr + len).map(|_| 0),
            Op::Collapse { addr, len } => {
                let mut n = 0;
                let mut b = addr.div_ceil(SIZE_2M) * SIZE_2M;
                while b + SIZE_2M <= addr + len {
                    let ok = self
                        .vmas
                        .iter()
                        .any(|v| v.kind != MapKind::Hugetlb && v.populated && v.start <= b && v.end >= b + SIZE_2M);
                    if ok && self.huge.insert(b) {
                        n += 1;
                    }
                    b += SIZE_2M;
                }
                Ok(n)
            }
            Op::Split { addr } => {
                if self.vmas.iter().any(|v| v.kind == MapKind::Hugetlb && v.start <= addr && addr < v.end) {
                    return Err(Errno::EINVAL);
                }
                Ok(self.huge.remove(&(addr & !(SIZE_2M - 1))) as u64)
            }
        }
    }

    fn page_size(&self, x: u64) -> u64 {
        match self.vmas.iter().find(|v| v.start <= x && x < v.end) {
            None => 0,
            Some(v) if !v.populated => 0,
            Some(v) if v.kind == MapKind::Hugetlb => v.ps,
            Some(_) if self.huge.contains(&(x & !(SIZE_2M - 1))) => SIZE_2M,
            Some(_) => SIZE_4K,
        }
    }
}

fn run(s: &AddressSpaces, mm: perfcore::mm::MmId, op: &Op) -> Result<u64, Errno> {
    let r = match *op {
        Op::Mmap { addr, len, ps, kind, populate } => s.mmap(mm, addr, len, ps, kind, populate).map(|_| 0),
        Op::Munmap { addr, len } => s.munmap(mm, addr, len).map(|_| 0),
        Op::Collapse { addr, len } => s.collapse(mm, addr, len),
        Op::Split { addr } => s.split(mm, addr).map(|b| b as u64),
    };
    r.map_err(|e| e.errno().expect("only kernel errors expected"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn walker_agrees_with_the_ranges_oracle(
        five in any::<bool>(),
        ops in ops_strategy(),
        probes in prop::collection::vec(BASE..BASE + 4 * SIZE_1G, 64),
    ) {
        let paging = if five { Paging::FiveLevel } else { Paging::FourLevel };
        let s = AddressSpaces::new(MmConfig { paging, ..MmConfig::default() }).unwrap();
        let tables_at_start = s.stats().tables_live;
        let mm = s.new_mm().unwrap();
        let other = s.new_mm().unwrap();
        let mut o = Oracle::default();
        let u = TaskMmView::user(mm);
        for op in &ops {
            prop_assert_eq!(run(&s, mm, op), o.apply(op), "{:?}", op);
            let mut pts = probes.clone();
            for v in &o.vmas {
                pts.extend([v.start, v.end - 1, v.end, v.start.saturating_sub(1)]);
            }
            for &x in &pts {
                prop_assert_eq!(s.perf_get_page_size(u, x), o.page_size(x), "addr {:#x} after {:?}", x, op);
                prop_assert_eq!(s.perf_get_page_size(TaskMmView::user(other), x), 0);
                prop_assert_eq!(s.perf_get_page_size(TaskMmView::kernel_thread(Some(mm)), x), 0);
            }
            let irq = s.irq_off();
            for &x in pts.iter().take(16) {
                prop_assert_eq!(s.begin_walk(&irq, mm, x).finish(), s.perf_get_pgtable_size(&irq, mm, x));
            }
        }
        for r in s.kernel_regions() {
            let x = r.start + r.size / 3;
            for m in [mm, other] {
                prop_assert_eq!(s.perf_get_page_size(TaskMmView::user(m), x), r.page_size);
            }
        }
        s.drop_mm(mm).unwrap();
        s.drop_mm(other).unwrap();
        s.synchronize().unwrap();
        prop_assert_eq!(s.stats().tables_live, tables_at_start, "every page-table page came back");
    }
}
