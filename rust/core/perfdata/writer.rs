//! Writing a file-mode perf.data that `perf script` / `perf report` read: the header, the ids
//! arrays and attrs section, the data section (records appended as bytes, as [`Record`]s or as
//! samples through the ring encoders), then the feature sections; the file is written under a
//! temporary name in the target directory and renamed into place by [`PerfDataWriter::finish`],
//! so a reader never sees a half-written file. Every appended record is checked the way the
//! reader will read it (its attr found by sample id, its bytes decoded), so a finished file
//! always reads back. Models what perf record's write path produces (perf_session__write_header()
//! and the feature writers of tools/perf/util/header.c); facts: spec/ring-buffer-aux-records.md §8.
//!
//! Layout: `header (104) | ids arrays | attrs | data | feature table | feature payloads`.

use super::evlist::{default_event_name, EventList, FileAttr};
use super::features::{EventDesc, Features};
use super::header::*;
use super::reader::io_error;
use crate::abi::attr::{PERF_ATTR_SIZES, PERF_ATTR_SIZE_VER7};
use crate::abi::record::{PERF_RECORD_MISC_KERNEL, PERF_RECORD_SAMPLE};
use crate::abi::sample::PERF_SAMPLE_TIME;
use crate::error::{Error, Result};
use crate::output::{decode_record, Record, RecordBody, SampleData};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How a file is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// `attr.size` of the attrs written (a published `PERF_ATTR_SIZE_VER*`). The default, 128
    /// (VER7), is what perf 6.1 writes and the largest it reads; 136 carries `config3`.
    pub attr_size: u32,
    /// Metadata features (HOSTNAME, OSRELEASE, VERSION, ARCH, NRCPUS, CMDLINE, raw others).
    /// EVENT_DESC and SAMPLE_TIME are filled by the writer: EVENT_DESC from the attrs (their
    /// name, or perf's name for the event), SAMPLE_TIME from the samples appended.
    pub features: Features,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { attr_size: PERF_ATTR_SIZE_VER7, features: Features::default() }
    }
}

/// The file name of perf's synthesized kernel MMAP (`machine->mmap_name` + the `_text` symbol).
pub const KERNEL_MMAP_NAME: &str = "[kernel.kallsyms]_text";
/// Where x86-64 kernel text starts without KASLR (`__START_KERNEL_map` + 16 MiB).
pub const KERNEL_TEXT_START: u64 = 0xffff_ffff_8100_0000;

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A perf.data file being written.
pub struct PerfDataWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    evlist: EventList,
    opts: WriterOptions,
    /// Where the data section starts, once the attrs are written.
    data_offset: Option<u64>,
    data_size: u64,
    records: u64,
    sample_time: Option<(u64, u64)>,
    finished: bool,
}

impl PerfDataWriter {
    /// Start a file that [`PerfDataWriter::finish`] will create at `path`.
    pub fn create(path: impl AsRef<Path>, opts: WriterOptions) -> Result<Self> {
        if !PERF_ATTR_SIZES.contains(&opts.attr_size) {
            return Err(Error::Usage(format!(
                "attr_size {} is not a published perf_event_attr size ({PERF_ATTR_SIZES:?})",
                opts.attr_size
            )));
        }
        let path = path.as_ref().to_path_buf();
        let name = path
            .file_name()
            .ok_or_else(|| Error::Usage(format!("{} does not name a file", path.display())))?
            .to_string_lossy()
            .into_owned();
        let tmp = path.with_file_name(format!(
            ".{name}.perfcore-tmp-{}-{}",
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let f = File::create_new(&tmp).map_err(|e| io_error("creating", &tmp, e))?;
        let mut out = BufWriter::with_capacity(1 << 16, f);
        out.write_all(&[0u8; PERF_FILE_HEADER_SIZE as usize]).map_err(|e| io_error("writing", &tmp, e))?;
        Ok(PerfDataWriter {
            path,
            tmp,
            out,
            evlist: EventList::new(),
            opts,
            data_offset: None,
            data_size: 0,
            records: 0,
            sample_time: None,
            finished: false,
        })
    }

    /// Add an event (attr, ids, optional name) before the first record; returns its index.
    /// The attr's `size` is set to the file's attr size; bytes it cannot hold must be zero.
    pub fn add_attr(&mut self, mut fa: FileAttr) -> Result<usize> {
        if self.data_offset.is_some() {
            return Err(Error::Usage("add_attr after the first record: attrs precede the data section".into()));
        }
        let n = self.opts.attr_size as usize;
        let full = fa.attr.to_bytes_full();
        if let Some(off) = full[n..].iter().position(|&b| b != 0) {
            return Err(Error::Usage(format!(
                "attr {}: byte {} is non-zero but the file's attr size is {n} (use attr_size=136 for config3)",
                self.evlist.len(),
                n + off
            )));
        }
        fa.attr.size = self.opts.attr_size;
        self.evlist.push(fa)
    }

    /// The events added so far.
    pub fn evlist(&self) -> &EventList {
        &self.evlist
    }

    fn io(&self, e: std::io::Error) -> Error {
        io_error("writing", &self.tmp, e)
    }

    /// Write the ids arrays and the attrs section; the data section starts after them.
    fn seal(&mut self) -> Result<u64> {
        if let Some(off) = self.data_offset {
            return Ok(off);
        }
        self.evlist.check_id_positions()?;
        let mut pos = PERF_FILE_HEADER_SIZE;
        let mut id_secs = Vec::with_capacity(self.evlist.len());
        let mut buf = Vec::new();
        for fa in self.evlist.attrs() {
            id_secs.push(FileSection { offset: pos, size: 8 * fa.ids.len() as u64 });
            for id in &fa.ids {
                buf.extend_from_slice(&id.to_le_bytes());
            }
            pos += 8 * fa.ids.len() as u64;
        }
        let attrs_offset = pos;
        for (fa, ids) in self.evlist.attrs().iter().zip(&id_secs) {
            buf.extend_from_slice(&fa.attr.to_bytes(self.opts.attr_size as usize));
            buf.extend_from_slice(&ids.to_bytes());
        }
        self.out.write_all(&buf).map_err(|e| self.io(e))?;
        let data_offset = PERF_FILE_HEADER_SIZE + buf.len() as u64;
        debug_assert!(attrs_offset <= data_offset);
        self.data_offset = Some(data_offset);
        Ok(data_offset)
    }

    /// Append a record's bytes. `attr`, when given, is the attr the record must belong to
    /// (checked against its sample id with several attrs). The bytes must be one whole record
    /// that decodes with its attr's format.
    pub fn append_bytes(&mut self, b: &[u8], attr: Option<usize>) -> Result<()> {
        if b.len() < 8 {
            return Err(Error::Usage(format!("a record needs at least its 8-byte header, got {} bytes", b.len())));
        }
        let size = u16::from_le_bytes([b[6], b[7]]) as usize;
        if size != b.len() {
            return Err(Error::Usage(format!("record header.size {size} but {} bytes given", b.len())));
        }
        self.seal()?;
        let at = self.evlist.attr_of(b, 0).map_err(|e| Error::Usage(format!("record {}: {e}", self.records)))?;
        if let (Some(want), Some(got)) = (attr, at) {
            if want != got && self.evlist.len() > 1 {
                return Err(Error::Usage(format!(
                    "record {}: its sample id belongs to attr {got}, not attr {want}",
                    self.records
                )));
            }
        }
        if let Some(fmt) = at.and_then(|i| self.evlist.format(i)) {
            let d = decode_record(b, fmt).map_err(|e| Error::Usage(format!("record {}: {e}", self.records)))?;
            if let Some(Record { body: RecordBody::Sample(s), .. }) = &d.record {
                if fmt.sample_type & PERF_SAMPLE_TIME != 0 && d.type_ == PERF_RECORD_SAMPLE {
                    let t = s.time;
                    self.sample_time = Some(match self.sample_time {
                        Some((lo, hi)) => (lo.min(t), hi.max(t)),
                        None => (t, t),
                    });
                }
            }
        }
        self.out.write_all(b).map_err(|e| self.io(e))?;
        self.data_size += b.len() as u64;
        self.records += 1;
        Ok(())
    }

    /// Encode `r` with attr `attr`'s format and append it.
    pub fn append_record(&mut self, attr: usize, r: &Record) -> Result<()> {
        let fmt = *self
            .evlist
            .format(attr)
            .ok_or_else(|| Error::Usage(format!("attr {attr} does not exist ({} attrs)", self.evlist.len())))?;
        let b = r.to_bytes(&fmt)?;
        self.append_bytes(&b, Some(attr))
    }

    /// Encode a sample with attr `attr`'s format and append it.
    pub fn append_sample(&mut self, attr: usize, s: &SampleData) -> Result<()> {
        let fmt = *self
            .evlist
            .format(attr)
            .ok_or_else(|| Error::Usage(format!("attr {attr} does not exist ({} attrs)", self.evlist.len())))?;
        let b = fmt.sample_bytes(s)?;
        self.append_bytes(&b, Some(attr))
    }

    /// Append the MMAP of the kernel text that perf record synthesizes first (pid -1, misc
    /// KERNEL, `[kernel.kallsyms]_text`, a zero sample_id trailer) for attr 0; without it
    /// `perf report` warns that kernel address maps were restricted. Models
    /// perf_event__synthesize_kernel_mmap() of tools/perf/util/synthetic-events.c.
    pub fn append_kernel_mmap(&mut self, start: u64, len: u64) -> Result<()> {
        let body = RecordBody::Mmap {
            pid: u32::MAX,
            tid: 0,
            addr: start,
            len,
            pgoff: start,
            filename: KERNEL_MMAP_NAME.to_string(),
        };
        self.append_record(0, &Record::new(PERF_RECORD_MISC_KERNEL, body))
    }

    /// Records appended so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Write the feature sections and the header, then rename the file into place.
    pub fn finish(mut self) -> Result<PathBuf> {
        let data_offset = self.seal()?;
        let mut features = self.opts.features.clone();
        let descs: Vec<EventDesc> = self
            .evlist
            .attrs()
            .iter()
            .map(|fa| EventDesc {
                attr: fa.attr,
                name: fa.name.clone().unwrap_or_else(|| default_event_name(&fa.attr)),
                ids: fa.ids.clone(),
            })
            .collect();
        features.event_desc = if descs.is_empty() { None } else { Some(descs) };
        features.sample_time = self.sample_time;
        let payloads = features.encode(self.opts.attr_size)?;
        let data = FileSection { offset: data_offset, size: self.data_size };
        let mut header = FileHeader {
            attr_size: u64::from(self.opts.attr_size) + PERF_FILE_SECTION_SIZE,
            attrs: FileSection {
                offset: PERF_FILE_HEADER_SIZE + 8 * self.evlist.attrs().iter().map(|a| a.ids.len() as u64).sum::<u64>(),
                size: (u64::from(self.opts.attr_size) + PERF_FILE_SECTION_SIZE) * self.evlist.len() as u64,
            },
            data,
            ..Default::default()
        };
        let mut pos = data.end() + PERF_FILE_SECTION_SIZE * payloads.len() as u64;
        let mut table = Vec::new();
        for (bit, p) in &payloads {
            header.set_feature(*bit);
            table.extend_from_slice(&FileSection { offset: pos, size: p.len() as u64 }.to_bytes());
            pos += p.len() as u64;
        }
        self.out.write_all(&table).map_err(|e| self.io(e))?;
        for (_, p) in &payloads {
            self.out.write_all(p).map_err(|e| self.io(e))?;
        }
        self.out.seek(SeekFrom::Start(0)).map_err(|e| self.io(e))?;
        self.out.write_all(&header.to_bytes()).map_err(|e| self.io(e))?;
        self.out.flush().map_err(|e| self.io(e))?;
        self.out.get_ref().sync_all().map_err(|e| self.io(e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| io_error("renaming into place", &self.path, e))?;
        self.finished = true;
        Ok(self.path.clone())
    }
}

impl Drop for PerfDataWriter {
    /// An unfinished file is removed: only [`PerfDataWriter::finish`] makes it visible.
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
