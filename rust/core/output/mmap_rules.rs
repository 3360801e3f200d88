//! The rules of mmap() on a perf event fd, as pure functions over an explicit view of the event
//! and of the memory-accounting state, returning the kernel's errno with a message naming the
//! value. Models perf_mmap(), perf_mmap_rb(), perf_mmap_aux(), perf_mmap_calc_limits() and
//! perf_mmap_account() in kernel/events/core.c (6.18 split), plus the page rounding mmap(2)
//! itself does; facts: spec/ring-buffer-aux-records.md §3.1-§3.3.

use crate::abi::PAGE_SIZE;
use crate::error::{Errno, Error, Result};

/// The memory-accounting state the checks read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmapAccounting {
    /// `kernel.perf_event_mlock_kb` (default 512 + PAGE_SIZE/1024 = 516).
    pub perf_event_mlock_kb: u64,
    /// `num_online_cpus()`.
    pub nr_online_cpus: u32,
    /// `user->locked_vm` in pages (all perf buffers of this uid).
    pub user_locked_vm: u64,
    /// `mm->pinned_vm` in pages.
    pub pinned_vm: u64,
    /// `RLIMIT_MEMLOCK` in bytes.
    pub rlimit_memlock: u64,
    /// The caller has CAP_IPC_LOCK.
    pub cap_ipc_lock: bool,
    /// `kernel.perf_event_paranoid`.
    pub perf_event_paranoid: i32,
}

impl Default for MmapAccounting {
    /// The reference VM as an unprivileged user: 516 KiB, 2 CPUs, 8 MiB RLIMIT_MEMLOCK,
    /// paranoid 2.
    fn default() -> Self {
        MmapAccounting {
            perf_event_mlock_kb: 516,
            nr_online_cpus: 2,
            user_locked_vm: 0,
            pinned_vm: 0,
            rlimit_memlock: 8 << 20,
            cap_ipc_lock: false,
            perf_event_paranoid: 2,
        }
    }
}

impl MmapAccounting {
    /// perf_mmap_account(): charge a successful mapping.
    pub fn account(&mut self, o: &MmapOutcome) {
        self.user_locked_vm += o.user_extra;
        self.pinned_vm += o.extra;
    }
    /// Undo the charge of a mapping when its buffer is released.
    pub fn unaccount(&mut self, o: &MmapOutcome) {
        self.user_locked_vm = self.user_locked_vm.saturating_sub(o.user_extra);
        self.pinned_vm = self.pinned_vm.saturating_sub(o.extra);
    }
}

/// The AUX area an rb already has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuxView {
    /// `rb->aux_pgoff`.
    pub pgoff: u64,
    /// `rb->aux_nr_pages`.
    pub nr_pages: u64,
}

/// The ring buffer an event already has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RbView {
    /// Data pages (without the user page).
    pub data_pages: u64,
    /// `rb->mmap_count` (0: being torn down).
    pub mmap_count: u32,
    /// The AUX area, if mapped.
    pub aux: Option<AuxView>,
    /// `aux_offset` as the process wrote it into the user page.
    pub user_aux_offset: u64,
    /// `aux_size` as the process wrote it into the user page.
    pub user_aux_size: u64,
}

/// What the checks need to know about the event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmapEventView {
    /// `event->cpu` (-1: per-task).
    pub cpu: i32,
    /// `attr.inherit`.
    pub inherit: bool,
    /// The event was revoked (its PMU unregistered).
    pub revoked: bool,
    /// The PMU can do AUX (`setup_aux`).
    pub pmu_has_aux: bool,
    /// `attr.write_backward` (the direction the new ring will have).
    pub write_backward: bool,
    /// The event's current ring buffer.
    pub rb: Option<RbView>,
}

/// One mmap() call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmapRequest {
    /// Length in bytes (mmap rounds it up to pages).
    pub len: u64,
    /// File offset in pages (`vm_pgoff`): 0 for the data ring, else the AUX area.
    pub pgoff: u64,
    /// MAP_SHARED.
    pub shared: bool,
    /// PROT_WRITE.
    pub prot_write: bool,
}

/// Machine options that change the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmapOptions {
    /// The kernel's power-of-two rule on AUX page counts (lifting it lets the 2^64 wrap
    /// corrupt positions; see [`super::aux`]).
    pub aux_require_pow2: bool,
    /// The LSM hook `security_perf_event_read()` denies with this errno.
    pub lsm_denies: Option<Errno>,
}

impl Default for MmapOptions {
    fn default() -> Self {
        MmapOptions { aux_require_pow2: true, lsm_denies: None }
    }
}

/// What a successful mmap does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmapAction {
    /// Allocate a ring with `data_pages` (overwrite iff the mapping is read-only).
    CreateRb { data_pages: u64, overwrite: bool, backward: bool },
    /// Map the existing ring again (`mmap_count++`).
    ShareRb,
    /// Allocate the AUX area (overwrite/snapshot iff the AUX mapping is read-only).
    CreateAux { nr_pages: u64, pgoff: u64, overwrite: bool },
    /// Map the existing AUX area again.
    ShareAux,
}

/// A successful mmap: the action and the pages charged (`user_extra` to `user->locked_vm`,
/// `extra` to `mm->pinned_vm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmapOutcome {
    pub action: MmapAction,
    pub user_extra: u64,
    pub extra: u64,
}

/// perf_mmap_calc_limits(): split `user_extra` pages into the part within the per-user
/// allowance and the `extra` charged to pinned_vm; EPERM when the extra exceeds
/// RLIMIT_MEMLOCK and the caller is neither CAP_IPC_LOCK nor running with paranoid -1.
pub fn calc_limits(acct: &MmapAccounting, user_extra: u64) -> Result<(u64, u64)> {
    let page_shift = PAGE_SIZE.trailing_zeros();
    let limit = (acct.perf_event_mlock_kb >> (page_shift - 10)) * u64::from(acct.nr_online_cpus);
    let user_locked = acct.user_locked_vm.min(limit) + user_extra;
    let (mut ue, mut extra) = (user_extra, 0);
    if user_locked > limit {
        extra = user_locked - limit;
        ue -= extra;
    }
    let lock_limit = acct.rlimit_memlock >> page_shift;
    let locked = acct.pinned_vm + extra;
    let paranoid = acct.perf_event_paranoid > -1;
    if locked <= lock_limit || !paranoid || acct.cap_ipc_lock {
        Ok((ue, extra))
    } else {
        Err(Error::perf(
            Errno::EPERM,
            format!(
                "mmap of {user_extra} pages: {extra} pages above the perf_event_mlock_kb allowance \
                 ({limit} pages = {} KiB x {} cpus, {} already locked) would make pinned_vm {locked} \
                 pages > RLIMIT_MEMLOCK {lock_limit} pages, without CAP_IPC_LOCK and with perf_event_paranoid {}",
                acct.perf_event_mlock_kb, acct.nr_online_cpus, acct.user_locked_vm, acct.perf_event_paranoid
            ),
        ))
    }
}

/// perf_mmap(): every check in the kernel's order, for the data ring (`pgoff == 0`) or the
/// AUX area. Does not change `acct`; apply [`MmapAccounting::account`] on success.
pub fn perf_mmap(
    ev: &MmapEventView,
    req: &MmapRequest,
    acct: &MmapAccounting,
    opts: &MmapOptions,
) -> Result<MmapOutcome> {
    if req.len == 0 {
        return Err(Error::perf(Errno::EINVAL, "mmap length 0"));
    }
    if ev.cpu == -1 && ev.inherit {
        return Err(Error::perf(Errno::EINVAL, "mmap of a per-task (cpu -1) event with attr.inherit"));
    }
    if !req.shared {
        return Err(Error::perf(Errno::EINVAL, "mmap without MAP_SHARED"));
    }
    if let Some(e) = opts.lsm_denies {
        return Err(Error::perf(e, "security_perf_event_read() denied the mapping"));
    }
    let nr_pages = req.len.div_ceil(PAGE_SIZE as u64);
    if nr_pages > i32::MAX as u64 {
        return Err(Error::perf(Errno::ENOMEM, format!("mmap of {nr_pages} pages exceeds INT_MAX")));
    }
    if ev.revoked {
        return Err(Error::perf(Errno::ENODEV, "event is revoked (its PMU was unregistered)"));
    }
    if req.pgoff == 0 {
        mmap_rb(ev, req, acct, nr_pages)
    } else {
        mmap_aux(ev, req, acct, opts, nr_pages)
    }
}

fn mmap_rb(ev: &MmapEventView, req: &MmapRequest, acct: &MmapAccounting, nr_pages: u64) -> Result<MmapOutcome> {
    let data = nr_pages - 1;
    if data != 0 && !data.is_power_of_two() {
        return Err(Error::perf(
            Errno::EINVAL,
            format!("mmap of 1+{data} pages: the data page count {data} is neither 0 nor a power of two"),
        ));
    }
    if let Some(rb) = &ev.rb {
        if rb.data_pages != data {
            return Err(Error::perf(
                Errno::EINVAL,
                format!("mmap of 1+{data} pages but the event's ring has 1+{} pages", rb.data_pages),
            ));
        }
        if rb.mmap_count > 0 {
            return Ok(MmapOutcome { action: MmapAction::ShareRb, user_extra: nr_pages, extra: 0 });
        }
    }
    let (user_extra, extra) = calc_limits(acct, nr_pages)?;
    Ok(MmapOutcome {
        action: MmapAction::CreateRb { data_pages: data, overwrite: !req.prot_write, backward: ev.write_backward },
        user_extra,
        extra,
    })
}

fn mmap_aux(
    ev: &MmapEventView,
    req: &MmapRequest,
    acct: &MmapAccounting,
    opts: &MmapOptions,
    nr_pages: u64,
) -> Result<MmapOutcome> {
    let page = PAGE_SIZE as u64;
    let Some(rb) = &ev.rb else {
        return Err(Error::perf(
            Errno::EINVAL,
            format!("AUX mmap at pgoff {} before the data ring is mapped", req.pgoff),
        ));
    };
    let data_size = rb.data_pages * page;
    if rb.user_aux_offset < data_size + page {
        return Err(Error::perf(
            Errno::EINVAL,
            format!("aux_offset {} overlaps the data ring (ends at {})", rb.user_aux_offset, data_size + page),
        ));
    }
    if Some(rb.user_aux_offset) != req.pgoff.checked_mul(page) {
        return Err(Error::perf(
            Errno::EINVAL,
            format!(
                "aux_offset {} differs from the mapping's file offset {} (pgoff {})",
                rb.user_aux_offset,
                req.pgoff.saturating_mul(page),
                req.pgoff
            ),
        ));
    }
    if let Some(a) = &rb.aux {
        if a.pgoff != req.pgoff {
            return Err(Error::perf(
                Errno::EINVAL,
                format!("AUX already mapped at pgoff {}, not {}", a.pgoff, req.pgoff),
            ));
        }
    }
    if Some(rb.user_aux_size) != nr_pages.checked_mul(page) {
        return Err(Error::perf(
            Errno::EINVAL,
            format!("aux_size {} differs from the mapping length of {nr_pages} pages", rb.user_aux_size),
        ));
    }
    if let Some(a) = &rb.aux {
        if a.nr_pages != nr_pages {
            return Err(Error::perf(
                Errno::EINVAL,
                format!("AUX already mapped with {} pages, not {nr_pages}", a.nr_pages),
            ));
        }
    }
    if opts.aux_require_pow2 && !nr_pages.is_power_of_two() {
        return Err(Error::perf(Errno::EINVAL, format!("AUX nr_pages {nr_pages} is not a power of two")));
    }
    if rb.mmap_count == 0 {
        return Err(Error::perf(Errno::EINVAL, "the data ring is being unmapped"));
    }
    if rb.aux.is_some() {
        return Ok(MmapOutcome { action: MmapAction::ShareAux, user_extra: nr_pages, extra: 0 });
    }
    let (user_extra, extra) = calc_limits(acct, nr_pages)?;
    if !ev.pmu_has_aux {
        return Err(Error::perf(Errno::EOPNOTSUPP, "the event's PMU has no AUX support (no setup_aux)"));
    }
    Ok(MmapOutcome {
        action: MmapAction::CreateAux { nr_pages, pgoff: req.pgoff, overwrite: !req.prot_write },
        user_extra,
        extra,
    })
}
