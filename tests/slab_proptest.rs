//! Random alloc / zalloc / free / misuse / shrink sequences against an interval-set oracle:
//! live objects never overlap, every object is aligned to the cache's alignment, the bytes a
//! caller wrote survive until free, misuse is an error that changes nothing, the slabinfo
//! columns agree with each other and with the oracle, and everything can be freed at the end.

use perfcore::slab::{KmemCache, SlabFlags};
use perfcore::Error;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
enum Op {
    Alloc { cpu: usize, zero: bool },
    Free { pick: usize, cpu: usize },
    FreeInterior { pick: usize, delta: usize },
    DoubleFree { cpu: usize },
    Shrink,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0usize..8, any::<bool>()).prop_map(|(cpu, zero)| Op::Alloc { cpu, zero }),
        4 => (any::<usize>(), 0usize..8).prop_map(|(pick, cpu)| Op::Free { pick, cpu }),
        1 => (any::<usize>(), 1usize..64).prop_map(|(pick, delta)| Op::FreeInterior { pick, delta }),
        1 => (0usize..8).prop_map(|cpu| Op::DoubleFree { cpu }),
        1 => Just(Op::Shrink),
    ]
}

/// The byte pattern object `addr` carries while live.
fn tag(addr: usize) -> u8 {
    ((addr >> 3) as u8) | 1
}

fn check_stats(c: &KmemCache, live: &BTreeMap<usize, usize>) {
    let s = c.slabinfo();
    let l = c.layout();
    assert_eq!(s.inuse_objs, live.len());
    assert_eq!(s.num_objs, s.num_slabs * s.objperslab);
    assert_eq!((s.objsize, s.objperslab, s.pagesperslab), (l.size, l.objects, 1 << l.order));
    assert_eq!(s.cpu_slabs + s.cpu_partial_slabs + s.node_partial_slabs + s.full_slabs, s.num_slabs);
    assert!(s.active_objs >= s.inuse_objs && s.active_objs <= s.num_objs);
    assert_eq!(s.total_bytes, s.num_slabs * (4096 << l.order));
    assert_eq!(s.padding_bytes + s.tail_waste_bytes + s.num_objs * l.object_size, s.total_bytes);
    assert!(s.num_slabs * s.objperslab >= live.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_match_the_interval_oracle(
        size in 1usize..3000,
        align_shift in prop::option::of(3u32..9),
        hw in any::<bool>(),
        rz in any::<bool>(),
        nr_cpus in 1usize..9,
        ops in prop::collection::vec(op(), 1..400),
    ) {
        let mut flags = SlabFlags::empty();
        if hw { flags = flags | SlabFlags::HWCACHE_ALIGN; }
        if rz { flags = flags | SlabFlags::RED_ZONE; }
        let align = align_shift.map_or(0, |s| 1usize << s);
        let mut c = KmemCache::new("prop", size, align, flags, nr_cpus).unwrap();
        let cache_align = c.layout().align;
        prop_assert!(cache_align >= align.max(8));
        // live: start -> end (exclusive) of each allocated object.
        let mut live: BTreeMap<usize, usize> = BTreeMap::new();
        let mut freed: Vec<usize> = Vec::new();
        for op in ops {
            match op {
                Op::Alloc { cpu, zero } => {
                    let cpu = cpu % nr_cpus;
                    let a = if zero { c.zalloc(cpu).unwrap() } else { c.alloc(cpu).unwrap() };
                    prop_assert_eq!(a % cache_align, 0, "object 0x{:x} not aligned to {}", a, cache_align);
                    let end = a + size;
                    if let Some((&s, &e)) = live.range(..end).next_back() {
                        prop_assert!(e <= a || s >= end, "overlap [{:x},{:x}) with [{:x},{:x})", a, end, s, e);
                    }
                    let obj = c.object_bytes_mut(a).unwrap();
                    if zero {
                        prop_assert!(obj.iter().all(|&b| b == 0), "zalloc left nonzero bytes");
                    }
                    obj.fill(tag(a));
                    live.insert(a, end);
                    freed.retain(|&f| f != a);
                }
                Op::Free { pick, cpu } => {
                    if live.is_empty() { continue; }
                    let a = *live.keys().nth(pick % live.len()).unwrap();
                    prop_assert!(c.object_bytes(a).unwrap().iter().all(|&b| b == tag(a)), "object 0x{:x} was clobbered", a);
                    c.free(a, cpu % nr_cpus).unwrap();
                    live.remove(&a);
                    freed.push(a);
                }
                Op::FreeInterior { pick, delta } => {
                    if live.is_empty() { continue; }
                    let a = *live.keys().nth(pick % live.len()).unwrap();
                    let before = c.slabinfo();
                    // Any offset 1..stride from an object start is inside a slot, never a start.
                    let e = c.free(a + 1 + delta % (c.layout().size - 1), 0);
                    match e {
                        Err(Error::Usage(m)) => prop_assert!(m.contains("prop") && m.contains("0x"), "{}", m),
                        other => prop_assert!(false, "interior free accepted: {:?}", other),
                    }
                    prop_assert_eq!(before, c.slabinfo());
                }
                Op::DoubleFree { cpu } => {
                    let Some(&a) = freed.last() else { continue };
                    let before = c.slabinfo();
                    match c.free(a, cpu % nr_cpus) {
                        Err(Error::Usage(m)) => prop_assert!(m.contains("already free") || m.contains("not in any slab"), "{}", m),
                        other => prop_assert!(false, "double free accepted: {:?}", other),
                    }
                    prop_assert_eq!(before, c.slabinfo());
                }
                Op::Shrink => c.shrink(),
            }
            check_stats(&c, &live);
        }
        // A live cache refuses to be destroyed and lists what is left.
        if !live.is_empty() {
            let e = c.destroy().unwrap_err().to_string();
            prop_assert!(e.contains(&format!("{} objects still allocated", live.len())), "{}", e);
            let first = *live.keys().next().unwrap();
            prop_assert!(e.contains(&format!("0x{first:x}")), "{}", e);
            prop_assert_eq!(c.live_objects(), live.keys().copied().collect::<Vec<_>>());
        }
        for (&a, _) in live.iter() {
            c.free(a, 0).unwrap();
        }
        check_stats(&c, &BTreeMap::new());
        c.shrink();
        prop_assert_eq!(c.slabinfo().num_slabs, 0);
        c.destroy().unwrap();
        prop_assert!(c.alloc(0).unwrap_err().to_string().contains("destroyed"));
    }
}
