//! LBR call-stack save/restore through task blobs (intel_pmu_lbr_sched_task semantics) and the
//! 6.2-6.14 pmu-context data with its optimised-switch swap.

use perfcore::task_data::lbr::{BlobLayout, LbrBlob, LbrCpu, LbrFormat, LBR_NONE, LBR_VALID};
use perfcore::task_data::pmu_context_data::{swap_task_ctx, CtxKind, PmuContextData};
use perfcore::task_data::{StdBlobAlloc, TaskDataAlloc};
use proptest::prelude::*;
use std::sync::Arc;

fn cache(l: BlobLayout) -> (Arc<StdBlobAlloc>, Arc<dyn TaskDataAlloc>) {
    let a = Arc::new(StdBlobAlloc::checked(l.size, l.align).unwrap());
    let d: Arc<dyn TaskDataAlloc> = a.clone();
    (a, d)
}

fn enabled(depth: u32) -> LbrCpu {
    let mut c = LbrCpu::new(depth);
    c.lbr_users = 1;
    c
}

#[test]
fn save_then_restore_brings_the_stack_back_and_skips_when_still_owner() {
    for fmt in [LbrFormat::Legacy, LbrFormat::ArchMsr, LbrFormat::ArchXsave] {
        let l = BlobLayout::new(fmt, 32).unwrap();
        let mut a = vec![0u8; l.size];
        let mut b = vec![0u8; l.size];
        let mut cpu = enabled(32);
        cpu.call(1, 10);
        cpu.call(2, 20);
        let before = cpu.branch_stack();
        {
            let mut ba = LbrBlob::new(&mut a, l).unwrap();
            cpu.sched_task(Some((&mut ba, 0xa)), false, 1);
            assert_eq!(ba.state(), LBR_VALID, "{fmt:?}");
            assert_eq!(ba.entries().len(), 2);
        }
        // Task b runs: first sched-in with LBR_NONE resets, then it makes its own call.
        {
            let mut bb = LbrBlob::new(&mut b, l).unwrap();
            cpu.sched_task(Some((&mut bb, 0xb)), true, 1);
            assert!(cpu.is_empty());
            cpu.call(3, 30);
            cpu.sched_task(Some((&mut bb, 0xb)), false, 1);
        }
        let mut ba = LbrBlob::new(&mut a, l).unwrap();
        cpu.sched_task(Some((&mut ba, 0xa)), true, 1);
        assert_eq!(cpu.branch_stack(), before, "{fmt:?}");
        assert_eq!(ba.state(), LBR_NONE, "restore consumes the saved state");
        assert_eq!(cpu.stats.restores, 1);
        // Switch a out and straight back in: the CPU still holds a's state, restore is skipped.
        cpu.sched_task(Some((&mut ba, 0xa)), false, 1);
        cpu.sched_task(Some((&mut ba, 0xa)), true, 1);
        assert_eq!(cpu.stats.restore_skips, 1);
        assert_eq!(cpu.branch_stack(), before);
    }
}

#[test]
fn deep_c_state_defeats_the_restore_skip() {
    let l = BlobLayout::new(LbrFormat::ArchXsave, 16).unwrap();
    let mut a = vec![0u8; l.size];
    let mut cpu = enabled(16);
    cpu.call(1, 10);
    let mut ba = LbrBlob::new(&mut a, l).unwrap();
    cpu.sched_task(Some((&mut ba, 1)), false, 1);
    cpu.reset();
    cpu.reset_in_cstate = true;
    cpu.sched_task(Some((&mut ba, 1)), true, 1);
    assert_eq!(cpu.stats.restores, 1);
    assert_eq!(cpu.len(), 1);
}

#[test]
fn no_blob_means_reset_on_sched_in_and_no_users_means_no_save() {
    let l = BlobLayout::new(LbrFormat::Legacy, 32).unwrap();
    let mut cpu = enabled(32);
    cpu.call(1, 10);
    cpu.sched_task(None, false, 1);
    assert_eq!(cpu.len(), 1);
    cpu.sched_task(None, true, 1);
    assert!(cpu.is_empty(), "pre-6.15 CPU-wide events: reset on every sched-in");
    let mut a = vec![0u8; l.size];
    let mut ba = LbrBlob::new(&mut a, l).unwrap();
    cpu.call(1, 10);
    cpu.sched_task(Some((&mut ba, 1)), false, 0); // no per-task nor global users
    assert_eq!(ba.state(), LBR_NONE);
    assert_eq!(cpu.stats.saves, 0);
    // Disabled LBR (no lbr_users): sched_task does nothing and calls are not recorded.
    let mut off = LbrCpu::new(8);
    off.call(1, 2);
    off.sched_task(None, true, 1);
    assert!(off.is_empty());
    assert_eq!(off.stats.resets, 0);
    assert!(LbrBlob::new(&mut [0u8; 10], l).is_err());
}

#[test]
fn cpu_contexts_get_no_data_task_contexts_do() {
    let l = BlobLayout::new(LbrFormat::Legacy, 32).unwrap();
    let (a, c) = cache(l);
    let mut cpu_ctx = PmuContextData::new(CtxKind::Cpu);
    assert!(!cpu_ctx.attach_event(true, &c, 0).unwrap());
    let mut task_ctx = PmuContextData::new(CtxKind::Task);
    assert!(!task_ctx.attach_event(false, &c, 0).unwrap(), "no PERF_ATTACH_TASK_DATA, no blob");
    assert!(task_ctx.attach_event(true, &c, 0).unwrap());
    assert!(task_ctx.attach_event(true, &c, 0).unwrap());
    assert_eq!(a.stats().live, 1, "one blob per pmu context");
    drop(task_ctx);
    drop(cpu_ctx);
    assert_eq!(a.stats().live, 0);
}

#[test]
fn swap_moves_the_saved_stack_with_the_task_and_keeps_users_with_the_context() {
    let l = BlobLayout::new(LbrFormat::ArchXsave, 32).unwrap();
    let (a, c) = cache(l);
    let mut x = PmuContextData::new(CtxKind::Task);
    let mut y = PmuContextData::new(CtxKind::Task);
    x.attach_event(true, &c, 0).unwrap();
    y.attach_event(true, &c, 0).unwrap();
    let mut cpu = enabled(32);
    let addr_x = x.data_mut().unwrap().addr();
    {
        let d = x.data_mut().unwrap();
        let mut b = LbrBlob::new(d.bytes_mut(), l).unwrap();
        b.set_users(3);
        cpu.call(7, 70);
        cpu.save(&mut b, 0, addr_x);
    }
    LbrBlob::new(y.data_mut().unwrap().bytes_mut(), l).unwrap().set_users(5);
    swap_task_ctx(&mut x, &mut y, Some(l)).unwrap();
    let bx = LbrBlob::new(x.data_mut().unwrap().bytes_mut(), l).unwrap();
    assert_eq!(bx.users(), 3, "lbr_callstack_users stays with the context");
    assert!(bx.entries().is_empty());
    let yd = y.data_mut().unwrap();
    assert_eq!(yd.addr(), addr_x, "the blob moved");
    let by = LbrBlob::new(yd.bytes_mut(), l).unwrap();
    assert_eq!(by.users(), 5);
    assert_eq!(by.entries()[0].from, 7, "the saved stack follows the task");
    drop((x, y));
    assert_eq!(a.stats().live, 0);
}

proptest! {
    /// The hardware call-stack mode keeps the most recent `depth` outstanding calls: the LBR
    /// equals the last `depth` frames of a plain stack driven by the same calls and returns.
    #[test]
    fn lbr_is_the_top_of_the_true_stack(ops in proptest::collection::vec(any::<bool>(), 0..300), d in 1u32..9) {
        let depth = d * 8;
        let mut cpu = enabled(depth);
        let mut truth: Vec<u64> = Vec::new();
        let mut lost = 0usize; // frames dropped off the bottom that later returns cannot see
        for (i, call) in ops.into_iter().enumerate() {
            if call {
                cpu.call(i as u64, 1000 + i as u64);
                truth.push(i as u64);
            } else if !truth.is_empty() {
                cpu.ret();
                truth.pop();
            }
            if truth.len() > depth as usize { lost = lost.max(truth.len() - depth as usize); }
            let want: Vec<u64> = truth.iter().rev().take(depth as usize).copied().collect();
            let got: Vec<u64> = cpu.branch_stack().iter().map(|e| e.from).collect();
            if lost == 0 {
                prop_assert_eq!(got, want);
            } else {
                // After an overflow the LBR holds only the newest frames of the truth (the
                // oldest were dropped), never anything else.
                prop_assert!(want.starts_with(&got), "{:?} vs {:?}", got, want);
            }
        }
    }

    /// Save into any layout and restore gives back exactly the saved entries.
    #[test]
    fn blob_roundtrip(n in 0usize..40, fmt in 0u8..3) {
        let fmt = [LbrFormat::Legacy, LbrFormat::ArchMsr, LbrFormat::ArchXsave][fmt as usize];
        let l = BlobLayout::new(fmt, 32).unwrap();
        let mut bytes = vec![0u8; l.size];
        let mut cpu = enabled(32);
        for i in 0..n { cpu.call(i as u64, i as u64 * 3); }
        let before = cpu.branch_stack();
        let mut b = LbrBlob::new(&mut bytes, l).unwrap();
        cpu.save(&mut b, 1, 42);
        cpu.reset();
        let mut other = enabled(32);
        other.restore(&mut b, 1, 42);
        prop_assert_eq!(other.branch_stack(), before);
    }
}
