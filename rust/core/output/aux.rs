//! The AUX area: a second buffer for hardware trace data (Intel PT, CoreSight), written by the
//! PMU driver through a handle and announced by PERF_RECORD_AUX in the data ring. Models
//! rb_alloc_aux(), perf_aux_output_begin(), perf_aux_output_skip(), perf_aux_output_flag(),
//! perf_aux_output_end() and rb_need_aux_wakeup() in kernel/events/ring_buffer.c and
//! perf_event_aux_event() in core.c; facts: spec/ring-buffer-aux-records.md §3.3, §4.
//!
//! Buffer offsets: a driver derives its write offset from `aux_head` when it begins
//! (`aux_head % aux_size`, the kernel's `aux_head & (aux_size - 1)` for a power of two) and
//! then writes linearly, wrapping at the end of the buffer; a reader (perf's
//! auxtrace_mmap__read(): `head & mask`, or `head % len` for other sizes) does the same from its
//! start position. With a power-of-two size every such offset agrees. With any other size
//! (possible only when the machine lifts the power-of-two mmap check) `position % aux_size`
//! jumps when the free-running position wraps at 2^64, so a writer that began after the wrap
//! lands on unread data and a reader that started before it reads the wrong bytes: the
//! corruption the upstream check prevents.

use super::mmap_page::{Words, OFF_AUX_HEAD, OFF_AUX_TAIL};
use super::record::{Record, RecordBody};
use super::ring::{AuxMem, OutputEvent, RingBuffer, Shared};
use super::sample::SampleId;
use crate::abi::record::{PERF_AUX_FLAG_OVERWRITE, PERF_AUX_FLAG_TRUNCATED};
use crate::abi::PAGE_SIZE;
use crate::error::{Errno, Error, Result};
use crate::sync::{Arc, Ordering};

const AUX_HEAD_WORD: usize = OFF_AUX_HEAD / 8;
const AUX_TAIL_WORD: usize = OFF_AUX_TAIL / 8;

/// How the AUX area is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuxConfig {
    /// Pages of the AUX mapping.
    pub nr_pages: u32,
    /// The AUX mapping has PROT_WRITE; without it the area is in overwrite (snapshot) mode.
    pub writable: bool,
    /// `attr.aux_watermark` (0: half the buffer, capped at U32_MAX).
    pub aux_watermark: u32,
    /// Require a power-of-two page count (the kernel's rule; false only under the machine
    /// option that lifts it).
    pub require_pow2: bool,
    /// `vm_pgoff` of the AUX mapping.
    pub pgoff: u64,
    /// Initial aux_head / aux_tail (0 in the kernel; tests start near 2^64).
    pub start: u64,
}

impl Default for AuxConfig {
    fn default() -> Self {
        AuxConfig { nr_pages: 1, writable: true, aux_watermark: 0, require_pow2: true, pgoff: 0, start: 0 }
    }
}

/// Producer-side AUX state (`rb->aux_*`).
#[derive(Debug)]
pub(crate) struct AuxArea {
    pub(crate) mem: std::sync::Arc<AuxMem>,
    pub(crate) nr_pages: u32,
    pub(crate) pgoff: u64,
    pub(crate) overwrite: bool,
    pub(crate) watermark: u64,
    pub(crate) head: u64,
    pub(crate) wakeup: u64,
    pub(crate) nest: bool,
    pub(crate) disable_requests: u64,
}

/// A driver's AUX handle (`struct perf_output_handle` for AUX): `head` is where the driver
/// writes, `size` the free space it may use (0 and ignored in overwrite mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuxHandle {
    /// Free-running AUX position of the next byte.
    pub head: u64,
    /// Bytes the driver may write (non-overwrite mode).
    pub size: u64,
    /// `aux_flags` accumulated so far.
    pub flags: u64,
    /// Bytes written through [`RingBuffer::aux_write`] since begin.
    pub written: u64,
    /// The driver's buffer offset of `head` (`head % aux_size` at begin, then linear).
    pub offset: u64,
    wakeup: u64,
}

/// What perf_aux_output_end() did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuxEnd {
    /// A PERF_RECORD_AUX was emitted (and not dropped).
    pub record_written: bool,
    /// The record was attempted (size or flags worth reporting).
    pub record_attempted: bool,
    /// `aux_offset` of the record.
    pub offset: u64,
    /// Flags of the record.
    pub flags: u64,
    /// TRUNCATED: the event is disabled (perf_event_disable_inatomic()).
    pub disable: bool,
    /// A wakeup was delivered.
    pub wakeup: bool,
}

impl AuxArea {
    fn size(&self) -> u64 {
        self.mem.size
    }
    fn need_wakeup(&mut self) -> bool {
        if self.overwrite || self.watermark == 0 {
            return false;
        }
        if self.head.wrapping_sub(self.wakeup) >= self.watermark {
            self.wakeup = self.head - self.head % self.watermark;
            return true;
        }
        false
    }
}

impl RingBuffer {
    /// Allocate the AUX area (rb_alloc_aux(), after the perf_mmap_aux() checks of
    /// [`super::mmap_rules`]): overwrite mode iff the AUX mapping is read-only; the watermark
    /// defaults to half the buffer and is 0 in overwrite mode.
    pub fn map_aux(&mut self, cfg: AuxConfig) -> Result<()> {
        if self.aux.is_some() {
            return Err(Error::perf(Errno::EINVAL, "AUX area is already mapped"));
        }
        if cfg.nr_pages == 0 {
            return Err(Error::perf(Errno::EINVAL, "AUX nr_pages is 0"));
        }
        if cfg.require_pow2 && !cfg.nr_pages.is_power_of_two() {
            return Err(Error::perf(Errno::EINVAL, format!("AUX nr_pages {} is not a power of two", cfg.nr_pages)));
        }
        if cfg.nr_pages > 1 << 20 {
            return Err(Error::perf(Errno::ENOMEM, format!("AUX nr_pages {} is too large to model", cfg.nr_pages)));
        }
        let size = u64::from(cfg.nr_pages) * PAGE_SIZE as u64;
        let overwrite = !cfg.writable;
        let watermark = if overwrite {
            0
        } else if cfg.aux_watermark != 0 {
            u64::from(cfg.aux_watermark)
        } else {
            (size / 2).min(u64::from(u32::MAX))
        };
        let mem = std::sync::Arc::new(AuxMem { mem: Words::zeroed(size as usize), size });
        let page = &self.shared.mem;
        page.store(AUX_HEAD_WORD, cfg.start, Ordering::Relaxed);
        page.store(AUX_TAIL_WORD, cfg.start, Ordering::Relaxed);
        self.shared
            .aux
            .set(std::sync::Arc::clone(&mem))
            .map_err(|_| Error::perf(Errno::EINVAL, "AUX area is already mapped"))?;
        self.aux = Some(AuxArea {
            mem,
            nr_pages: cfg.nr_pages,
            pgoff: cfg.pgoff,
            overwrite,
            watermark,
            head: cfg.start,
            wakeup: cfg.start,
            nest: false,
            disable_requests: 0,
        });
        Ok(())
    }

    /// AUX geometry: (nr_pages, pgoff, overwrite, watermark), if mapped.
    pub fn aux_info(&self) -> Option<(u32, u64, bool, u64)> {
        self.aux.as_ref().map(|a| (a.nr_pages, a.pgoff, a.overwrite, a.watermark))
    }
    /// `rb->aux_head`.
    pub fn aux_head(&self) -> Option<u64> {
        self.aux.as_ref().map(|a| a.head)
    }
    /// Times AUX asked for the event to be disabled (full buffer or TRUNCATED).
    pub fn aux_disable_requests(&self) -> u64 {
        self.aux.as_ref().map_or(0, |a| a.disable_requests)
    }

    /// perf_aux_output_begin(): `None` without an AUX area, when a writer is already inside
    /// (AUX writers never nest) or, in non-overwrite mode, when the buffer is full (then the
    /// event is disabled and a wakeup delivered).
    pub fn aux_output_begin(&mut self) -> Option<AuxHandle> {
        let tail = self.shared.mem.load(AUX_TAIL_WORD, Ordering::Acquire);
        let aux = self.aux.as_mut()?;
        if aux.nest {
            return None;
        }
        aux.nest = true;
        let mut h =
            AuxHandle { head: aux.head, size: 0, flags: 0, written: 0, offset: aux.head % aux.size(), wakeup: 0 };
        if !aux.overwrite {
            h.wakeup = aux.wakeup.wrapping_add(aux.watermark);
            let used = aux.head.wrapping_sub(tail);
            if used < aux.size() {
                h.size = aux.size() - 1 - used;
            }
            if h.size == 0 {
                aux.disable_requests += 1;
                aux.nest = false;
                self.deliver_wakeup();
                return None;
            }
        }
        Some(h)
    }

    /// The driver writes trace bytes at `h.head + h.written` (wrapping over the buffer). In
    /// non-overwrite mode at most `h.size - h.written` bytes are taken; returns how many were.
    pub fn aux_write(&mut self, h: &mut AuxHandle, data: &[u8]) -> Result<usize> {
        let aux = self.aux.as_ref().ok_or_else(|| Error::Usage("aux_write without an AUX area".into()))?;
        let n = if aux.overwrite { data.len() } else { data.len().min(h.size.saturating_sub(h.written) as usize) };
        let size = aux.size();
        let mut done = 0usize;
        let base = (h.offset + h.written % size) % size;
        while done < n {
            let off = (base + done as u64 % size) % size;
            let chunk = (n - done).min((size - off) as usize);
            aux.mem.mem.write_bytes(off as usize, &data[done..done + chunk]);
            done += chunk;
        }
        if aux.overwrite {
            h.head = h.head.wrapping_add(n as u64);
            h.offset = (h.offset + n as u64 % size) % size;
        } else {
            h.written += n as u64;
        }
        Ok(n)
    }

    /// perf_aux_output_flag(): OR `flags` into the record's flags; OVERWRITE is the kernel's
    /// own and may not be passed.
    pub fn aux_output_flag(&mut self, h: &mut AuxHandle, flags: u64) -> Result<()> {
        if flags & PERF_AUX_FLAG_OVERWRITE != 0 {
            return Err(Error::Usage("aux_output_flag: OVERWRITE is set by the core, not the driver".into()));
        }
        h.flags |= flags;
        Ok(())
    }

    /// perf_aux_output_skip(): advance `aux_head` by `size` bytes without a record (ENOSPC if
    /// more than the handle's space). Must come before any write through this handle.
    pub fn aux_output_skip(&mut self, h: &mut AuxHandle, size: u64) -> Result<()> {
        if h.written != 0 {
            return Err(Error::Usage("aux_output_skip after aux_write on the same handle".into()));
        }
        if size > h.size {
            return Err(Error::perf(
                Errno::ENOSPC,
                format!("aux skip of {size} bytes exceeds the handle's {} bytes", h.size),
            ));
        }
        let aux = self.aux.as_mut().ok_or_else(|| Error::Usage("aux_output_skip without an AUX area".into()))?;
        aux.head = aux.head.wrapping_add(size);
        let head = aux.head;
        let aux_size = aux.size();
        let wake = aux.need_wakeup();
        if wake {
            h.wakeup = aux.wakeup.wrapping_add(aux.watermark);
        }
        self.shared.mem.store(AUX_HEAD_WORD, head, Ordering::Release);
        if wake {
            self.deliver_wakeup();
        }
        h.head = head;
        h.offset = (h.offset + size % aux_size) % aux_size;
        h.size -= size;
        Ok(())
    }

    /// perf_aux_output_end(): in overwrite mode the record carries the driver's head and the
    /// OVERWRITE flag; otherwise it starts at the old `aux_head`, which advances by `size`.
    /// PERF_RECORD_AUX `{offset, size, flags}` (+ trailer `ids`) goes to the data ring unless
    /// `size == 0` and no flag but OVERWRITE is set. TRUNCATED disables the event and wakes.
    pub fn aux_output_end(&mut self, mut h: AuxHandle, size: u64, ev: &OutputEvent, ids: &SampleId) -> Result<AuxEnd> {
        let aux = self.aux.as_mut().ok_or_else(|| Error::Usage("aux_output_end without an AUX area".into()))?;
        if !aux.nest {
            return Err(Error::Usage("aux_output_end without aux_output_begin".into()));
        }
        if !aux.overwrite && size > h.size {
            aux.nest = false;
            return Err(Error::Usage(format!("aux_output_end size {size} exceeds the handle's {} bytes", h.size)));
        }
        let mut wakeup = h.flags & PERF_AUX_FLAG_TRUNCATED != 0;
        let offset = if aux.overwrite {
            h.flags |= PERF_AUX_FLAG_OVERWRITE;
            aux.head = h.head;
            h.head
        } else {
            h.flags &= !PERF_AUX_FLAG_OVERWRITE;
            let o = aux.head;
            aux.head = aux.head.wrapping_add(size);
            o
        };
        let head = aux.head;
        let mut out = AuxEnd { offset, flags: h.flags, ..Default::default() };
        if size != 0 || h.flags & !PERF_AUX_FLAG_OVERWRITE != 0 {
            out.record_attempted = true;
            let rec = Record { misc: 0, body: RecordBody::Aux { offset, size, flags: h.flags }, sample_id: *ids };
            out.record_written = self.write_record(ev, &rec)?;
        }
        let aux = self.aux.as_mut().expect("checked above");
        self.shared.mem.store(AUX_HEAD_WORD, head, Ordering::Release);
        if aux.need_wakeup() {
            wakeup = true;
        }
        if wakeup {
            if h.flags & PERF_AUX_FLAG_TRUNCATED != 0 {
                aux.disable_requests += 1;
                out.disable = true;
            }
            out.wakeup = true;
        }
        aux.nest = false;
        if wakeup {
            self.deliver_wakeup();
        }
        Ok(out)
    }
}

/// The user side of the AUX area: reads `[aux_tail, aux_head)` and stores `aux_tail`.
#[derive(Clone, Debug)]
pub struct AuxConsumer {
    pub(crate) mem: std::sync::Arc<AuxMem>,
    pub(crate) page: Arc<Shared>,
}

impl AuxConsumer {
    /// `aux_size` in bytes.
    pub fn size(&self) -> u64 {
        self.mem.size
    }
    /// `aux_head` (acquire).
    pub fn aux_head(&self) -> u64 {
        self.page.mem.load(AUX_HEAD_WORD, Ordering::Acquire)
    }
    /// `aux_tail`.
    pub fn aux_tail(&self) -> u64 {
        self.page.mem.load(AUX_TAIL_WORD, Ordering::Relaxed)
    }
    /// Store `aux_tail` (release).
    pub fn set_aux_tail(&self, v: u64) {
        self.page.mem.store(AUX_TAIL_WORD, v, Ordering::Release)
    }
    /// Copy `len` bytes of the AUX stream from free-running position `from`, as perf reads
    /// it: from offset `from % aux_size`, linearly, wrapping at the end of the buffer.
    pub fn copy_stream(&self, from: u64, len: usize) -> Vec<u8> {
        let size = self.mem.size;
        let mut out = vec![0u8; len];
        let mut done = 0usize;
        let base = from % size;
        while done < len {
            let off = (base + done as u64 % size) % size;
            let n = (len - done).min((size - off) as usize);
            self.mem.mem.read_bytes(off as usize, &mut out[done..done + n]);
            done += n;
        }
        out
    }
    /// Consume `[aux_tail, aux_head)` (at most `aux_size` bytes: the newest ones) and advance
    /// `aux_tail`. Returns (start position, bytes).
    pub fn read(&self) -> (u64, Vec<u8>) {
        let head = self.aux_head();
        let tail = self.aux_tail();
        let avail = head.wrapping_sub(tail).min(self.mem.size);
        let start = head.wrapping_sub(avail);
        let v = self.copy_stream(start, avail as usize);
        self.set_aux_tail(head);
        (start, v)
    }
    /// The whole AUX buffer as laid out in memory.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.mem.size as usize];
        self.mem.mem.read_bytes(0, &mut v);
        v
    }
    /// Pointer and length of the AUX bytes, for a zero-copy read-only view.
    #[cfg(not(loom))]
    pub fn raw_pages(&self) -> (*const u8, usize) {
        (self.mem.mem.as_ptr(), self.mem.mem.len_bytes())
    }
}
