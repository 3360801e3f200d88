//! The 6.15+ perf_ctx_data protocol: per-task and global attach/detach, fork, exit, failure
//! paths and the RCU-deferred free, checked against a small independent reference model.

use perfcore::task_data::{
    global_attach_memory, GlobalWalk, StdBlobAlloc, TaskDataAlloc, TaskDataTable, PERF_CTX_DATA_KMALLOC,
};
use proptest::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn cache(size: usize, align: usize) -> (Arc<StdBlobAlloc>, Arc<dyn TaskDataAlloc>) {
    let a = Arc::new(StdBlobAlloc::checked(size, align).unwrap());
    let d: Arc<dyn TaskDataAlloc> = a.clone();
    (a, d)
}

fn table(n: u32) -> TaskDataTable {
    let t = TaskDataTable::new(n);
    for i in 0..n {
        t.spawn(i).unwrap();
    }
    t
}

#[test]
fn per_task_attach_shares_one_object_and_frees_after_a_grace_period() {
    let (a, c) = cache(800, 8);
    let t = table(2);
    t.attach_task_ctx_data(0, &c, false).unwrap();
    t.attach_task_ctx_data(0, &c, false).unwrap();
    assert_eq!(t.task_info(0).unwrap(), Some((2, false)));
    assert_eq!(a.stats().live, 1, "the second attach reuses the live object");
    assert_eq!(t.stats().direct_frees, 1, "and frees its unused fresh one directly");
    t.detach_task_ctx_data(0).unwrap();
    assert_eq!(t.task_info(0).unwrap(), Some((1, false)));
    t.detach_task_ctx_data(0).unwrap();
    assert_eq!(t.task_info(0).unwrap(), None);
    assert_eq!(t.stats().deferred_pending, 1);
    assert_eq!(a.stats().live, 1, "not freed before the grace period");
    t.synchronize();
    assert_eq!(a.stats().live, 0);
    assert_eq!(t.stats().headers_live, 0);
}

#[test]
fn global_attach_covers_every_live_thread_and_detach_releases_only_global_refs() {
    let (a, c) = cache(1512, 64);
    let t = table(6);
    t.attach_task_ctx_data(2, &c, false).unwrap();
    t.exit_task(5).unwrap();
    t.attach_global_ctx_data(&c).unwrap();
    assert_eq!(t.stats().global_ref, 1);
    for i in 0..5 {
        let expect = if i == 2 { (2, true) } else { (1, true) };
        assert_eq!(t.task_info(i).unwrap(), Some(expect), "task {i}");
    }
    assert_eq!(t.task_info(5).unwrap(), None, "PF_EXITING threads are skipped");
    t.attach_global_ctx_data(&c).unwrap();
    assert_eq!(t.stats().global_ref, 2);
    assert_eq!(a.stats().live, 5, "a second global user allocates nothing");
    t.detach_global_ctx_data().unwrap();
    assert_eq!(a.stats().live, 5);
    t.detach_global_ctx_data().unwrap();
    t.synchronize();
    assert_eq!(a.stats().live, 1);
    assert_eq!(t.task_info(2).unwrap(), Some((1, false)));
    assert!(t.detach_global_ctx_data().is_err(), "unbalanced global detach is reported");
}

#[test]
fn fork_allocates_only_while_a_global_user_exists() {
    let (_a, c) = cache(800, 8);
    let t = TaskDataTable::new(4);
    t.spawn(0).unwrap();
    t.fork(0, 1).unwrap();
    assert_eq!(t.task_info(1).unwrap(), None);
    t.attach_global_ctx_data(&c).unwrap();
    t.fork(0, 2).unwrap();
    assert_eq!(t.task_info(2).unwrap(), Some((1, true)));
    t.detach_global_ctx_data().unwrap();
    t.fork(0, 3).unwrap();
    assert_eq!(t.task_info(3).unwrap(), None);
    assert!(t.fork(0, 3).is_err(), "child already running");
    assert!(t.fork(9, 3).is_err(), "no such parent");
}

#[test]
fn exit_drops_one_reference_and_blocks_later_installs() {
    let (a, c) = cache(800, 8);
    let t = table(2);
    t.attach_global_ctx_data(&c).unwrap();
    t.attach_task_ctx_data(0, &c, false).unwrap();
    t.exit_task(0).unwrap();
    assert_eq!(t.task_info(0).unwrap(), Some((1, true)));
    // A per-task attach after exit (PF_EXITING stays set) installs and takes itself back out.
    t.exit_task(1).unwrap();
    assert_eq!(t.task_info(1).unwrap(), None);
    t.attach_task_ctx_data(1, &c, false).unwrap();
    assert_eq!(t.task_info(1).unwrap(), None);
    t.detach_global_ctx_data().unwrap();
    t.detach_task_ctx_data(0).unwrap(); // the per-task event's free: finds nothing
    t.synchronize();
    assert_eq!(a.stats().live, 0);
    assert_eq!(t.stats().refcount_underflows, 0);
    assert!(t.exit_task(0).is_err());
}

#[test]
fn failed_global_attach_undoes_everything() {
    let (a, c) = cache(800, 8);
    for fail_at in 0..4 {
        let t = table(5);
        t.attach_task_ctx_data(1, &c, false).unwrap();
        a.fail_nth(fail_at);
        let e = t.attach_global_ctx_data(&c).unwrap_err();
        assert!(e.to_string().contains("ENOMEM"), "{e}");
        a.fail_nth(u64::MAX);
        assert_eq!(t.stats().global_ref, 0);
        t.synchronize();
        assert_eq!(t.task_info(1).unwrap(), Some((1, false)), "per-task ref kept (fail at {fail_at})");
        assert_eq!(a.stats().live, 1);
        t.detach_task_ctx_data(1).unwrap();
        t.synchronize();
        assert_eq!(a.stats().live, 0);
    }
}

#[test]
fn restart_walk_is_quadratic_single_pass_linear_same_result() {
    let n = 200u64;
    for (walk, lo, hi) in [(GlobalWalk::Restart, n * n / 2, n * n * 2), (GlobalWalk::SinglePass, n, 3 * n)] {
        let (a, c) = cache(800, 8);
        let t = TaskDataTable::with_walk(n as u32, walk);
        for i in 0..n as u32 {
            t.spawn(i).unwrap();
        }
        t.attach_global_ctx_data(&c).unwrap();
        assert_eq!(t.nr_published(), n);
        let v = t.stats().walk_visits;
        assert!((lo..=hi).contains(&v), "{walk:?}: {v} visits");
        t.detach_global_ctx_data().unwrap();
        t.synchronize();
        assert_eq!(a.stats().live, 0);
    }
}

#[test]
fn ten_thousand_threads_memory_matches_the_arithmetic_and_returns_to_zero() {
    let (a, c) = cache(1512, 64);
    let (on, off) = global_attach_memory(10_000, &c, GlobalWalk::SinglePass).unwrap();
    assert_eq!(on.headers, 10_000);
    assert_eq!(on.published_blobs, 10_000);
    assert_eq!(on.header_bytes_requested, 400_000);
    assert_eq!(on.header_bytes_kmalloc, 10_000 * PERF_CTX_DATA_KMALLOC as u64);
    assert_eq!(on.blob_bytes, 15_120_000);
    assert_eq!(on.blob_align, 64);
    assert_eq!(off, Default::default());
    assert_eq!(a.stats().live, 0);
    assert_eq!(a.stats().allocs, 10_000);
    // The upstream "~8 MB" uses the 788-byte legacy blob: 10K × 788 ≈ 7.9 MB.
    let (_b, c800) = cache(788, 8);
    let (on, _) = global_attach_memory(10_000, &c800, GlobalWalk::SinglePass).unwrap();
    assert_eq!(on.blob_bytes, 7_880_000);
}

#[test]
fn bad_task_indices_are_errors() {
    let (_a, c) = cache(64, 8);
    let t = table(2);
    assert!(t.attach_task_ctx_data(7, &c, false).is_err());
    assert!(t.detach_task_ctx_data(7).is_err());
    assert!(t.exit_task(7).is_err());
    assert!(t.spawn(0).is_err(), "already running");
    assert!(t.task_info(99).is_err());
}

#[test]
fn a_reader_keeps_its_object_alive_across_a_concurrent_grace_period() {
    let (a, c) = cache(800, 8);
    let t = Arc::new(table(1));
    t.attach_task_ctx_data(0, &c, false).unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let g = t.rcu_read_lock();
        let cd = t.ctx_data(&g, 0).unwrap();
        s.spawn(|| t.detach_task_ctx_data(0).unwrap()).join().unwrap();
        let h = s.spawn(|| {
            t.synchronize();
            done.store(true, Ordering::SeqCst);
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!done.load(Ordering::SeqCst), "grace period ended while a reader was inside");
        assert_eq!(a.stats().live, 1);
        // SAFETY: this thread is the only one touching the blob; the guard keeps it alive.
        let b = unsafe { cd.blob_mut() };
        b[0] = 7;
        assert_eq!(b.len(), 800);
        drop(g);
        h.join().unwrap();
        assert!(done.load(Ordering::SeqCst));
    });
    assert_eq!(a.stats().live, 0);
}

#[test]
fn real_threads_attach_detach_fork_exit_stay_balanced() {
    let (a, c) = cache(800, 8);
    let n = 16u32;
    let t = Arc::new(TaskDataTable::new(n * 2));
    for i in 0..n {
        t.spawn(i).unwrap();
    }
    std::thread::scope(|s| {
        for w in 0..4u32 {
            let (t, c) = (&t, &c);
            s.spawn(move || {
                for round in 0..200u32 {
                    let task = (w * 7 + round) % n;
                    t.attach_task_ctx_data(task, c, false).unwrap();
                    if round % 16 == 0 {
                        t.attach_global_ctx_data(c).unwrap();
                        let _ = t.task_info(task);
                        t.detach_global_ctx_data().unwrap();
                    }
                    if round % 32 == 0 {
                        t.synchronize();
                    }
                    t.detach_task_ctx_data(task).unwrap();
                }
                // One forked child per worker, exiting again.
                let child = n + w;
                t.fork(w, child).unwrap();
                t.exit_task(child).unwrap();
            });
        }
    });
    for i in 0..n {
        t.exit_task(i).unwrap();
    }
    t.synchronize();
    assert_eq!(t.stats().refcount_underflows, 0);
    assert_eq!(t.stats().global_ref, 0);
    assert_eq!(t.nr_published(), 0);
    assert_eq!(a.stats().live, 0, "{:?} {:?}", a.stats(), t.stats());
    assert_eq!(t.stats().headers_live, 0);
}

/// Reference model: expected refcount and global flag per task.
#[derive(Clone, Debug)]
enum Op {
    Attach(u32),
    Detach(u32),
    GlobalAttach,
    GlobalDetach,
    Fork(u32),
    Exit(u32),
    Sync,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u32..6).prop_map(Op::Attach),
        3 => (0u32..6).prop_map(Op::Detach),
        1 => Just(Op::GlobalAttach),
        1 => Just(Op::GlobalDetach),
        1 => (0u32..6).prop_map(Op::Fork),
        1 => (0u32..6).prop_map(Op::Exit),
        1 => Just(Op::Sync),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn sequential_protocol_matches_the_reference_model(ops in proptest::collection::vec(op(), 1..60)) {
        let (a, c) = cache(800, 8);
        let cap = 12u32;
        let t = TaskDataTable::new(cap);
        let mut alive = vec![false; cap as usize];
        let mut used = vec![false; cap as usize];
        let mut rc = vec![0u32; cap as usize];
        let mut glob = vec![false; cap as usize];
        let mut events = vec![0u32; cap as usize];
        let mut gref = 0u32;
        for i in 0..4 { t.spawn(i).unwrap(); alive[i as usize] = true; used[i as usize] = true; }
        for o in ops {
            match o {
                Op::Attach(i) => if used[i as usize] {
                    t.attach_task_ctx_data(i, &c, false).unwrap();
                    events[i as usize] += 1;
                    // A live object is reused even on an exited task; a fresh install on an
                    // exited task (PF_EXITING) is taken back out.
                    if alive[i as usize] || rc[i as usize] > 0 { rc[i as usize] += 1; }
                },
                Op::Detach(i) => if events[i as usize] > 0 {
                    t.detach_task_ctx_data(i).unwrap();
                    events[i as usize] -= 1;
                    if rc[i as usize] > 0 { rc[i as usize] -= 1; }
                },
                Op::GlobalAttach => {
                    t.attach_global_ctx_data(&c).unwrap();
                    if gref == 0 {
                        for j in 0..cap as usize {
                            if alive[j] && !glob[j] { glob[j] = true; rc[j] += 1; }
                        }
                    }
                    gref += 1;
                }
                Op::GlobalDetach => if gref > 0 {
                    t.detach_global_ctx_data().unwrap();
                    gref -= 1;
                    if gref == 0 {
                        for j in 0..cap as usize {
                            if glob[j] && rc[j] > 0 { rc[j] -= 1; }
                            glob[j] = false;
                        }
                    }
                },
                Op::Fork(p) => if alive[p as usize] {
                    if let Some(ch) = (0..cap as usize).find(|&j| !used[j]) {
                        t.fork(p, ch as u32).unwrap();
                        alive[ch] = true; used[ch] = true;
                        if gref > 0 && rc[p as usize] > 0 { rc[ch] = 1; glob[ch] = true; }
                    }
                },
                Op::Exit(i) => if alive[i as usize] {
                    t.exit_task(i).unwrap();
                    alive[i as usize] = false;
                    if rc[i as usize] > 0 { rc[i as usize] -= 1; }
                },
                Op::Sync => t.synchronize(),
            }
            for j in 0..cap as usize {
                if rc[j] == 0 { glob[j] = false; }
                let want = (rc[j] > 0).then_some((rc[j], glob[j]));
                prop_assert_eq!(t.task_info(j as u32).unwrap(), want, "task {}", j);
            }
            prop_assert_eq!(t.stats().global_ref, gref);
        }
        // Teardown: every user goes away; every blob must be freed exactly once.
        for j in 0..cap { for _ in 0..events[j as usize] { t.detach_task_ctx_data(j).unwrap(); } }
        for _ in 0..gref { t.detach_global_ctx_data().unwrap(); }
        for j in 0..cap { if alive[j as usize] { t.exit_task(j).unwrap(); } }
        t.synchronize();
        prop_assert_eq!(t.stats().refcount_underflows, 0);
        prop_assert_eq!(a.stats().live, 0);
        prop_assert_eq!(t.stats().headers_live, 0);
    }
}
