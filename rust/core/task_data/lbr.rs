//! Intel LBR in call-stack mode and its per-task save/restore. Models the call-stack behaviour
//! of `LBR_CALL_STACK` / `ARCH_LBR_CALL_STACK`, intel_pmu_lbr_sched_task(),
//! __intel_pmu_lbr_save(), __intel_pmu_lbr_restore(), intel_pmu_lbr_reset(),
//! has_lbr_callstack_users(), intel_pmu_lbr_add()/_del() user counting and the layouts of x86_perf_task_context{,_arch_lbr,
//! _arch_lbr_xsave} (arch/x86/events/intel/lbr.c, arch/x86/events/perf_event.h); facts:
//! spec/task-data-slab-page-size.md A.3, A.5.
//!
//! The hardware stack keeps the most recent `depth` outstanding calls: a call pushes
//! `{from: call site, to: callee}`, a return pops, and a push on a full stack drops the oldest.
//! The task's saved state lives inside its blob's bytes at the offsets of the real layouts (only
//! sizes, alignment and the `opt` fields matter; the entry area holds `{from, to, info}` u64s).

use crate::{Errno, Error, Result};
use std::collections::VecDeque;

/// `lbr_stack_state` values (enum in lbr.c).
pub const LBR_NONE: u32 = 0;
/// The blob holds a saved stack.
pub const LBR_VALID: u32 = 1;
/// `MAX_LBR_ENTRIES` of the legacy layout.
pub const MAX_LBR_ENTRIES: u32 = 32;

/// Which LBR implementation (and so which blob layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LbrFormat {
    /// Haswell/Skylake MSR LBR: `x86_perf_task_context`, 800 B, align 8 ("x86_lbr").
    Legacy,
    /// Arch LBR saved MSR by MSR: `x86_perf_task_context_arch_lbr`, 16 + 24·depth B, align 8.
    ArchMsr,
    /// Arch LBR saved by XSAVES: `x86_perf_task_context_arch_lbr_xsave` + LBR state,
    /// 704 + 40 + 24·depth B (1512 for 32), align 64.
    ArchXsave,
}

impl LbrFormat {
    /// Parse "legacy" / "arch_msr" / "arch_xsave".
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "legacy" => Ok(LbrFormat::Legacy),
            "arch_msr" => Ok(LbrFormat::ArchMsr),
            "arch_xsave" => Ok(LbrFormat::ArchXsave),
            _ => Err(Error::Usage(format!("lbr format {s:?}: expected legacy, arch_msr or arch_xsave"))),
        }
    }
}

/// Byte offsets inside a task blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobLayout {
    /// Object size (the cache's `object_size`).
    pub size: usize,
    /// Required alignment.
    pub align: usize,
    /// `opt.lbr_callstack_users` (i32).
    pub users_off: usize,
    /// `opt.lbr_stack_state` (i32).
    pub state_off: usize,
    /// `opt.log_id` (i32).
    pub log_id_off: usize,
    /// Number of saved entries (legacy `valid_lbrs`; a model slot in the arch headers).
    pub valid_off: usize,
    /// First saved `lbr_entry` (24 B each).
    pub entries_off: usize,
    /// Entries the blob can hold.
    pub max_entries: u32,
}

impl BlobLayout {
    /// The layout for `format` with `depth` entries (8..=64, a multiple of 8; legacy ≤ 32).
    pub fn new(format: LbrFormat, depth: u32) -> Result<Self> {
        if !(8..=64).contains(&depth) || depth % 8 != 0 {
            return Err(Error::perf(Errno::EINVAL, format!("lbr depth {depth}: must be 8..=64 and a multiple of 8")));
        }
        let d = depth as usize;
        Ok(match format {
            LbrFormat::Legacy => {
                if depth > MAX_LBR_ENTRIES {
                    return Err(Error::perf(Errno::EINVAL, format!("lbr depth {depth}: legacy LBR holds at most 32")));
                }
                // u64 lbr_sel; int tos; int valid_lbrs; opt (12 B) padded to 32; lbr_entry[32]
                BlobLayout {
                    size: 800,
                    align: 8,
                    users_off: 16,
                    state_off: 20,
                    log_id_off: 24,
                    valid_off: 12,
                    entries_off: 32,
                    max_entries: MAX_LBR_ENTRIES,
                }
            }
            LbrFormat::ArchMsr => BlobLayout {
                size: 16 + 24 * d,
                align: 8,
                users_off: 0,
                state_off: 4,
                log_id_off: 8,
                valid_off: 12,
                entries_off: 16,
                max_entries: depth,
            },
            LbrFormat::ArchXsave => BlobLayout {
                size: 704 + 40 + 24 * d,
                align: 64,
                users_off: 0,
                state_off: 4,
                log_id_off: 8,
                valid_off: 12,
                entries_off: 704 + 40,
                max_entries: depth,
            },
        })
    }
}

/// One `struct lbr_entry`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbrEntry {
    /// Call site (in the caller).
    pub from: u64,
    /// Call target (the callee's entry).
    pub to: u64,
    /// `info` (cycles/flags); 0 in the model.
    pub info: u64,
}

fn rd32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}
fn wr32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn rd64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}
fn wr64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// Typed access to a task blob's LBR fields.
pub struct LbrBlob<'a> {
    bytes: &'a mut [u8],
    l: BlobLayout,
}

impl<'a> LbrBlob<'a> {
    /// View `bytes` with layout `l`; the blob must be at least `l.size` bytes.
    pub fn new(bytes: &'a mut [u8], l: BlobLayout) -> Result<Self> {
        if bytes.len() < l.size {
            return Err(Error::Usage(format!(
                "lbr blob of {} bytes is smaller than the layout's {}",
                bytes.len(),
                l.size
            )));
        }
        Ok(LbrBlob { bytes, l })
    }
    /// `opt.lbr_callstack_users`.
    pub fn users(&self) -> u32 {
        rd32(self.bytes, self.l.users_off)
    }
    /// Set `opt.lbr_callstack_users`.
    pub fn set_users(&mut self, v: u32) {
        wr32(self.bytes, self.l.users_off, v)
    }
    /// `opt.lbr_stack_state`.
    pub fn state(&self) -> u32 {
        rd32(self.bytes, self.l.state_off)
    }
    fn set_state(&mut self, v: u32) {
        wr32(self.bytes, self.l.state_off, v)
    }
    /// `opt.log_id`.
    pub fn log_id(&self) -> u32 {
        rd32(self.bytes, self.l.log_id_off)
    }
    /// Saved entries, bottom (oldest) first.
    pub fn entries(&self) -> Vec<LbrEntry> {
        let n = rd32(self.bytes, self.l.valid_off).min(self.l.max_entries) as usize;
        (0..n)
            .map(|i| {
                let o = self.l.entries_off + 24 * i;
                LbrEntry { from: rd64(self.bytes, o), to: rd64(self.bytes, o + 8), info: rd64(self.bytes, o + 16) }
            })
            .collect()
    }
    fn store(&mut self, e: &VecDeque<LbrEntry>) {
        let n = e.len().min(self.l.max_entries as usize);
        let skip = e.len() - n;
        for (i, x) in e.iter().skip(skip).enumerate() {
            let o = self.l.entries_off + 24 * i;
            wr64(self.bytes, o, x.from);
            wr64(self.bytes, o + 8, x.to);
            wr64(self.bytes, o + 16, x.info);
        }
        wr32(self.bytes, self.l.valid_off, n as u32);
    }
}

/// Save/restore counters of one CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbrStats {
    /// Saves into a blob with `LBR_VALID`.
    pub saves: u64,
    /// Restores that loaded a blob into the LBRs.
    pub restores: u64,
    /// Restores skipped because the CPU still held this task's state (last-owner check).
    pub restore_skips: u64,
    /// `intel_pmu_lbr_reset()` calls.
    pub resets: u64,
}

/// One CPU's LBR (`cpu_hw_events` LBR fields).
#[derive(Clone, Debug)]
pub struct LbrCpu {
    stack: VecDeque<LbrEntry>,
    depth: u32,
    /// `cpuc->lbr_users`: events using the LBR on this CPU (the LBR records only while > 0).
    pub lbr_users: u32,
    last_owner: usize,
    last_log_id: u32,
    /// Set when a deep C-state cleared the LBRs (`lbr_is_reset_in_cstate()`).
    pub reset_in_cstate: bool,
    /// Counters.
    pub stats: LbrStats,
}

impl LbrCpu {
    /// An empty, disabled LBR of `depth` entries.
    pub fn new(depth: u32) -> Self {
        LbrCpu {
            stack: VecDeque::with_capacity(depth as usize),
            depth,
            lbr_users: 0,
            last_owner: 0,
            last_log_id: 0,
            reset_in_cstate: false,
            stats: LbrStats::default(),
        }
    }

    /// A call from `from` to `to`: pushed when the LBR is enabled; the oldest entry is dropped
    /// on a full stack.
    pub fn call(&mut self, from: u64, to: u64) {
        if self.lbr_users == 0 {
            return;
        }
        if self.stack.len() == self.depth as usize {
            self.stack.pop_front();
        }
        self.stack.push_back(LbrEntry { from, to, info: 0 });
    }

    /// A return: pops the newest entry (nothing on an empty stack).
    pub fn ret(&mut self) {
        if self.lbr_users == 0 {
            return;
        }
        self.stack.pop_back();
    }

    /// `intel_pmu_lbr_reset()`: the entries are cleared and the CPU forgets whose state it
    /// held (`cpuc->last_task_ctx = NULL`, `last_log_id = 0`), so the next restore cannot be
    /// skipped.
    pub fn reset(&mut self) {
        self.stack.clear();
        self.last_owner = 0;
        self.last_log_id = 0;
        self.stats.resets += 1;
    }

    /// The sample's `BRANCH_STACK` in call-stack mode: newest entry first.
    pub fn branch_stack(&self) -> Vec<LbrEntry> {
        self.stack.iter().rev().copied().collect()
    }

    /// The LBR-derived user callchain: the sample ip, then each entry's call site, newest first.
    pub fn callchain(&self, ip: u64) -> Vec<u64> {
        std::iter::once(ip).chain(self.stack.iter().rev().map(|e| e.from)).collect()
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.stack.len()
    }

    /// Whether the stack is empty.
    pub fn is_empty(&self) -> bool {
        self.stack.is_empty()
    }

    /// `__intel_pmu_lbr_save()`: with users, store the stack and mark it valid; remember the
    /// owner and the log id for the restore-skip check.
    pub fn save(&mut self, blob: &mut LbrBlob<'_>, global_users: u64, owner: usize) {
        if !has_lbr_callstack_users(blob, global_users) {
            blob.set_state(LBR_NONE);
            return;
        }
        blob.store(&self.stack);
        blob.set_state(LBR_VALID);
        let id = blob.log_id().wrapping_add(1);
        wr32(blob.bytes, blob.l.log_id_off, id);
        self.last_owner = owner;
        self.last_log_id = id;
        self.stats.saves += 1;
    }

    /// `__intel_pmu_lbr_restore()`.
    pub fn restore(&mut self, blob: &mut LbrBlob<'_>, global_users: u64, owner: usize) {
        if !has_lbr_callstack_users(blob, global_users) || blob.state() == LBR_NONE {
            self.reset();
            return;
        }
        if self.last_owner == owner && self.last_log_id == blob.log_id() && !self.reset_in_cstate {
            self.stats.restore_skips += 1;
        } else {
            self.stack = blob.entries().into_iter().collect();
            self.stats.restores += 1;
        }
        self.reset_in_cstate = false;
        blob.set_state(LBR_NONE);
    }

    /// `intel_pmu_lbr_sched_task()`: save on sched-out, restore on sched-in, reset on sched-in
    /// when the task has no blob (the pre-6.15 system-wide case). `owner` identifies the blob
    /// (its address; `cpuc->last_task_ctx`).
    pub fn sched_task(&mut self, blob: Option<(&mut LbrBlob<'_>, usize)>, sched_in: bool, global_users: u64) {
        if self.lbr_users == 0 {
            return;
        }
        match (blob, sched_in) {
            (Some((b, owner)), true) => self.restore(b, global_users, owner),
            (Some((b, owner)), false) => self.save(b, global_users, owner),
            (None, true) => self.reset(),
            (None, false) => {}
        }
    }
}

/// `intel_pmu_lbr_add()` for a user + call-stack event: a per-task event (`task_blob` is the
/// target task's blob) counts in that blob's `lbr_callstack_users`, a CPU-wide one in the global
/// `x86_pmu.lbr_callstack_users`; either way the CPU's LBR gains a user.
pub fn lbr_add(cpu: &mut LbrCpu, task_blob: Option<&mut LbrBlob<'_>>, global_users: &mut u64) {
    match task_blob {
        Some(b) => {
            let u = b.users();
            b.set_users(u.saturating_add(1));
        }
        None => *global_users = global_users.saturating_add(1),
    }
    cpu.lbr_users = cpu.lbr_users.saturating_add(1);
}

/// `intel_pmu_lbr_del()`: the reverse of [`lbr_add`] (counts never go below zero).
pub fn lbr_del(cpu: &mut LbrCpu, task_blob: Option<&mut LbrBlob<'_>>, global_users: &mut u64) {
    match task_blob {
        Some(b) => {
            let u = b.users();
            b.set_users(u.saturating_sub(1));
        }
        None => *global_users = global_users.saturating_sub(1),
    }
    cpu.lbr_users = cpu.lbr_users.saturating_sub(1);
}

/// `has_lbr_callstack_users()`: per-task users in the blob or the global count.
pub fn has_lbr_callstack_users(blob: &LbrBlob<'_>, global_users: u64) -> bool {
    blob.users() != 0 || global_users != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_spec_sizes() {
        assert_eq!(BlobLayout::new(LbrFormat::Legacy, 32).unwrap().size, 800);
        assert_eq!(BlobLayout::new(LbrFormat::ArchXsave, 32).unwrap().size, 1512);
        assert_eq!(BlobLayout::new(LbrFormat::ArchXsave, 32).unwrap().align, 64);
        for (d, s) in [(8, 208), (16, 400), (32, 784), (64, 1552)] {
            assert_eq!(BlobLayout::new(LbrFormat::ArchMsr, d).unwrap().size, s);
        }
        assert!(BlobLayout::new(LbrFormat::Legacy, 64).is_err());
        assert!(BlobLayout::new(LbrFormat::ArchMsr, 12).is_err());
        assert!(BlobLayout::new(LbrFormat::ArchMsr, 72).is_err());
    }

    #[test]
    fn users_are_counted_per_task_or_globally() {
        let l = BlobLayout::new(LbrFormat::Legacy, 32).unwrap();
        let mut bytes = vec![0u8; l.size];
        let mut cpu = LbrCpu::new(32);
        let mut global = 0u64;
        let mut b = LbrBlob::new(&mut bytes, l).unwrap();
        lbr_add(&mut cpu, Some(&mut b), &mut global);
        lbr_add(&mut cpu, None, &mut global);
        assert_eq!((b.users(), global, cpu.lbr_users), (1, 1, 2));
        assert!(has_lbr_callstack_users(&b, 0));
        lbr_del(&mut cpu, Some(&mut b), &mut global);
        assert_eq!((b.users(), global, cpu.lbr_users), (0, 1, 1));
        assert!(has_lbr_callstack_users(&b, global), "the global user still counts");
        lbr_del(&mut cpu, None, &mut global);
        lbr_del(&mut cpu, None, &mut global);
        assert_eq!((global, cpu.lbr_users), (0, 0));
        assert!(!has_lbr_callstack_users(&b, global));
    }

    #[test]
    fn full_stack_drops_the_oldest_call() {
        let mut c = LbrCpu::new(8);
        c.lbr_users = 1;
        for i in 0..10 {
            c.call(i, 100 + i);
        }
        assert_eq!(c.len(), 8);
        assert_eq!(c.branch_stack().first().unwrap().from, 9);
        assert_eq!(c.branch_stack().last().unwrap().from, 2);
        c.ret();
        assert_eq!(c.callchain(55), vec![55, 8, 7, 6, 5, 4, 3, 2]);
    }
}
