//! Decoder of the record stream: splits a byte stream into records by `header.size`, decodes
//! every record type the model emits (the same layouts as record.rs / sample.rs, read the way
//! tools/perf/util/evsel.c evsel__parse_sample() and perf_evsel__parse_id_sample() read them)
//! and never panics on garbage: every read is bounds-checked, every count is checked against the
//! bytes left before anything is allocated, and every error names the field, the value and the
//! offset. Facts: spec/ring-buffer-aux-records.md §5-§6.

use super::record::{Mmap2File, Record, RecordBody, TaskRecord, MAX_BUILD_ID_SIZE};
use super::sample::*;
use crate::abi::record::*;
use crate::abi::sample::*;
use crate::error::{Error, Result};

/// A decoded record: its header, and the body when the type is one the model knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedRecord {
    /// `header.type`.
    pub type_: u32,
    /// `header.misc`.
    pub misc: u16,
    /// `header.size` (bytes consumed).
    pub size: u16,
    /// The record; `None` for types the model does not decode (NAMESPACES, KSYMBOL, ...).
    pub record: Option<Record>,
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn need(&self, field: &str, n: usize) -> Result<()> {
        if self.b.len() - self.pos < n {
            return Err(Error::Usage(format!(
                "{} record: field {field} needs {n} bytes at offset {} but only {} are left",
                self.what,
                self.pos,
                self.b.len() - self.pos
            )));
        }
        Ok(())
    }
    fn u64(&mut self, field: &str) -> Result<u64> {
        self.need(field, 8)?;
        let v = u64::from_le_bytes(self.b[self.pos..self.pos + 8].try_into().expect("8"));
        self.pos += 8;
        Ok(v)
    }
    fn u32(&mut self, field: &str) -> Result<u32> {
        self.need(field, 4)?;
        let v = u32::from_le_bytes(self.b[self.pos..self.pos + 4].try_into().expect("4"));
        self.pos += 4;
        Ok(v)
    }
    fn bytes(&mut self, field: &str, n: usize) -> Result<&'a [u8]> {
        self.need(field, n)?;
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// A count of `elem`-byte items: rejected before allocation if it cannot fit.
    fn count(&mut self, field: &str, elem: usize) -> Result<usize> {
        let n = self.u64(field)?;
        let left = (self.b.len() - self.pos) as u64;
        if n > left / elem as u64 {
            return Err(Error::Usage(format!(
                "{} record: {field} = {n} needs {} bytes but only {left} are left",
                self.what,
                n.saturating_mul(elem as u64)
            )));
        }
        Ok(n as usize)
    }
    fn u64s(&mut self, field: &str, n: usize) -> Result<Vec<u64>> {
        self.need(field, n.saturating_mul(8))?;
        (0..n).map(|_| self.u64(field)).collect()
    }
    fn cstr(&mut self, field: &str) -> Result<String> {
        let rest = &self.b[self.pos..];
        let nul = rest.iter().position(|&c| c == 0).ok_or_else(|| {
            Error::Usage(format!("{} record: {field} at offset {} is not NUL-terminated", self.what, self.pos))
        })?;
        let s = String::from_utf8_lossy(&rest[..nul]).into_owned();
        self.pos = self.b.len();
        Ok(s)
    }
    fn done(&self) -> Result<()> {
        if self.pos != self.b.len() {
            return Err(Error::Usage(format!(
                "{} record: {} bytes left over after the last field (header.size disagrees with the format)",
                self.what,
                self.b.len() - self.pos
            )));
        }
        Ok(())
    }
}

/// Read the 8-byte header of `b`: (type, misc, size).
pub fn parse_header(b: &[u8]) -> Result<(u32, u16, u16)> {
    if b.len() < 8 {
        return Err(Error::Usage(format!("record header needs 8 bytes, only {} available", b.len())));
    }
    let type_ = u32::from_le_bytes(b[0..4].try_into().expect("4"));
    let misc = u16::from_le_bytes(b[4..6].try_into().expect("2"));
    let size = u16::from_le_bytes(b[6..8].try_into().expect("2"));
    Ok((type_, misc, size))
}

/// Split a contiguous stream into record byte ranges `(offset, size)`, checking every size.
pub fn split_records(stream: &[u8]) -> Result<Vec<(usize, usize)>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < stream.len() {
        let (type_, _, size) =
            parse_header(&stream[off..]).map_err(|e| Error::Usage(format!("at stream offset {off}: {e}")))?;
        let size = size as usize;
        if size < 8 {
            return Err(Error::Usage(format!(
                "at stream offset {off}: record type {type_} has header.size {size} (< 8)"
            )));
        }
        if off + size > stream.len() {
            return Err(Error::Usage(format!(
                "at stream offset {off}: record type {type_} has header.size {size} but only {} bytes are left",
                stream.len() - off
            )));
        }
        out.push((off, size));
        off += size;
    }
    Ok(out)
}

fn name_of(type_: u32) -> &'static str {
    match type_ {
        PERF_RECORD_MMAP => "MMAP",
        PERF_RECORD_LOST => "LOST",
        PERF_RECORD_COMM => "COMM",
        PERF_RECORD_EXIT => "EXIT",
        PERF_RECORD_THROTTLE => "THROTTLE",
        PERF_RECORD_UNTHROTTLE => "UNTHROTTLE",
        PERF_RECORD_FORK => "FORK",
        PERF_RECORD_READ => "READ",
        PERF_RECORD_SAMPLE => "SAMPLE",
        PERF_RECORD_MMAP2 => "MMAP2",
        PERF_RECORD_AUX => "AUX",
        PERF_RECORD_ITRACE_START => "ITRACE_START",
        PERF_RECORD_LOST_SAMPLES => "LOST_SAMPLES",
        PERF_RECORD_SWITCH => "SWITCH",
        PERF_RECORD_SWITCH_CPU_WIDE => "SWITCH_CPU_WIDE",
        _ => "unknown",
    }
}

fn read_values(c: &mut Cursor<'_>, rf: u64) -> Result<ReadValues> {
    let mut r = ReadValues::default();
    let group = rf & PERF_FORMAT_GROUP != 0;
    let first = c.u64(if group { "read.nr" } else { "read.value" })?;
    if rf & PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
        r.time_enabled = c.u64("read.time_enabled")?;
    }
    if rf & PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
        r.time_running = c.u64("read.time_running")?;
    }
    let per = 8 * (1 + usize::from(rf & PERF_FORMAT_ID != 0) + usize::from(rf & PERF_FORMAT_LOST != 0));
    let rest = |c: &mut Cursor<'_>, v: &mut ReadValue| -> Result<()> {
        if rf & PERF_FORMAT_ID != 0 {
            v.id = c.u64("read.id")?;
        }
        if rf & PERF_FORMAT_LOST != 0 {
            v.lost = c.u64("read.lost")?;
        }
        Ok(())
    };
    if group {
        let left = (c.b.len() - c.pos) as u64;
        if first > left / per as u64 {
            return Err(Error::Usage(format!(
                "{} record: read.nr = {first} values of {per} bytes do not fit in {left} bytes",
                c.what
            )));
        }
        for _ in 0..first {
            let mut v = ReadValue { value: c.u64("read.value")?, ..Default::default() };
            rest(c, &mut v)?;
            r.values.push(v);
        }
    } else {
        let mut v = ReadValue { value: first, ..Default::default() };
        rest(c, &mut v)?;
        r.values.push(v);
    }
    Ok(r)
}

fn regs(c: &mut Cursor<'_>, what: &str, mask: u64) -> Result<Regs> {
    let abi = c.u64(what)?;
    if abi == PERF_SAMPLE_REGS_ABI_NONE {
        return Ok(Regs::default());
    }
    let regs = c.u64s(what, mask.count_ones() as usize)?;
    Ok(Regs { abi, regs })
}

/// Decode a SAMPLE body (after the header) with format `fmt`.
fn decode_sample(b: &[u8], misc: u16, fmt: &OutputFormat) -> Result<SampleData> {
    let mut c = Cursor { b, pos: 8, what: "SAMPLE" };
    let st = fmt.sample_type;
    let mut s = SampleData { misc, ..Default::default() };
    if st & PERF_SAMPLE_IDENTIFIER != 0 {
        s.id = c.u64("identifier")?;
    }
    if st & PERF_SAMPLE_IP != 0 {
        s.ip = c.u64("ip")?;
    }
    if st & PERF_SAMPLE_TID != 0 {
        s.pid = c.u32("pid")?;
        s.tid = c.u32("tid")?;
    }
    if st & PERF_SAMPLE_TIME != 0 {
        s.time = c.u64("time")?;
    }
    if st & PERF_SAMPLE_ADDR != 0 {
        s.addr = c.u64("addr")?;
    }
    if st & PERF_SAMPLE_ID != 0 {
        s.id = c.u64("id")?;
    }
    if st & PERF_SAMPLE_STREAM_ID != 0 {
        s.stream_id = c.u64("stream_id")?;
    }
    if st & PERF_SAMPLE_CPU != 0 {
        s.cpu = c.u32("cpu")?;
        c.u32("cpu.res")?;
    }
    if st & PERF_SAMPLE_PERIOD != 0 {
        s.period = c.u64("period")?;
    }
    if st & PERF_SAMPLE_READ != 0 {
        s.read = read_values(&mut c, fmt.read_format)?;
    }
    if st & PERF_SAMPLE_CALLCHAIN != 0 {
        let n = c.count("callchain.nr", 8)?;
        s.callchain = c.u64s("callchain.ips", n)?;
    }
    if st & PERF_SAMPLE_RAW != 0 {
        let n = c.u32("raw.size")? as usize;
        let data = c.bytes("raw.data", n)?;
        s.raw = if n == 4 && data == [0, 0, 0, 0] { None } else { Some(data.to_vec()) };
    }
    if st & PERF_SAMPLE_BRANCH_STACK != 0 {
        let hw = fmt.branch_sample_type & PERF_SAMPLE_BRANCH_HW_INDEX != 0;
        let cnt = fmt.branch_sample_type & PERF_SAMPLE_BRANCH_COUNTERS != 0;
        let per = 24 + if cnt { 8 } else { 0 };
        let n = c.count("branch.nr", per)?;
        if n == 0 && !hw {
            s.branch = None;
        } else {
            let hw_idx = if hw { c.u64("branch.hw_idx")? } else { 0 };
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                entries.push(BranchEntry {
                    from: c.u64("branch.from")?,
                    to: c.u64("branch.to")?,
                    flags: c.u64("branch.flags")?,
                });
            }
            let counters = if cnt { Some(c.u64s("branch.counters", n)?) } else { None };
            s.branch = Some(BranchStack { hw_idx, entries, counters });
        }
    }
    if st & PERF_SAMPLE_REGS_USER != 0 {
        s.regs_user = regs(&mut c, "regs_user", fmt.sample_regs_user)?;
    }
    if st & PERF_SAMPLE_STACK_USER != 0 {
        let n = c.u64("stack_user.size")?;
        if n != 0 {
            if n > (c.b.len() - c.pos) as u64 {
                return Err(Error::Usage(format!(
                    "SAMPLE record: stack_user.size = {n} exceeds the {} bytes left",
                    c.b.len() - c.pos
                )));
            }
            s.stack_user = c.bytes("stack_user.data", n as usize)?.to_vec();
            s.stack_user_dyn_size = c.u64("stack_user.dyn_size")?;
        }
    }
    if st & PERF_SAMPLE_WEIGHT_TYPE != 0 {
        s.weight = c.u64("weight")?;
    }
    if st & PERF_SAMPLE_DATA_SRC != 0 {
        s.data_src = c.u64("data_src")?;
    }
    if st & PERF_SAMPLE_TRANSACTION != 0 {
        s.transaction = c.u64("transaction")?;
    }
    if st & PERF_SAMPLE_REGS_INTR != 0 {
        s.regs_intr = regs(&mut c, "regs_intr", fmt.sample_regs_intr)?;
    }
    if st & PERF_SAMPLE_PHYS_ADDR != 0 {
        s.phys_addr = c.u64("phys_addr")?;
    }
    if st & PERF_SAMPLE_CGROUP != 0 {
        s.cgroup = c.u64("cgroup")?;
    }
    if st & PERF_SAMPLE_DATA_PAGE_SIZE != 0 {
        s.data_page_size = c.u64("data_page_size")?;
    }
    if st & PERF_SAMPLE_CODE_PAGE_SIZE != 0 {
        s.code_page_size = c.u64("code_page_size")?;
    }
    if st & PERF_SAMPLE_AUX != 0 {
        let n = c.u64("aux.size")?;
        if n > (c.b.len() - c.pos) as u64 {
            return Err(Error::Usage(format!(
                "SAMPLE record: aux.size = {n} exceeds the {} bytes left",
                c.b.len() - c.pos
            )));
        }
        s.aux = c.bytes("aux.data", n as usize)?.to_vec();
    }
    c.done()?;
    Ok(s)
}

fn decode_trailer(b: &[u8], fmt: &OutputFormat) -> Result<SampleId> {
    let mut c = Cursor { b, pos: 0, what: "sample_id trailer of a" };
    let st = fmt.sample_type;
    let mut id = SampleId::default();
    if st & PERF_SAMPLE_TID != 0 {
        id.pid = c.u32("sample_id.pid")?;
        id.tid = c.u32("sample_id.tid")?;
    }
    if st & PERF_SAMPLE_TIME != 0 {
        id.time = c.u64("sample_id.time")?;
    }
    if st & PERF_SAMPLE_ID != 0 {
        id.id = c.u64("sample_id.id")?;
    }
    if st & PERF_SAMPLE_STREAM_ID != 0 {
        id.stream_id = c.u64("sample_id.stream_id")?;
    }
    if st & PERF_SAMPLE_CPU != 0 {
        id.cpu = c.u32("sample_id.cpu")?;
        c.u32("sample_id.res")?;
    }
    if st & PERF_SAMPLE_IDENTIFIER != 0 {
        id.id = c.u64("sample_id.identifier")?;
    }
    c.done()?;
    Ok(id)
}

/// Decode one record occupying exactly `b` (`b.len()` must equal `header.size`).
pub fn decode_record(b: &[u8], fmt: &OutputFormat) -> Result<DecodedRecord> {
    let (type_, misc, size) = parse_header(b)?;
    if size as usize != b.len() || size < 8 {
        return Err(Error::Usage(format!("record type {type_}: header.size {size} but {} bytes given", b.len())));
    }
    let what = name_of(type_);
    if type_ == PERF_RECORD_SAMPLE {
        let s = decode_sample(b, misc, fmt)?;
        let sample_id = s.sample_id();
        return Ok(DecodedRecord {
            type_,
            misc,
            size,
            record: Some(Record { misc, body: RecordBody::Sample(Box::new(s)), sample_id }),
        });
    }
    if what == "unknown" {
        return Ok(DecodedRecord { type_, misc, size, record: None });
    }
    let tsz = fmt.trailer_size();
    if b.len() < 8 + tsz {
        return Err(Error::Usage(format!(
            "{what} record: header.size {size} is smaller than header + sample_id trailer ({})",
            8 + tsz
        )));
    }
    let sample_id = if fmt.sample_id_all { decode_trailer(&b[b.len() - tsz..], fmt)? } else { SampleId::default() };
    let mut c = Cursor { b: &b[..b.len() - tsz], pos: 8, what };
    let body = match type_ {
        PERF_RECORD_MMAP => RecordBody::Mmap {
            pid: c.u32("pid")?,
            tid: c.u32("tid")?,
            addr: c.u64("addr")?,
            len: c.u64("len")?,
            pgoff: c.u64("pgoff")?,
            filename: c.cstr("filename")?,
        },
        PERF_RECORD_LOST => RecordBody::Lost { id: c.u64("id")?, lost: c.u64("lost")? },
        PERF_RECORD_COMM => RecordBody::Comm { pid: c.u32("pid")?, tid: c.u32("tid")?, comm: c.cstr("comm")? },
        PERF_RECORD_EXIT | PERF_RECORD_FORK => {
            let t = TaskRecord {
                pid: c.u32("pid")?,
                ppid: c.u32("ppid")?,
                tid: c.u32("tid")?,
                ptid: c.u32("ptid")?,
                time: c.u64("time")?,
            };
            if type_ == PERF_RECORD_EXIT {
                RecordBody::Exit(t)
            } else {
                RecordBody::Fork(t)
            }
        }
        PERF_RECORD_THROTTLE | PERF_RECORD_UNTHROTTLE => {
            let (time, id, stream_id) = (c.u64("time")?, c.u64("id")?, c.u64("stream_id")?);
            if type_ == PERF_RECORD_THROTTLE {
                RecordBody::Throttle { time, id, stream_id }
            } else {
                RecordBody::Unthrottle { time, id, stream_id }
            }
        }
        PERF_RECORD_READ => {
            let (pid, tid) = (c.u32("pid")?, c.u32("tid")?);
            RecordBody::Read { pid, tid, values: read_values(&mut c, fmt.read_format)? }
        }
        PERF_RECORD_MMAP2 => {
            let (pid, tid) = (c.u32("pid")?, c.u32("tid")?);
            let (addr, len, pgoff) = (c.u64("addr")?, c.u64("len")?, c.u64("pgoff")?);
            let file = if misc & PERF_RECORD_MISC_MMAP_BUILD_ID != 0 {
                let hdr = c.bytes("build_id_size", 4)?;
                let n = hdr[0] as usize;
                let ids = c.bytes("build_id", MAX_BUILD_ID_SIZE)?;
                if n > MAX_BUILD_ID_SIZE {
                    return Err(Error::Usage(format!("MMAP2 record: build_id_size {n} exceeds {MAX_BUILD_ID_SIZE}")));
                }
                Mmap2File::BuildId(ids[..n].to_vec())
            } else {
                Mmap2File::Inode {
                    maj: c.u32("maj")?,
                    min: c.u32("min")?,
                    ino: c.u64("ino")?,
                    ino_generation: c.u64("ino_generation")?,
                }
            };
            RecordBody::Mmap2 {
                pid,
                tid,
                addr,
                len,
                pgoff,
                file,
                prot: c.u32("prot")?,
                flags: c.u32("flags")?,
                filename: c.cstr("filename")?,
            }
        }
        PERF_RECORD_AUX => {
            RecordBody::Aux { offset: c.u64("aux_offset")?, size: c.u64("aux_size")?, flags: c.u64("flags")? }
        }
        PERF_RECORD_ITRACE_START => RecordBody::ItraceStart { pid: c.u32("pid")?, tid: c.u32("tid")? },
        PERF_RECORD_LOST_SAMPLES => RecordBody::LostSamples { lost: c.u64("lost")? },
        PERF_RECORD_SWITCH => RecordBody::Switch,
        PERF_RECORD_SWITCH_CPU_WIDE => {
            RecordBody::SwitchCpuWide { next_prev_pid: c.u32("next_prev_pid")?, next_prev_tid: c.u32("next_prev_tid")? }
        }
        _ => unreachable!("name_of() covers the decoded types"),
    };
    c.done()?;
    Ok(DecodedRecord { type_, misc, size, record: Some(Record { misc, body, sample_id }) })
}

/// Decode every record of a contiguous stream.
pub fn decode_stream(stream: &[u8], fmt: &OutputFormat) -> Result<Vec<DecodedRecord>> {
    split_records(stream)?
        .into_iter()
        .map(|(off, size)| {
            decode_record(&stream[off..off + size], fmt)
                .map_err(|e| Error::Usage(format!("at stream offset {off}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_oversized_counts_are_clear_errors() {
        let f = OutputFormat::simple(PERF_SAMPLE_CALLCHAIN).unwrap();
        let mut b = f.sample_bytes(&SampleData { callchain: vec![1, 2, 3], ..Default::default() }).unwrap();
        b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = decode_record(&b, &f).unwrap_err().to_string();
        assert!(e.contains("callchain.nr = 18446744073709551615"), "{e}");
        let e = split_records(&[9, 0, 0, 0, 0, 0, 4, 0]).unwrap_err().to_string();
        assert!(e.contains("header.size 4"), "{e}");
    }

    #[test]
    fn unknown_types_are_reported_not_decoded() {
        let f = OutputFormat::simple(0).unwrap();
        let b = [16u8, 0, 0, 0, 0, 0, 16, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        let d = decode_record(&b, &f).unwrap();
        assert_eq!((d.type_, d.size, d.record), (16, 16, None));
    }
}
