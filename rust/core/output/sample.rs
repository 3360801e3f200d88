//! PERF_RECORD_SAMPLE and the data every record can carry: the event's output format
//! (`sample_type`, `read_format`, `sample_id_all` and the masks that size variable fields), the
//! `sample_id` trailer, read_format values, and the byte encoder of a sample in the exact field
//! order. Models __perf_event_header_size(), perf_event__id_header_size(),
//! __perf_event_header__init_id(), perf_event__output_id_sample(), perf_output_read_one/_group()
//! and perf_output_sample() in kernel/events/core.c; facts: spec/ring-buffer-aux-records.md
//! §5 (sample_id), §6.2-§6.5.

use crate::abi::record::PERF_RECORD_SAMPLE;
use crate::abi::sample::*;
use crate::error::{Errno, Error, Result};

/// Where encoders put bytes: a `Vec<u8>` or a reserved range of a ring buffer.
pub trait Sink {
    /// Append a little-endian u64.
    fn put_u64(&mut self, v: u64);
    /// Append a little-endian u32.
    fn put_u32(&mut self, v: u32);
    /// Append raw bytes.
    fn put_bytes(&mut self, b: &[u8]);
    /// Append `n` zero bytes (the kernel skips pad bytes; the model writes zeros).
    fn put_zeros(&mut self, n: usize) {
        for _ in 0..n {
            self.put_bytes(&[0]);
        }
    }
}

impl Sink for Vec<u8> {
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_bytes(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
    fn put_zeros(&mut self, n: usize) {
        self.resize(self.len() + n, 0);
    }
}

/// Sample fields whose size depends on the data; formats without them have a fixed size and
/// take the fast path of [`OutputFormat::encode_fixed_sample`].
pub const VARIABLE_SAMPLE_FIELDS: u64 = PERF_SAMPLE_READ
    | PERF_SAMPLE_CALLCHAIN
    | PERF_SAMPLE_RAW
    | PERF_SAMPLE_BRANCH_STACK
    | PERF_SAMPLE_REGS_USER
    | PERF_SAMPLE_STACK_USER
    | PERF_SAMPLE_REGS_INTR
    | PERF_SAMPLE_AUX;

/// Largest record: `perf_event_header.size` is a u16.
pub const MAX_RECORD_SIZE: usize = u16::MAX as usize;

/// What an event's records look like: the attr fields that decide sample and trailer layout,
/// with the fixed sizes precomputed as the kernel does at event creation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputFormat {
    /// `attr.sample_type`.
    pub sample_type: u64,
    /// `attr.read_format`.
    pub read_format: u64,
    /// `attr.sample_id_all`: non-sample records carry the `sample_id` trailer.
    pub sample_id_all: bool,
    /// `attr.branch_sample_type` (HW_INDEX adds `hw_idx`, COUNTERS adds per-entry counters).
    pub branch_sample_type: u64,
    /// `attr.sample_regs_user` (number of registers after a non-zero abi).
    pub sample_regs_user: u64,
    /// `attr.sample_regs_intr`.
    pub sample_regs_intr: u64,
    id_header_size: u16,
    fixed_sample_size: u16,
}

impl OutputFormat {
    /// The record layout of an event's attr (sample_type, read_format, sample_id_all, branch
    /// and register masks), validated as [`OutputFormat::new`] does.
    pub fn for_attr(a: &crate::abi::attr::PerfEventAttr) -> Result<Self> {
        Self::new(
            a.sample_type,
            a.read_format,
            a.flag(crate::abi::attr::AttrFlag::SampleIdAll),
            a.branch_sample_type,
            a.sample_regs_user,
            a.sample_regs_intr,
        )
    }

    /// Validate the masks (EINVAL as perf_event_open would) and precompute the sizes.
    pub fn new(
        sample_type: u64,
        read_format: u64,
        sample_id_all: bool,
        branch_sample_type: u64,
        sample_regs_user: u64,
        sample_regs_intr: u64,
    ) -> Result<Self> {
        if sample_type & !(PERF_SAMPLE_MAX - 1) != 0 {
            return Err(Error::perf(
                Errno::EINVAL,
                format!(
                    "attr.sample_type {sample_type:#x} has unknown bit {}",
                    (sample_type & !(PERF_SAMPLE_MAX - 1)).trailing_zeros()
                ),
            ));
        }
        if sample_type & PERF_SAMPLE_WEIGHT_TYPE == PERF_SAMPLE_WEIGHT_TYPE {
            return Err(Error::perf(Errno::EINVAL, "attr.sample_type has both WEIGHT and WEIGHT_STRUCT"));
        }
        if read_format & !(PERF_FORMAT_MAX - 1) != 0 {
            return Err(Error::perf(Errno::EINVAL, format!("attr.read_format {read_format:#x} has unknown bits")));
        }
        let mut f = OutputFormat {
            sample_type,
            read_format,
            sample_id_all,
            branch_sample_type,
            sample_regs_user,
            sample_regs_intr,
            id_header_size: 0,
            fixed_sample_size: 0,
        };
        let st = sample_type;
        let mut id = 0u16;
        for bit in [
            PERF_SAMPLE_TID,
            PERF_SAMPLE_TIME,
            PERF_SAMPLE_ID,
            PERF_SAMPLE_STREAM_ID,
            PERF_SAMPLE_CPU,
            PERF_SAMPLE_IDENTIFIER,
        ] {
            if st & bit != 0 {
                id += 8;
            }
        }
        f.id_header_size = id;
        let mut fixed = 8 + id;
        for bit in [
            PERF_SAMPLE_IP,
            PERF_SAMPLE_ADDR,
            PERF_SAMPLE_PERIOD,
            PERF_SAMPLE_DATA_SRC,
            PERF_SAMPLE_TRANSACTION,
            PERF_SAMPLE_PHYS_ADDR,
            PERF_SAMPLE_CGROUP,
            PERF_SAMPLE_DATA_PAGE_SIZE,
            PERF_SAMPLE_CODE_PAGE_SIZE,
        ] {
            if st & bit != 0 {
                fixed += 8;
            }
        }
        if st & PERF_SAMPLE_WEIGHT_TYPE != 0 {
            fixed += 8;
        }
        f.fixed_sample_size = fixed;
        Ok(f)
    }

    /// A format with only `sample_type` (no read_format, no sample_id_all, no masks).
    pub fn simple(sample_type: u64) -> Result<Self> {
        Self::new(sample_type, 0, false, 0, 0, 0)
    }

    /// `id_header_size`: bytes of the `sample_id` trailer (0 unless `sample_id_all`).
    pub fn trailer_size(&self) -> usize {
        if self.sample_id_all {
            self.id_header_size as usize
        } else {
            0
        }
    }

    /// Bytes the `sample_id` fields take (whether or not `sample_id_all` is set).
    pub fn id_header_size(&self) -> usize {
        self.id_header_size as usize
    }

    /// Size of a read_format block with `nr` values.
    pub fn read_size(&self, nr: usize) -> usize {
        let rf = self.read_format;
        let mut per = 8;
        if rf & PERF_FORMAT_ID != 0 {
            per += 8;
        }
        if rf & PERF_FORMAT_LOST != 0 {
            per += 8;
        }
        let mut s = 0;
        if rf & PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
            s += 8;
        }
        if rf & PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
            s += 8;
        }
        if rf & PERF_FORMAT_GROUP != 0 {
            s + 8 + nr * per
        } else {
            s + per
        }
    }

    fn check_read(&self, what: &str, r: &ReadValues) -> Result<()> {
        if self.read_format & PERF_FORMAT_GROUP == 0 && r.values.len() != 1 {
            return Err(Error::Usage(format!(
                "{what}: read_format without GROUP needs exactly 1 value, got {}",
                r.values.len()
            )));
        }
        Ok(())
    }

    /// The sample size when `sample_type` has no variable-size field.
    #[inline]
    pub fn fixed_sample_size(&self) -> Option<usize> {
        if self.sample_type & VARIABLE_SAMPLE_FIELDS == 0 {
            Some(self.fixed_sample_size as usize)
        } else {
            None
        }
    }

    /// Fast path for fixed-size formats: hands the sample's words (header first) to `put`,
    /// `fixed_sample_size() / 8` of them. Same bytes as [`OutputFormat::encode_sample`].
    #[inline(always)]
    pub fn encode_fixed_sample(&self, s: &SampleData, mut put: impl FnMut(u64)) {
        let st = self.sample_type;
        put(header_word(PERF_RECORD_SAMPLE, s.misc, self.fixed_sample_size));
        if st & PERF_SAMPLE_IDENTIFIER != 0 {
            put(s.id);
        }
        if st & PERF_SAMPLE_IP != 0 {
            put(s.ip);
        }
        if st & PERF_SAMPLE_TID != 0 {
            put(u64::from(s.pid) | (u64::from(s.tid) << 32));
        }
        if st & PERF_SAMPLE_TIME != 0 {
            put(s.time);
        }
        if st & PERF_SAMPLE_ADDR != 0 {
            put(s.addr);
        }
        if st & PERF_SAMPLE_ID != 0 {
            put(s.id);
        }
        if st & PERF_SAMPLE_STREAM_ID != 0 {
            put(s.stream_id);
        }
        if st & PERF_SAMPLE_CPU != 0 {
            put(u64::from(s.cpu));
        }
        if st & PERF_SAMPLE_PERIOD != 0 {
            put(s.period);
        }
        if st & PERF_SAMPLE_WEIGHT_TYPE != 0 {
            put(s.weight);
        }
        if st & PERF_SAMPLE_DATA_SRC != 0 {
            put(s.data_src);
        }
        if st & PERF_SAMPLE_TRANSACTION != 0 {
            put(s.transaction);
        }
        if st & PERF_SAMPLE_PHYS_ADDR != 0 {
            put(s.phys_addr);
        }
        if st & PERF_SAMPLE_CGROUP != 0 {
            put(s.cgroup);
        }
        if st & PERF_SAMPLE_DATA_PAGE_SIZE != 0 {
            put(s.data_page_size);
        }
        if st & PERF_SAMPLE_CODE_PAGE_SIZE != 0 {
            put(s.code_page_size);
        }
    }

    /// The exact `header.size` of this sample (perf_prepare_sample() arithmetic), validating
    /// that variable parts agree with the format.
    #[inline]
    pub fn sample_size(&self, s: &SampleData) -> Result<usize> {
        let st = self.sample_type;
        let mut size = self.fixed_sample_size as usize;
        if st & PERF_SAMPLE_READ != 0 {
            self.check_read("sample.read", &s.read)?;
            size += self.read_size(s.read.values.len());
        }
        if st & PERF_SAMPLE_CALLCHAIN != 0 {
            size += 8 + 8 * s.callchain.len();
        }
        if st & PERF_SAMPLE_RAW != 0 {
            size += match &s.raw {
                Some(r) => (4 + r.len()).div_ceil(8) * 8,
                None => 8,
            };
        }
        if st & PERF_SAMPLE_BRANCH_STACK != 0 {
            size += 8;
            if let Some(b) = &s.branch {
                if self.branch_sample_type & PERF_SAMPLE_BRANCH_HW_INDEX != 0 {
                    size += 8;
                }
                size += 24 * b.entries.len();
                if let Some(c) = &b.counters {
                    if c.len() != b.entries.len() {
                        return Err(Error::Usage(format!(
                            "sample.branch.counters has {} values for {} entries",
                            c.len(),
                            b.entries.len()
                        )));
                    }
                    size += 8 * c.len();
                }
            }
        }
        if st & PERF_SAMPLE_REGS_USER != 0 {
            size += regs_size("sample.regs_user", &s.regs_user, self.sample_regs_user)?;
        }
        if st & PERF_SAMPLE_STACK_USER != 0 {
            if s.stack_user.len() % 8 != 0 {
                return Err(Error::Usage(format!(
                    "sample.stack_user has {} bytes, not a multiple of 8",
                    s.stack_user.len()
                )));
            }
            size += if s.stack_user.is_empty() { 8 } else { 16 + s.stack_user.len() };
        }
        if st & PERF_SAMPLE_REGS_INTR != 0 {
            size += regs_size("sample.regs_intr", &s.regs_intr, self.sample_regs_intr)?;
        }
        if st & PERF_SAMPLE_AUX != 0 {
            size += 8 + s.aux.len().div_ceil(8) * 8;
        }
        if size > MAX_RECORD_SIZE {
            return Err(Error::Usage(format!("sample size {size} exceeds the u16 header.size (65535)")));
        }
        Ok(size)
    }

    /// Encode the whole SAMPLE record (header included) into `out`; `size` must come from
    /// [`OutputFormat::sample_size`] for the same data.
    #[inline]
    pub fn encode_sample<S: Sink + ?Sized>(&self, s: &SampleData, size: usize, out: &mut S) {
        let st = self.sample_type;
        out.put_u64(header_word(PERF_RECORD_SAMPLE, s.misc, size as u16));
        if st & PERF_SAMPLE_IDENTIFIER != 0 {
            out.put_u64(s.id);
        }
        if st & PERF_SAMPLE_IP != 0 {
            out.put_u64(s.ip);
        }
        if st & PERF_SAMPLE_TID != 0 {
            out.put_u32(s.pid);
            out.put_u32(s.tid);
        }
        if st & PERF_SAMPLE_TIME != 0 {
            out.put_u64(s.time);
        }
        if st & PERF_SAMPLE_ADDR != 0 {
            out.put_u64(s.addr);
        }
        if st & PERF_SAMPLE_ID != 0 {
            out.put_u64(s.id);
        }
        if st & PERF_SAMPLE_STREAM_ID != 0 {
            out.put_u64(s.stream_id);
        }
        if st & PERF_SAMPLE_CPU != 0 {
            out.put_u32(s.cpu);
            out.put_u32(0);
        }
        if st & PERF_SAMPLE_PERIOD != 0 {
            out.put_u64(s.period);
        }
        if st & PERF_SAMPLE_READ != 0 {
            self.encode_read(&s.read, out);
        }
        if st & PERF_SAMPLE_CALLCHAIN != 0 {
            out.put_u64(s.callchain.len() as u64);
            for ip in &s.callchain {
                out.put_u64(*ip);
            }
        }
        if st & PERF_SAMPLE_RAW != 0 {
            match &s.raw {
                Some(r) => {
                    let padded = (4 + r.len()).div_ceil(8) * 8 - 4;
                    out.put_u32(padded as u32);
                    out.put_bytes(r);
                    out.put_zeros(padded - r.len());
                }
                None => {
                    out.put_u32(4);
                    out.put_u32(0);
                }
            }
        }
        if st & PERF_SAMPLE_BRANCH_STACK != 0 {
            match &s.branch {
                Some(b) => {
                    out.put_u64(b.entries.len() as u64);
                    if self.branch_sample_type & PERF_SAMPLE_BRANCH_HW_INDEX != 0 {
                        out.put_u64(b.hw_idx);
                    }
                    for e in &b.entries {
                        out.put_u64(e.from);
                        out.put_u64(e.to);
                        out.put_u64(e.flags);
                    }
                    if let Some(c) = &b.counters {
                        for v in c {
                            out.put_u64(*v);
                        }
                    }
                }
                None => out.put_u64(0),
            }
        }
        if st & PERF_SAMPLE_REGS_USER != 0 {
            encode_regs(&s.regs_user, out);
        }
        if st & PERF_SAMPLE_STACK_USER != 0 {
            out.put_u64(s.stack_user.len() as u64);
            if !s.stack_user.is_empty() {
                out.put_bytes(&s.stack_user);
                out.put_u64(s.stack_user_dyn_size);
            }
        }
        if st & PERF_SAMPLE_WEIGHT_TYPE != 0 {
            out.put_u64(s.weight);
        }
        if st & PERF_SAMPLE_DATA_SRC != 0 {
            out.put_u64(s.data_src);
        }
        if st & PERF_SAMPLE_TRANSACTION != 0 {
            out.put_u64(s.transaction);
        }
        if st & PERF_SAMPLE_REGS_INTR != 0 {
            encode_regs(&s.regs_intr, out);
        }
        if st & PERF_SAMPLE_PHYS_ADDR != 0 {
            out.put_u64(s.phys_addr);
        }
        if st & PERF_SAMPLE_CGROUP != 0 {
            out.put_u64(s.cgroup);
        }
        if st & PERF_SAMPLE_DATA_PAGE_SIZE != 0 {
            out.put_u64(s.data_page_size);
        }
        if st & PERF_SAMPLE_CODE_PAGE_SIZE != 0 {
            out.put_u64(s.code_page_size);
        }
        if st & PERF_SAMPLE_AUX != 0 {
            let padded = s.aux.len().div_ceil(8) * 8;
            out.put_u64(padded as u64);
            out.put_bytes(&s.aux);
            out.put_zeros(padded - s.aux.len());
        }
    }

    /// Encode a sample into a new byte vector.
    pub fn sample_bytes(&self, s: &SampleData) -> Result<Vec<u8>> {
        let size = self.sample_size(s)?;
        let mut v = Vec::with_capacity(size);
        self.encode_sample(s, size, &mut v);
        Ok(v)
    }

    /// Encode read_format values (perf_output_read_one / perf_output_read_group order).
    pub fn encode_read<S: Sink + ?Sized>(&self, r: &ReadValues, out: &mut S) {
        let rf = self.read_format;
        let group = rf & PERF_FORMAT_GROUP != 0;
        if group {
            out.put_u64(r.values.len() as u64);
        } else {
            out.put_u64(r.values.first().map_or(0, |v| v.value));
        }
        if rf & PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
            out.put_u64(r.time_enabled);
        }
        if rf & PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
            out.put_u64(r.time_running);
        }
        let put_rest = |v: &ReadValue, out: &mut S| {
            if rf & PERF_FORMAT_ID != 0 {
                out.put_u64(v.id);
            }
            if rf & PERF_FORMAT_LOST != 0 {
                out.put_u64(v.lost);
            }
        };
        if group {
            for v in &r.values {
                out.put_u64(v.value);
                put_rest(v, out);
            }
        } else if let Some(v) = r.values.first() {
            put_rest(v, out);
        }
    }

    /// Append the `sample_id` trailer (nothing unless `sample_id_all`), in the kernel's order:
    /// TID, TIME, ID, STREAM_ID, CPU, IDENTIFIER.
    pub fn encode_trailer<S: Sink + ?Sized>(&self, id: &SampleId, out: &mut S) {
        if !self.sample_id_all {
            return;
        }
        let st = self.sample_type;
        if st & PERF_SAMPLE_TID != 0 {
            out.put_u32(id.pid);
            out.put_u32(id.tid);
        }
        if st & PERF_SAMPLE_TIME != 0 {
            out.put_u64(id.time);
        }
        if st & PERF_SAMPLE_ID != 0 {
            out.put_u64(id.id);
        }
        if st & PERF_SAMPLE_STREAM_ID != 0 {
            out.put_u64(id.stream_id);
        }
        if st & PERF_SAMPLE_CPU != 0 {
            out.put_u32(id.cpu);
            out.put_u32(0);
        }
        if st & PERF_SAMPLE_IDENTIFIER != 0 {
            out.put_u64(id.id);
        }
    }
}

fn regs_size(what: &str, r: &Regs, mask: u64) -> Result<usize> {
    if r.abi == PERF_SAMPLE_REGS_ABI_NONE {
        return Ok(8);
    }
    let n = mask.count_ones() as usize;
    if r.regs.len() != n {
        return Err(Error::Usage(format!("{what} has {} registers but the mask {mask:#x} selects {n}", r.regs.len())));
    }
    Ok(8 + 8 * n)
}

fn encode_regs<S: Sink + ?Sized>(r: &Regs, out: &mut S) {
    out.put_u64(r.abi);
    if r.abi != PERF_SAMPLE_REGS_ABI_NONE {
        for v in &r.regs {
            out.put_u64(*v);
        }
    }
}

/// The 8 bytes of `struct perf_event_header {u32 type; u16 misc; u16 size}` as one LE word.
#[inline]
pub fn header_word(type_: u32, misc: u16, size: u16) -> u64 {
    u64::from(type_) | (u64::from(misc) << 32) | (u64::from(size) << 48)
}

/// The `sample_id` values of one record (struct sample_id). `id` serves both ID and IDENTIFIER
/// (`primary_event_id()`, the parent's id for inherited events); `stream_id` is the emitting
/// event's own id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SampleId {
    pub pid: u32,
    pub tid: u32,
    pub time: u64,
    pub id: u64,
    pub stream_id: u64,
    pub cpu: u32,
}

/// One counter value of a read_format block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadValue {
    pub value: u64,
    /// With PERF_FORMAT_ID.
    pub id: u64,
    /// With PERF_FORMAT_LOST (`event->lost_samples`, cumulative).
    pub lost: u64,
}

/// A read_format block: one value, or with PERF_FORMAT_GROUP the leader then its siblings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadValues {
    pub time_enabled: u64,
    pub time_running: u64,
    pub values: Vec<ReadValue>,
}

/// `struct perf_branch_entry` (24 bytes; `flags` holds mispred .. priv as packed bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BranchEntry {
    pub from: u64,
    pub to: u64,
    pub flags: u64,
}

/// A branch stack as a PMU supplies it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BranchStack {
    /// Written only when `branch_sample_type` has HW_INDEX.
    pub hw_idx: u64,
    pub entries: Vec<BranchEntry>,
    /// Per-entry counters (BRANCH_COUNTERS), one per entry when present.
    pub counters: Option<Vec<u64>>,
}

/// Sampled registers: `abi` (0 none, 1 ABI_32, 2 ABI_64) then one value per mask bit,
/// ascending bit order, when abi != 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub abi: u64,
    pub regs: Vec<u64>,
}

/// Everything a PERF_RECORD_SAMPLE can carry (`struct perf_sample_data` as far as it is
/// output). Fields not selected by `sample_type` are ignored by the encoder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleData {
    /// `header.misc`: cpumode (+ EXACT_IP).
    pub misc: u16,
    pub ip: u64,
    pub pid: u32,
    pub tid: u32,
    pub time: u64,
    pub addr: u64,
    /// ID and IDENTIFIER.
    pub id: u64,
    pub stream_id: u64,
    pub cpu: u32,
    pub period: u64,
    pub read: ReadValues,
    /// `ips[]` including the PERF_CONTEXT_* markers.
    pub callchain: Vec<u64>,
    /// RAW payload; `None` gives the kernel's `{size=4, u32 0}`. Padded with zeros to end the
    /// block 8-aligned (the u32 size counts the pad).
    pub raw: Option<Vec<u8>>,
    /// `None` writes only `nr = 0` (no hw_idx), as the kernel does without a PMU stack.
    pub branch: Option<BranchStack>,
    pub regs_user: Regs,
    /// User stack dump (a multiple of 8 bytes; empty writes only `size = 0`).
    pub stack_user: Vec<u8>,
    pub stack_user_dyn_size: u64,
    /// WEIGHT, or WEIGHT_STRUCT packed as `{u32 var1_dw; u16 var2_w; u16 var3_w}`.
    pub weight: u64,
    pub data_src: u64,
    pub transaction: u64,
    pub regs_intr: Regs,
    pub phys_addr: u64,
    pub cgroup: u64,
    pub data_page_size: u64,
    pub code_page_size: u64,
    /// AUX snapshot bytes (padded with zeros to 8).
    pub aux: Vec<u8>,
}

impl SampleData {
    /// The trailer values of this sample (used for the LOST record written before it).
    pub fn sample_id(&self) -> SampleId {
        SampleId {
            pid: self.pid,
            tid: self.tid,
            time: self.time,
            id: self.id,
            stream_id: self.stream_id,
            cpu: self.cpu,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_order_matches_the_kernel_for_a_mixed_mask() {
        let st = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD;
        let f = OutputFormat::simple(st).unwrap();
        let s = SampleData { id: 0x11, ip: 0x22, pid: 3, tid: 4, cpu: 5, period: 6, misc: 2, ..Default::default() };
        let b = f.sample_bytes(&s).unwrap();
        assert_eq!(b.len(), 8 + 8 + 8 + 8 + 8 + 8);
        let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
        assert_eq!(w(0), 9 | (2 << 32) | (48 << 48));
        assert_eq!(w(1), 0x11);
        assert_eq!(w(2), 0x22);
        assert_eq!(w(3), 3 | (4 << 32));
        assert_eq!(w(4), 5);
        assert_eq!(w(5), 6);
    }

    #[test]
    fn raw_without_data_is_size_four_and_zero() {
        let f = OutputFormat::simple(PERF_SAMPLE_RAW).unwrap();
        let b = f.sample_bytes(&SampleData::default()).unwrap();
        assert_eq!(&b[8..], &[4, 0, 0, 0, 0, 0, 0, 0]);
        let b = f.sample_bytes(&SampleData { raw: Some(vec![7; 5]), ..Default::default() }).unwrap();
        // u32 size counts the pad: 4 + 12 = 16
        assert_eq!(b.len(), 8 + 16);
        assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 12);
    }

    #[test]
    fn weight_and_weight_struct_together_is_einval() {
        let e = OutputFormat::simple(PERF_SAMPLE_WEIGHT | PERF_SAMPLE_WEIGHT_STRUCT).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::EINVAL));
        let e = OutputFormat::simple(1 << 25).unwrap_err();
        assert!(e.to_string().contains("bit 25"), "{e}");
    }

    #[test]
    fn trailer_order_is_tid_time_id_stream_cpu_identifier() {
        let st = PERF_SAMPLE_TID
            | PERF_SAMPLE_TIME
            | PERF_SAMPLE_ID
            | PERF_SAMPLE_STREAM_ID
            | PERF_SAMPLE_CPU
            | PERF_SAMPLE_IDENTIFIER;
        let f = OutputFormat::new(st, 0, true, 0, 0, 0).unwrap();
        let mut v = Vec::new();
        f.encode_trailer(&SampleId { pid: 1, tid: 2, time: 3, id: 4, stream_id: 5, cpu: 6 }, &mut v);
        let w: Vec<u64> = v.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(w, vec![1 | (2 << 32), 3, 4, 5, 6, 4]);
        assert_eq!(f.trailer_size(), 48);
    }
}
