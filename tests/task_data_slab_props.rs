//! Property: random attach/detach/fork/exit sequences over the slab backend leave no live
//! object after teardown, and the slab's own counters show every object freed exactly once
//! (allocs == frees in both the blob cache and kmalloc-64; a double free would be rejected by
//! the slab and panic in the allocator). Also a multi-threaded drive of the shared allocator.

use perfcore::task_data::{BlobBackend, LbrBlob, SlabBlobAlloc, TaskDataAlloc, TaskDataTable};
use proptest::prelude::*;
use std::sync::Arc;

const N: u32 = 8;

#[derive(Clone, Debug)]
enum Op {
    AttachTask(u32),
    DetachTask(u32),
    AttachGlobal,
    DetachGlobal,
    Fork(u32, u32),
    Exit(u32),
    Sync,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..N).prop_map(Op::AttachTask),
        (0..N).prop_map(Op::DetachTask),
        Just(Op::AttachGlobal),
        Just(Op::DetachGlobal),
        (0..N, 0..N).prop_map(|(p, c)| Op::Fork(p, c)),
        (0..N).prop_map(Op::Exit),
        Just(Op::Sync),
    ]
}

fn backend() -> impl Strategy<Value = (BlobBackend, LbrBlob)> {
    (
        prop_oneof![Just(BlobBackend::KmemCache), Just(BlobBackend::Kzalloc)],
        prop_oneof![Just(LbrBlob::Legacy), Just(LbrBlob::ArchXsave), Just(LbrBlob::Claim788)],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn teardown_leaves_the_slab_empty((be, blob) in backend(), cpus in 1usize..5, ops in prop::collection::vec(op(), 0..60)) {
        let a = Arc::new(SlabBlobAlloc::lbr(be, blob, cpus).unwrap());
        let c: Arc<dyn TaskDataAlloc> = a.clone();
        let t = TaskDataTable::new(N);
        let mut alive = [false; N as usize];
        let mut per_task = [0u32; N as usize];
        let mut global = 0u32;
        for i in 0..3 {
            t.spawn(i).unwrap();
            alive[i as usize] = true;
        }
        for o in ops {
            match o {
                Op::AttachTask(x) if alive[x as usize] => {
                    t.attach_task_ctx_data(x, &c, false).unwrap();
                    per_task[x as usize] += 1;
                }
                Op::DetachTask(x) if per_task[x as usize] > 0 => {
                    t.detach_task_ctx_data(x).unwrap();
                    per_task[x as usize] -= 1;
                }
                Op::AttachGlobal => {
                    t.attach_global_ctx_data(&c).unwrap();
                    global += 1;
                }
                Op::DetachGlobal if global > 0 => {
                    t.detach_global_ctx_data().unwrap();
                    global -= 1;
                }
                Op::Fork(p, ch) if alive[p as usize] && !alive[ch as usize] => {
                    t.fork(p, ch).unwrap();
                    alive[ch as usize] = true;
                }
                // Per-task events are closed before their task exits in this model.
                Op::Exit(x) if alive[x as usize] && per_task[x as usize] == 0 => {
                    t.exit_task(x).unwrap();
                    alive[x as usize] = false;
                }
                Op::Sync => t.synchronize(),
                _ => {}
            }
        }
        for (x, n) in per_task.iter().enumerate() {
            for _ in 0..*n {
                t.detach_task_ctx_data(x as u32).unwrap();
            }
        }
        for _ in 0..global {
            t.detach_global_ctx_data().unwrap();
        }
        t.synchronize();
        let (blob_live, kmalloc_live) = a.inuse();
        prop_assert_eq!(kmalloc_live, 0);
        if be == BlobBackend::KmemCache {
            prop_assert_eq!(blob_live, 0);
        }
        let bc = a.blob_counters();
        let hc = a.header_counters();
        prop_assert_eq!(bc.allocs, bc.frees);
        prop_assert_eq!(hc.allocs, hc.frees);
        let st = a.stats();
        prop_assert_eq!(st.allocs, st.frees);
        prop_assert_eq!(bc.allocs, st.allocs, "every blob came from the slab");
        prop_assert_eq!(hc.allocs, st.allocs, "one kmalloc-64 header per blob");
        let (bi, hi) = a.slabinfo();
        prop_assert_eq!(bi.inuse_objs, 0);
        prop_assert_eq!(hi.inuse_objs, 0);
        let left = a.shrink();
        prop_assert_eq!(left, (be == BlobBackend::KmemCache).then_some(0), "released slabs are all empty");
    }
}

#[test]
fn threads_share_the_locked_allocator() {
    let a = Arc::new(SlabBlobAlloc::lbr(BlobBackend::KmemCache, LbrBlob::ArchXsave, 4).unwrap());
    let c: Arc<dyn TaskDataAlloc> = a.clone();
    let t = Arc::new(TaskDataTable::new(64));
    for i in 0..64 {
        t.spawn(i).unwrap();
    }
    std::thread::scope(|s| {
        for w in 0..4u32 {
            let (t, c) = (Arc::clone(&t), Arc::clone(&c));
            s.spawn(move || {
                for round in 0..20 {
                    for task in (w * 16)..(w * 16 + 16) {
                        t.attach_task_ctx_data(task, &c, false).unwrap();
                    }
                    if round % 5 == 0 {
                        t.attach_global_ctx_data(&c).unwrap();
                        t.detach_global_ctx_data().unwrap();
                    }
                    for task in (w * 16)..(w * 16 + 16) {
                        t.detach_task_ctx_data(task).unwrap();
                    }
                }
            });
        }
    });
    t.synchronize();
    assert_eq!(a.inuse(), (0, 0));
    let bc = a.blob_counters();
    assert!(bc.allocs >= 64 * 20, "each round allocates per task");
    assert_eq!(bc.allocs, bc.frees);
}
