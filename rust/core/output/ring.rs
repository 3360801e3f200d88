//! The data ring: kernel-side state (head, wakeup, watermark, lost, nest, paused, overwrite,
//! backward) over real memory laid out as the mapping (user page, then 2^n data pages), the
//! reserve / write / publish protocol and the consumer side. Models ring_buffer_init(),
//! perf_output_get_handle() / perf_output_put_handle(), __perf_output_begin(),
//! perf_output_copy() / perf_output_skip(), perf_output_end(), perf_output_wakeup(),
//! rb_toggle_paused() in kernel/events/ring_buffer.c and the wakeup_events accounting of
//! perf_output_sample() in core.c; facts: spec/ring-buffer-aux-records.md §2.
//!
//! Publication order (§2.1): the producer reads `data_tail` with acquire (A), writes the record
//! words, then stores `data_head` with release (B); the consumer loads `data_head` with acquire
//! (C), reads the records, then stores `data_tail` with release (D). A pairs with D, B with C.

use super::aux::AuxArea;
pub use super::consumer::RingConsumer;
use super::mmap_page::*;
use super::record::{Record, RecordBody};
use super::sample::{header_word, OutputFormat, SampleData, SampleId, Sink, MAX_RECORD_SIZE};
use crate::abi::record::PERF_RECORD_LOST;
use crate::abi::PAGE_SIZE;
use crate::error::{Errno, Error, Result};
use crate::sync::{Arc, AtomicU64, Ordering};

/// Words of the user page.
const USER_WORDS: usize = PAGE_SIZE / 8;
pub(crate) const HEAD_WORD: usize = OFF_DATA_HEAD / 8;
pub(crate) const TAIL_WORD: usize = OFF_DATA_TAIL / 8;

/// How a ring is created: the geometry of the first data mmap and the attr fields that shape
/// the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingConfig {
    /// Data pages: 0 (user page only, always paused) or a power of two.
    pub data_pages: u32,
    /// Bytes per data page: 4096 on the reference machine. Smaller powers of two (>= 8) are
    /// accepted only for model checking (loom) of tiny rings.
    pub page_size: usize,
    /// The creating mapping had PROT_WRITE (`RING_BUFFER_WRITABLE`); otherwise overwrite mode.
    pub writable: bool,
    /// `attr.write_backward`.
    pub backward: bool,
    /// `attr.watermark`: wakeups by bytes (`wakeup_watermark`) rather than by events.
    pub watermark: bool,
    /// `attr.wakeup_watermark` (used when `watermark`; 0 means half the buffer).
    pub wakeup_watermark: u32,
    /// `attr.wakeup_events` (used when not `watermark`; 0 means none).
    pub wakeup_events: u32,
    /// Initial value of head and tail (the kernel starts at 0; tests start near 2^64).
    pub start: u64,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            data_pages: 1,
            page_size: PAGE_SIZE,
            writable: true,
            backward: false,
            watermark: false,
            wakeup_watermark: 0,
            wakeup_events: 0,
            start: 0,
        }
    }
}

/// The event a record belongs to, as the output path needs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputEvent {
    /// `event->id` of the (parent) event: the id in PERF_RECORD_LOST.
    pub id: u64,
    /// The event's record format.
    pub format: OutputFormat,
}

/// Memory and immutable geometry shared by producer and consumers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) mem: Words,
    pub(crate) data_size: u64,
    pub(crate) backward: bool,
    pub(crate) overwrite: bool,
    pub(crate) aux: std::sync::OnceLock<std::sync::Arc<AuxMem>>,
}

/// The AUX area's memory and size, shared with consumers once mapped.
#[derive(Debug)]
pub(crate) struct AuxMem {
    pub(crate) mem: Words,
    pub(crate) size: u64,
}

impl Shared {
    /// Copy `len` bytes of the logical stream starting at free-running position `from`,
    /// reassembling across the end of the data area.
    pub(crate) fn copy_stream(&self, from: u64, len: usize, out: &mut Vec<u8>) {
        let ds = self.data_size as usize;
        let mut done = 0;
        while done < len {
            let off = (from.wrapping_add(done as u64) & (self.data_size - 1)) as usize;
            let n = (len - done).min(ds - off);
            let start = out.len();
            out.resize(start + n, 0);
            self.mem.read_bytes(PAGE_SIZE + off, &mut out[start..]);
            done += n;
        }
    }
}

/// Counters of what the ring did, for users and invariant checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Records written (LOST records the ring emitted itself not included).
    pub records: u64,
    /// Bytes reserved, LOST records included.
    pub bytes: u64,
    /// Records dropped for lack of space or while paused (each counted in `rb->lost`).
    pub lost: u64,
    /// PERF_RECORD_LOST records emitted.
    pub lost_records: u64,
    /// Sum of the `lost` fields of the emitted LOST records.
    pub lost_reported: u64,
    /// perf_output_wakeup() calls (poll would report EPOLLIN).
    pub wakeups: u64,
}

/// An open reservation (`struct perf_output_handle`): bytes `[pos, end)` of the stream belong
/// to one record; writes go through [`RingBuffer::put`] and the record becomes visible at
/// [`RingBuffer::end`] of the outermost writer.
#[derive(Debug, PartialEq, Eq)]
pub struct Handle {
    pos: u64,
    end: u64,
    wakeup: u64,
    acc: u64,
    acc_len: u32,
}

impl Handle {
    /// Bytes still to write.
    pub fn remaining(&self) -> usize {
        (self.end.wrapping_sub(self.pos) as usize).saturating_sub(self.acc_len as usize)
    }
    /// Stream position of the next byte.
    pub fn position(&self) -> u64 {
        self.pos.wrapping_add(u64::from(self.acc_len))
    }
}

/// Writes words into the data area at free-running positions `[pos, end)`; sub-word puts
/// are gathered in `acc` (records are 8-byte multiples, so a word is never split by the wrap).
struct DataWriter<'a> {
    words: &'a [AtomicU64],
    mask: usize,
    pos: u64,
    end: u64,
    acc: u64,
    acc_len: u32,
}

impl<'a> DataWriter<'a> {
    #[inline]
    fn new(sh: &'a Shared, pos: u64, end: u64) -> Self {
        DataWriter {
            words: sh.mem.words_from(USER_WORDS),
            mask: ((sh.data_size >> 3) as usize).wrapping_sub(1),
            pos,
            end,
            acc: 0,
            acc_len: 0,
        }
    }
    #[inline]
    fn for_handle(sh: &'a Shared, h: &Handle) -> Self {
        DataWriter { acc: h.acc, acc_len: h.acc_len, ..DataWriter::new(sh, h.pos, h.end) }
    }
    #[inline]
    fn save(&self, h: &mut Handle) {
        h.pos = self.pos;
        h.acc = self.acc;
        h.acc_len = self.acc_len;
    }
    #[inline(always)]
    fn store(&mut self, v: u64) {
        if self.pos != self.end {
            let i = (self.pos >> 3) as usize & self.mask;
            self.words[i].store(v.to_le(), Ordering::Relaxed);
            self.pos = self.pos.wrapping_add(8);
        }
    }
}

impl Sink for DataWriter<'_> {
    #[inline(always)]
    fn put_u64(&mut self, v: u64) {
        if self.acc_len == 0 {
            self.store(v);
        } else {
            self.put_bytes(&v.to_le_bytes());
        }
    }
    #[inline(always)]
    fn put_u32(&mut self, v: u32) {
        if self.acc_len == 4 {
            let w = self.acc | (u64::from(v) << 32);
            self.acc = 0;
            self.acc_len = 0;
            self.store(w);
        } else if self.acc_len == 0 {
            self.acc = u64::from(v);
            self.acc_len = 4;
        } else {
            self.put_bytes(&v.to_le_bytes());
        }
    }
    fn put_bytes(&mut self, b: &[u8]) {
        for &c in b {
            self.acc |= u64::from(c) << (8 * self.acc_len);
            self.acc_len += 1;
            if self.acc_len == 8 {
                let w = self.acc;
                self.acc = 0;
                self.acc_len = 0;
                self.store(w);
            }
        }
    }
}

/// A perf ring buffer: the producer side (kernel state) owning the memory, plus any number
/// of [`RingConsumer`]s sharing it.
#[derive(Debug)]
pub struct RingBuffer {
    pub(crate) shared: Arc<Shared>,
    cfg: RingConfig,
    nr_pages: u32,
    head: u64,
    wakeup: u64,
    watermark: u64,
    lost: u64,
    nest: u32,
    paused: bool,
    events: u32,
    poll_pending: bool,
    stats: RingStats,
    pub(crate) aux: Option<AuxArea>,
}

impl RingBuffer {
    /// Create the ring as rb_alloc() + ring_buffer_init() + perf_event_init_userpage() +
    /// perf_event_update_userpage() do at the first mmap (so `lock` reads 2).
    pub fn new(cfg: RingConfig) -> Result<Self> {
        if cfg.data_pages != 0 && !cfg.data_pages.is_power_of_two() {
            return Err(Error::perf(
                Errno::EINVAL,
                format!("data_pages {} is neither 0 nor a power of two", cfg.data_pages),
            ));
        }
        if !cfg.page_size.is_power_of_two() || cfg.page_size < 8 || cfg.page_size > PAGE_SIZE {
            return Err(Error::Usage(format!(
                "page_size {} must be a power of two between 8 and {PAGE_SIZE}",
                cfg.page_size
            )));
        }
        if cfg.start % 8 != 0 {
            return Err(Error::Usage(format!(
                "start position {:#x} must be 8-aligned (records are multiples of 8 bytes)",
                cfg.start
            )));
        }
        let data_size = u64::from(cfg.data_pages) * cfg.page_size as u64;
        if data_size > (1 << 32) {
            return Err(Error::perf(Errno::ENOMEM, format!("data area of {data_size} bytes is too large to model")));
        }
        let mem = Words::zeroed(PAGE_SIZE + data_size as usize);
        init_userpage(&mem, data_size);
        update_userpage(&mem, &UserPageCounters::default());
        mem.store(HEAD_WORD, cfg.start, Ordering::Relaxed);
        mem.store(TAIL_WORD, cfg.start, Ordering::Relaxed);
        let watermark = if cfg.watermark && cfg.wakeup_watermark != 0 {
            u64::from(cfg.wakeup_watermark).min(data_size)
        } else {
            data_size / 2
        };
        let wm_base = if cfg.backward { cfg.start.wrapping_neg() } else { cfg.start };
        Ok(RingBuffer {
            shared: Arc::new(Shared {
                mem,
                data_size,
                backward: cfg.backward,
                overwrite: !cfg.writable,
                aux: std::sync::OnceLock::new(),
            }),
            cfg,
            nr_pages: cfg.data_pages,
            head: cfg.start,
            wakeup: wm_base,
            watermark,
            lost: 0,
            nest: 0,
            paused: cfg.data_pages == 0,
            events: 0,
            poll_pending: false,
            stats: RingStats::default(),
            aux: None,
        })
    }

    /// A consumer sharing this ring's memory.
    pub fn consumer(&self) -> RingConsumer {
        RingConsumer::new(Arc::clone(&self.shared))
    }

    /// The creation settings.
    pub fn config(&self) -> &RingConfig {
        &self.cfg
    }
    /// `data_size` in bytes.
    pub fn data_size(&self) -> u64 {
        self.shared.data_size
    }
    /// Overwrite mode (read-only creating mapping).
    pub fn overwrite(&self) -> bool {
        self.shared.overwrite
    }
    /// `rb->head` (free-running, may be ahead of the published `data_head` inside a writer).
    pub fn head(&self) -> u64 {
        self.head
    }
    /// Records dropped and not yet reported by a LOST record (`rb->lost`).
    pub fn pending_lost(&self) -> u64 {
        self.lost
    }
    /// `rb->watermark` in bytes.
    pub fn watermark(&self) -> u64 {
        self.watermark
    }
    /// `rb->nest`: writers currently inside the ring.
    pub fn nest(&self) -> u32 {
        self.nest
    }
    /// `rb->paused`.
    pub fn paused(&self) -> bool {
        self.paused
    }
    /// Counters.
    pub fn stats(&self) -> RingStats {
        self.stats
    }
    /// Poll: true (and cleared) when a wakeup was delivered since the last poll.
    pub fn poll(&mut self) -> bool {
        std::mem::take(&mut self.poll_pending)
    }

    pub(crate) fn deliver_wakeup(&mut self) {
        self.stats.wakeups += 1;
        self.poll_pending = true;
    }

    /// `PERF_EVENT_IOC_PAUSE_OUTPUT`: EINVAL on a ring without data pages; resuming only
    /// clears the flag when there are data pages (rb_toggle_paused()).
    pub fn pause_output(&mut self, pause: bool) -> Result<()> {
        if self.nr_pages == 0 {
            return Err(Error::perf(Errno::EINVAL, "PAUSE_OUTPUT on a ring with 0 data pages"));
        }
        self.paused = pause || self.nr_pages == 0;
        Ok(())
    }

    /// Rewrite the user page's counter block under the `lock` seqcount.
    pub fn update_userpage(&mut self, c: &UserPageCounters) {
        update_userpage(&self.shared.mem, c);
    }

    /// Write `aux_offset` / `aux_size` into the user page, as a process does before mapping
    /// the AUX area.
    pub fn set_aux_area(&mut self, aux_offset: u64, aux_size: u64) {
        self.shared.mem.write_field(OFF_AUX_OFFSET, 8, aux_offset);
        self.shared.mem.write_field(OFF_AUX_SIZE, 8, aux_size);
    }

    fn has_space(&self, head: u64, tail: u64, size: u64) -> bool {
        let mask = self.shared.data_size.wrapping_sub(1);
        let space = if self.cfg.backward {
            head.wrapping_sub(tail).wrapping_sub(1) & mask
        } else {
            tail.wrapping_sub(head).wrapping_sub(1) & mask
        };
        space >= size
    }

    /// Reserve `size` bytes for one record (`__perf_output_begin`). `ids` are the trailer
    /// values of the record, used for the PERF_RECORD_LOST written first when losses are
    /// pending. `Ok(None)` is the kernel's -ENOSPC: the record is dropped whole and, unless the
    /// ring has no data pages, counted in `rb->lost`.
    pub fn begin(&mut self, ev: &OutputEvent, size: usize, ids: &SampleId) -> Result<Option<Handle>> {
        if size < 8 || size % 8 != 0 || size > MAX_RECORD_SIZE {
            return Err(Error::Usage(format!(
                "record size {size} must be a multiple of 8 between 8 and {MAX_RECORD_SIZE}"
            )));
        }
        Ok(self.reserve(ev, size, || *ids).map(|(pos, end, wakeup)| Handle { pos, end, wakeup, acc: 0, acc_len: 0 }))
    }

    /// The body of __perf_output_begin(): returns the record's byte range (after any LOST
    /// record written first) and the wakeup snapshot of perf_output_get_handle().
    #[inline(always)]
    fn reserve(&mut self, ev: &OutputEvent, size: usize, ids: impl FnOnce() -> SampleId) -> Option<(u64, u64, u64)> {
        if self.paused {
            if self.nr_pages != 0 {
                self.lost += 1;
                self.stats.lost += 1;
            }
            return None;
        }
        let have_lost = self.lost;
        let lost_size = if have_lost != 0 { 24 + ev.format.trailer_size() } else { 0 };
        let total = (size + lost_size) as u64;
        // perf_output_get_handle()
        self.nest += 1;
        let wakeup = self.wakeup;
        let tail = self.shared.mem.load(TAIL_WORD, Ordering::Acquire); // A, pairs with D
        let offset = self.head;
        if !self.shared.overwrite && !self.has_space(offset, tail, total) {
            self.lost += 1;
            self.stats.lost += 1;
            self.put_handle(wakeup);
            return None;
        }
        let (start, wm_head) = if self.cfg.backward {
            let h = offset.wrapping_sub(total);
            self.head = h;
            (h, h.wrapping_neg())
        } else {
            self.head = offset.wrapping_add(total);
            (offset, self.head)
        };
        if wm_head.wrapping_sub(self.wakeup) > self.watermark {
            self.wakeup = self.wakeup.wrapping_add(self.watermark);
        }
        self.stats.bytes += total;
        let end = start.wrapping_add(total);
        if have_lost == 0 {
            return Some((start, end, wakeup));
        }
        let lost = std::mem::take(&mut self.lost);
        self.stats.lost_records += 1;
        self.stats.lost_reported += lost;
        let mut w = DataWriter::new(&self.shared, start, end);
        w.put_u64(header_word(PERF_RECORD_LOST, 0, lost_size as u16));
        w.put_u64(ev.id);
        w.put_u64(lost);
        ev.format.encode_trailer(&ids(), &mut w);
        Some((w.pos, end, wakeup))
    }

    /// Write bytes into a reservation (`perf_output_copy`), wrapping across the end of the
    /// data area. Writing past the reservation is a usage error.
    pub fn put(&mut self, h: &mut Handle, bytes: &[u8]) -> Result<()> {
        if bytes.len() > h.remaining() {
            return Err(Error::Usage(format!(
                "write of {} bytes exceeds the {} bytes left in the reservation",
                bytes.len(),
                h.remaining()
            )));
        }
        let mut w = DataWriter::for_handle(&self.shared, h);
        w.put_bytes(bytes);
        w.save(h);
        Ok(())
    }

    /// Finish a reservation (`perf_output_end` -> perf_output_put_handle): only the outermost
    /// writer publishes `data_head` (release) and delivers a pending wakeup. Unwritten bytes
    /// are zero-filled and reported as a usage error.
    pub fn end(&mut self, mut h: Handle) -> Result<()> {
        let left = h.remaining();
        if left != 0 {
            let mut w = DataWriter::for_handle(&self.shared, &h);
            w.put_zeros(left);
            w.save(&mut h);
        }
        self.put_handle(h.wakeup);
        if left != 0 {
            return Err(Error::Usage(format!(
                "record ended with {left} of its reserved bytes unwritten (zero-filled)"
            )));
        }
        Ok(())
    }

    #[inline]
    fn put_handle(&mut self, wakeup: u64) {
        if self.nest > 1 {
            self.nest -= 1;
            return;
        }
        self.shared.mem.store(HEAD_WORD, self.head, Ordering::Release); // B, pairs with C
        self.nest = 0;
        if wakeup != self.wakeup {
            self.deliver_wakeup();
        }
    }

    fn count_sample_wakeup(&mut self) {
        if !self.cfg.watermark && self.cfg.wakeup_events != 0 {
            self.events += 1;
            if self.events >= self.cfg.wakeup_events {
                self.events -= self.cfg.wakeup_events;
                self.wakeup = self.wakeup.wrapping_add(1);
            }
        }
    }

    /// Output one sample (perf_output_begin + perf_output_sample + perf_output_end). Returns
    /// whether it was written (false: dropped, counted lost).
    #[inline]
    pub fn write_sample(&mut self, ev: &OutputEvent, s: &SampleData) -> Result<bool> {
        if let Some(size) = ev.format.fixed_sample_size() {
            return Ok(self.write_fixed_sample(ev, s, size));
        }
        self.write_variable_sample(ev, s)
    }

    #[inline(never)]
    fn write_variable_sample(&mut self, ev: &OutputEvent, s: &SampleData) -> Result<bool> {
        let size = ev.format.sample_size(s)?;
        let Some((pos, end, wakeup)) = self.reserve(ev, size, || s.sample_id()) else {
            return Ok(false);
        };
        let mut w = DataWriter::new(&self.shared, pos, end);
        ev.format.encode_sample(s, size, &mut w);
        let (wrote, partial) = (w.pos.wrapping_sub(pos), w.acc_len != 0);
        if wrote != end.wrapping_sub(pos) || partial {
            self.put_handle(wakeup);
            return Err(Error::Internal(format!("sample encoder wrote {wrote} of {size} bytes")));
        }
        self.count_sample_wakeup();
        self.stats.records += 1;
        self.put_handle(wakeup);
        Ok(true)
    }

    #[inline(always)]
    fn write_fixed_sample(&mut self, ev: &OutputEvent, s: &SampleData, size: usize) -> bool {
        let Some((pos, _end, wakeup)) = self.reserve(ev, size, || s.sample_id()) else {
            return false;
        };
        let words = self.shared.mem.words_from(USER_WORDS);
        let mask = ((self.shared.data_size >> 3) as usize).wrapping_sub(1);
        let first = (pos >> 3) as usize & mask;
        let n = size / 8;
        if first + n <= words.len() {
            // no wrap: one contiguous run of words
            let dst = &words[first..first + n];
            let mut i = 0;
            ev.format.encode_fixed_sample(s, |v| {
                dst[i].store(v.to_le(), Ordering::Relaxed);
                i += 1;
            });
        } else {
            let mut i = first;
            ev.format.encode_fixed_sample(s, |v| {
                words[i & mask].store(v.to_le(), Ordering::Relaxed);
                i += 1;
            });
        }
        self.count_sample_wakeup();
        self.stats.records += 1;
        self.put_handle(wakeup);
        true
    }

    /// Output any record (a SAMPLE body goes through [`RingBuffer::write_sample`]).
    pub fn write_record(&mut self, ev: &OutputEvent, r: &Record) -> Result<bool> {
        if let RecordBody::Sample(s) = &r.body {
            return self.write_sample(ev, s);
        }
        let size = r.size(&ev.format)?;
        let Some(mut h) = self.begin(ev, size, &r.sample_id)? else {
            return Ok(false);
        };
        let mut w = DataWriter::for_handle(&self.shared, &h);
        r.encode(&ev.format, size, &mut w);
        w.save(&mut h);
        self.stats.records += 1;
        self.end(h)?;
        Ok(true)
    }

    /// Output an already-encoded record (`bytes.len()` must equal its header.size); `ids`
    /// serve the LOST record that may precede it.
    pub fn write_bytes(&mut self, ev: &OutputEvent, bytes: &[u8], ids: &SampleId) -> Result<bool> {
        let (type_, _, size) = super::decode::parse_header(bytes)?;
        if size as usize != bytes.len() {
            return Err(Error::Usage(format!(
                "record header.size {size} does not match the {} bytes given",
                bytes.len()
            )));
        }
        let Some(mut h) = self.begin(ev, bytes.len(), ids)? else {
            return Ok(false);
        };
        self.put(&mut h, bytes)?;
        if type_ == crate::abi::record::PERF_RECORD_SAMPLE {
            self.count_sample_wakeup();
        }
        self.stats.records += 1;
        self.end(h)?;
        Ok(true)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::abi::sample::*;

    fn ev() -> OutputEvent {
        OutputEvent { id: 42, format: OutputFormat::new(PERF_SAMPLE_IP | PERF_SAMPLE_TIME, 0, true, 0, 0, 0).unwrap() }
    }

    #[test]
    fn full_ring_drops_whole_records_and_reports_lost_before_the_next() {
        let mut rb = RingBuffer::new(RingConfig { data_pages: 1, page_size: 64, ..Default::default() }).unwrap();
        let c = rb.consumer();
        let e = ev();
        let s = |t| SampleData { ip: 1, time: t, ..Default::default() };
        // 24-byte samples: 63 bytes of space hold two
        assert!(rb.write_sample(&e, &s(1)).unwrap());
        assert!(rb.write_sample(&e, &s(2)).unwrap());
        assert!(!rb.write_sample(&e, &s(3)).unwrap());
        assert!(!rb.write_sample(&e, &s(4)).unwrap());
        assert_eq!(rb.pending_lost(), 2);
        assert_eq!(c.read_records().unwrap().len(), 2);
        assert!(rb.write_sample(&e, &s(5)).unwrap());
        let recs = c.read_records().unwrap();
        assert_eq!(recs.len(), 2);
        let lost = super::super::decode::decode_record(&recs[0], &e.format).unwrap();
        match lost.record.unwrap() {
            Record { body: RecordBody::Lost { id, lost }, sample_id, .. } => {
                assert_eq!((id, lost), (42, 2));
                assert_eq!(sample_id.time, 5, "LOST trailer comes from the following record");
            }
            r => panic!("expected LOST, got {r:?}"),
        }
    }

    #[test]
    fn nested_writer_is_published_only_by_the_outer_end() {
        let mut rb = RingBuffer::new(RingConfig::default()).unwrap();
        let c = rb.consumer();
        let e = ev();
        let outer = Record::new(0, RecordBody::LostSamples { lost: 9 });
        let size = outer.size(&e.format).unwrap();
        let mut h = rb.begin(&e, size, &SampleId::default()).unwrap().unwrap();
        assert!(rb.write_sample(&e, &SampleData { ip: 7, ..Default::default() }).unwrap());
        assert_eq!(c.data_head(), 0, "the nested end must not publish");
        assert_eq!(rb.nest(), 1);
        rb.put(&mut h, &outer.to_bytes(&e.format).unwrap()).unwrap();
        rb.end(h).unwrap();
        assert_eq!(c.data_head(), rb.head());
        let recs = c.read_records().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(u32::from_le_bytes(recs[0][..4].try_into().unwrap()), crate::abi::record::PERF_RECORD_LOST_SAMPLES);
    }
}
