//! Encoders of every record the model emits (MMAP, LOST, COMM, EXIT, THROTTLE/UNTHROTTLE, FORK,
//! READ, SAMPLE, MMAP2, AUX, ITRACE_START, LOST_SAMPLES, SWITCH, SWITCH_CPU_WIDE), each body in
//! the uapi layout followed by the `sample_id` trailer when `sample_id_all` is set. Models the
//! record builders of kernel/events/core.c: perf_event_mmap_output(), perf_event_comm_output(),
//! perf_event_task_output(), perf_log_throttle(), perf_event_read_event(),
//! perf_event_aux_event(), perf_log_itrace_start(), perf_log_lost_samples(),
//! perf_event_switch_output() and the LOST record of __perf_output_begin() in ring_buffer.c;
//! facts: spec/ring-buffer-aux-records.md §5.

use super::sample::{header_word, OutputFormat, ReadValues, SampleData, SampleId, Sink, MAX_RECORD_SIZE};
use crate::abi::record::*;
use crate::error::{Error, Result};

/// `TASK_COMM_LEN` minus the NUL: the longest comm the kernel emits.
pub const MAX_COMM_LEN: usize = 15;
/// Longest build id in an MMAP2 record.
pub const MAX_BUILD_ID_SIZE: usize = 20;

/// EXIT and FORK bodies (`struct { u32 pid, ppid, tid, ptid; u64 time; }`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskRecord {
    pub pid: u32,
    pub ppid: u32,
    pub tid: u32,
    pub ptid: u32,
    pub time: u64,
}

/// The identity part of an MMAP2 record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mmap2File {
    /// `u32 maj, min; u64 ino, ino_generation`.
    Inode { maj: u32, min: u32, ino: u64, ino_generation: u64 },
    /// With `PERF_RECORD_MISC_MMAP_BUILD_ID`: `u8 size; u8 res; u16 res; u8 build_id[20]`.
    BuildId(Vec<u8>),
}

/// The body of a record (everything between the header and the trailer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordBody {
    Mmap {
        pid: u32,
        tid: u32,
        addr: u64,
        len: u64,
        pgoff: u64,
        filename: String,
    },
    Lost {
        id: u64,
        lost: u64,
    },
    Comm {
        pid: u32,
        tid: u32,
        comm: String,
    },
    Exit(TaskRecord),
    Throttle {
        time: u64,
        id: u64,
        stream_id: u64,
    },
    Unthrottle {
        time: u64,
        id: u64,
        stream_id: u64,
    },
    Fork(TaskRecord),
    Read {
        pid: u32,
        tid: u32,
        values: ReadValues,
    },
    Sample(Box<SampleData>),
    #[allow(missing_docs)]
    Mmap2 {
        pid: u32,
        tid: u32,
        addr: u64,
        len: u64,
        pgoff: u64,
        file: Mmap2File,
        prot: u32,
        flags: u32,
        filename: String,
    },
    Aux {
        offset: u64,
        size: u64,
        flags: u64,
    },
    ItraceStart {
        pid: u32,
        tid: u32,
    },
    LostSamples {
        lost: u64,
    },
    /// SWITCH: direction and preemption are in `misc`.
    Switch,
    SwitchCpuWide {
        next_prev_pid: u32,
        next_prev_tid: u32,
    },
}

impl RecordBody {
    /// The `PERF_RECORD_*` type.
    pub fn type_(&self) -> u32 {
        match self {
            RecordBody::Mmap { .. } => PERF_RECORD_MMAP,
            RecordBody::Lost { .. } => PERF_RECORD_LOST,
            RecordBody::Comm { .. } => PERF_RECORD_COMM,
            RecordBody::Exit(_) => PERF_RECORD_EXIT,
            RecordBody::Throttle { .. } => PERF_RECORD_THROTTLE,
            RecordBody::Unthrottle { .. } => PERF_RECORD_UNTHROTTLE,
            RecordBody::Fork(_) => PERF_RECORD_FORK,
            RecordBody::Read { .. } => PERF_RECORD_READ,
            RecordBody::Sample(_) => PERF_RECORD_SAMPLE,
            RecordBody::Mmap2 { .. } => PERF_RECORD_MMAP2,
            RecordBody::Aux { .. } => PERF_RECORD_AUX,
            RecordBody::ItraceStart { .. } => PERF_RECORD_ITRACE_START,
            RecordBody::LostSamples { .. } => PERF_RECORD_LOST_SAMPLES,
            RecordBody::Switch => PERF_RECORD_SWITCH,
            RecordBody::SwitchCpuWide { .. } => PERF_RECORD_SWITCH_CPU_WIDE,
        }
    }
}

/// A complete record: header misc, body, and the trailer values (used only for non-sample
/// records of an event with `sample_id_all`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub misc: u16,
    pub body: RecordBody,
    pub sample_id: SampleId,
}

fn padded_str_size(what: &str, s: &str) -> Result<usize> {
    if s.as_bytes().contains(&0) {
        return Err(Error::Usage(format!("{what} {s:?} contains a NUL byte")));
    }
    Ok((s.len() + 1).div_ceil(8) * 8)
}

fn put_padded_str<S: Sink + ?Sized>(s: &str, out: &mut S) {
    let n = (s.len() + 1).div_ceil(8) * 8;
    out.put_bytes(s.as_bytes());
    out.put_zeros(n - s.len());
}

impl Record {
    /// A record with a zero trailer.
    pub fn new(misc: u16, body: RecordBody) -> Self {
        Record { misc, body, sample_id: SampleId::default() }
    }

    /// The `misc` actually written (MMAP2 with a build id always carries MMAP_BUILD_ID).
    pub fn effective_misc(&self) -> u16 {
        match &self.body {
            RecordBody::Mmap2 { file: Mmap2File::BuildId(_), .. } => self.misc | PERF_RECORD_MISC_MMAP_BUILD_ID,
            RecordBody::Mmap2 { file: Mmap2File::Inode { .. }, .. } => self.misc & !PERF_RECORD_MISC_MMAP_BUILD_ID,
            RecordBody::Sample(s) => s.misc,
            _ => self.misc,
        }
    }

    /// `header.size` of this record for an event of format `fmt`, validating the body.
    pub fn size(&self, fmt: &OutputFormat) -> Result<usize> {
        let body = match &self.body {
            RecordBody::Sample(s) => return fmt.sample_size(s),
            RecordBody::Mmap { filename, .. } => 8 + 24 + padded_str_size("mmap.filename", filename)?,
            RecordBody::Lost { .. } => 16,
            RecordBody::Comm { comm, .. } => {
                if comm.len() > MAX_COMM_LEN {
                    return Err(Error::Usage(format!(
                        "comm {comm:?} is {} bytes; the kernel keeps at most {MAX_COMM_LEN} (TASK_COMM_LEN 16)",
                        comm.len()
                    )));
                }
                8 + padded_str_size("comm", comm)?
            }
            RecordBody::Exit(_) | RecordBody::Fork(_) => 24,
            RecordBody::Throttle { .. } | RecordBody::Unthrottle { .. } => 24,
            RecordBody::Read { values, .. } => {
                if fmt.read_format & crate::abi::sample::PERF_FORMAT_GROUP == 0 && values.values.len() != 1 {
                    return Err(Error::Usage(format!(
                        "read record: read_format without GROUP needs exactly 1 value, got {}",
                        values.values.len()
                    )));
                }
                8 + fmt.read_size(values.values.len())
            }
            RecordBody::Mmap2 { file, filename, .. } => {
                if let Mmap2File::BuildId(b) = file {
                    if b.len() > MAX_BUILD_ID_SIZE {
                        return Err(Error::Usage(format!(
                            "mmap2.build_id has {} bytes (at most {MAX_BUILD_ID_SIZE})",
                            b.len()
                        )));
                    }
                }
                8 + 24 + 24 + 8 + padded_str_size("mmap2.filename", filename)?
            }
            RecordBody::Aux { .. } => 24,
            RecordBody::ItraceStart { .. } => 8,
            RecordBody::LostSamples { .. } => 8,
            RecordBody::Switch => 0,
            RecordBody::SwitchCpuWide { .. } => 8,
        };
        let size = 8 + body + fmt.trailer_size();
        if size > MAX_RECORD_SIZE {
            return Err(Error::Usage(format!("record size {size} exceeds the u16 header.size (65535)")));
        }
        Ok(size)
    }

    /// Encode header, body and trailer; `size` must come from [`Record::size`].
    pub fn encode<S: Sink + ?Sized>(&self, fmt: &OutputFormat, size: usize, out: &mut S) {
        if let RecordBody::Sample(s) = &self.body {
            fmt.encode_sample(s, size, out);
            return;
        }
        out.put_u64(header_word(self.body.type_(), self.effective_misc(), size as u16));
        match &self.body {
            RecordBody::Mmap { pid, tid, addr, len, pgoff, filename } => {
                out.put_u32(*pid);
                out.put_u32(*tid);
                out.put_u64(*addr);
                out.put_u64(*len);
                out.put_u64(*pgoff);
                put_padded_str(filename, out);
            }
            RecordBody::Lost { id, lost } => {
                out.put_u64(*id);
                out.put_u64(*lost);
            }
            RecordBody::Comm { pid, tid, comm } => {
                out.put_u32(*pid);
                out.put_u32(*tid);
                put_padded_str(comm, out);
            }
            RecordBody::Exit(t) | RecordBody::Fork(t) => {
                out.put_u32(t.pid);
                out.put_u32(t.ppid);
                out.put_u32(t.tid);
                out.put_u32(t.ptid);
                out.put_u64(t.time);
            }
            RecordBody::Throttle { time, id, stream_id } | RecordBody::Unthrottle { time, id, stream_id } => {
                out.put_u64(*time);
                out.put_u64(*id);
                out.put_u64(*stream_id);
            }
            RecordBody::Read { pid, tid, values } => {
                out.put_u32(*pid);
                out.put_u32(*tid);
                fmt.encode_read(values, out);
            }
            RecordBody::Sample(_) => unreachable!("handled above"),
            RecordBody::Mmap2 { pid, tid, addr, len, pgoff, file, prot, flags, filename } => {
                out.put_u32(*pid);
                out.put_u32(*tid);
                out.put_u64(*addr);
                out.put_u64(*len);
                out.put_u64(*pgoff);
                match file {
                    Mmap2File::Inode { maj, min, ino, ino_generation } => {
                        out.put_u32(*maj);
                        out.put_u32(*min);
                        out.put_u64(*ino);
                        out.put_u64(*ino_generation);
                    }
                    Mmap2File::BuildId(b) => {
                        out.put_bytes(&[b.len() as u8, 0, 0, 0]);
                        out.put_bytes(b);
                        out.put_zeros(MAX_BUILD_ID_SIZE - b.len());
                    }
                }
                out.put_u32(*prot);
                out.put_u32(*flags);
                put_padded_str(filename, out);
            }
            RecordBody::Aux { offset, size, flags } => {
                out.put_u64(*offset);
                out.put_u64(*size);
                out.put_u64(*flags);
            }
            RecordBody::ItraceStart { pid, tid } => {
                out.put_u32(*pid);
                out.put_u32(*tid);
            }
            RecordBody::LostSamples { lost } => out.put_u64(*lost),
            RecordBody::Switch => {}
            RecordBody::SwitchCpuWide { next_prev_pid, next_prev_tid } => {
                out.put_u32(*next_prev_pid);
                out.put_u32(*next_prev_tid);
            }
        }
        fmt.encode_trailer(&self.sample_id, out);
    }

    /// Encode into a new byte vector.
    pub fn to_bytes(&self, fmt: &OutputFormat) -> Result<Vec<u8>> {
        let size = self.size(fmt)?;
        let mut v = Vec::with_capacity(size);
        self.encode(fmt, size, &mut v);
        debug_assert_eq!(v.len(), size);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::sample::*;

    #[test]
    fn comm_is_padded_to_eight_and_carries_the_trailer() {
        let f = OutputFormat::new(PERF_SAMPLE_TID | PERF_SAMPLE_TIME, 0, true, 0, 0, 0).unwrap();
        let r = Record {
            misc: PERF_RECORD_MISC_COMM_EXEC,
            body: RecordBody::Comm { pid: 10, tid: 11, comm: "true".into() },
            sample_id: SampleId { pid: 10, tid: 11, time: 99, ..Default::default() },
        };
        let b = r.to_bytes(&f).unwrap();
        assert_eq!(b.len(), 8 + 8 + 8 + 16);
        assert_eq!(&b[16..24], b"true\0\0\0\0");
        assert_eq!(u64::from_le_bytes(b[32..40].try_into().unwrap()), 99);
    }

    #[test]
    fn lost_record_is_24_bytes_without_trailer() {
        let f = OutputFormat::simple(PERF_SAMPLE_IP).unwrap();
        let b = Record::new(0, RecordBody::Lost { id: 7, lost: 3 }).to_bytes(&f).unwrap();
        assert_eq!(b.len(), 24);
        assert_eq!(u32::from_le_bytes(b[0..4].try_into().unwrap()), PERF_RECORD_LOST);
    }

    #[test]
    fn long_comm_and_nul_are_rejected_with_the_value() {
        let f = OutputFormat::simple(0).unwrap();
        let e = Record::new(0, RecordBody::Comm { pid: 1, tid: 1, comm: "a-very-long-command".into() })
            .size(&f)
            .unwrap_err();
        assert!(e.to_string().contains("a-very-long-command"), "{e}");
        let e = Record::new(0, RecordBody::Mmap { pid: 1, tid: 1, addr: 0, len: 0, pgoff: 0, filename: "a\0b".into() })
            .size(&f)
            .unwrap_err();
        assert!(e.to_string().contains("NUL"), "{e}");
    }
}
