//! Reading a file-mode perf.data: the header, the attrs with their ids, the feature sections,
//! and an iterator over the data section's records, each matched to its attr by sample id and
//! decoded with the ring decoder (output/decode.rs). Every size the file claims is checked
//! against the file's length before it is used, so memory stays bounded by the file's real size
//! (one record, at most 64 KiB, at a time while iterating); every malformed input is an
//! [`Error::PerfData`] with the byte offset and the field. Models perf_session__read_header(),
//! read_attr(), perf_header__process_sections() and the record loop of
//! reader__process_events() / perf_session__process_event() in tools/perf/util/{header,session}.c;
//! facts: spec/ring-buffer-aux-records.md §8.

use super::evlist::{EventList, FileAttr};
use super::features::Features;
use super::header::*;
use crate::abi::attr::{PerfEventAttr, PERF_ATTR_SIZE_VER0, PERF_ATTR_SIZE_VER8};
use crate::abi::record::*;
use crate::error::{Errno, Error, Result};
use crate::output::{decode_record, DecodedRecord};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The name perf gives a record type (kernel types 1-21, tool types 64-82), `None` otherwise.
pub fn record_type_name(type_: u32) -> Option<&'static str> {
    const KERNEL: [&str; 21] = [
        "MMAP",
        "LOST",
        "COMM",
        "EXIT",
        "THROTTLE",
        "UNTHROTTLE",
        "FORK",
        "READ",
        "SAMPLE",
        "MMAP2",
        "AUX",
        "ITRACE_START",
        "LOST_SAMPLES",
        "SWITCH",
        "SWITCH_CPU_WIDE",
        "NAMESPACES",
        "KSYMBOL",
        "BPF_EVENT",
        "CGROUP",
        "TEXT_POKE",
        "AUX_OUTPUT_HW_ID",
    ];
    const TOOL: [&str; 19] = [
        "ATTR",
        "EVENT_TYPE",
        "TRACING_DATA",
        "BUILD_ID",
        "FINISHED_ROUND",
        "ID_INDEX",
        "AUXTRACE_INFO",
        "AUXTRACE",
        "AUXTRACE_ERROR",
        "THREAD_MAP",
        "CPU_MAP",
        "STAT_CONFIG",
        "STAT",
        "STAT_ROUND",
        "EVENT_UPDATE",
        "TIME_CONV",
        "FEATURE",
        "COMPRESSED",
        "FINISHED_INIT",
    ];
    match type_ {
        1..=21 => Some(KERNEL[type_ as usize - 1]),
        64..=82 => Some(TOOL[type_ as usize - 64]),
        _ => None,
    }
}

/// Map an I/O error to the errno the kernel gave (a `PerfError` in Python), naming the path.
pub(crate) fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    match e.raw_os_error().and_then(Errno::from_code) {
        Some(errno) => Error::perf(errno, format!("{what} {}: {e}", path.display())),
        None => Error::Usage(format!("{what} {}: {e}", path.display())),
    }
}

fn read_at<R: Read + Seek>(r: &mut R, offset: u64, len: u64, what: &str) -> Result<Vec<u8>> {
    // callers check `offset + len <= file length` first, so `len` is backed by real bytes
    let fail = |e: std::io::Error| Error::perf_data(offset, format!("reading {what} ({len} bytes): {e}"));
    r.seek(SeekFrom::Start(offset)).map_err(fail)?;
    let mut v = vec![0u8; len as usize];
    r.read_exact(&mut v).map_err(fail)?;
    Ok(v)
}

/// What a perf.data file says about itself: header, attrs (with ids and names), features.
#[derive(Clone, Debug)]
pub struct PerfData {
    pub header: FileHeader,
    pub evlist: Arc<EventList>,
    pub features: Features,
    /// Length of the file when it was parsed.
    pub file_len: u64,
}

impl PerfData {
    /// Parse everything but the data records from `r` (which is positioned anywhere).
    pub fn parse<R: Read + Seek>(r: &mut R) -> Result<PerfData> {
        let file_len =
            r.seek(SeekFrom::End(0)).map_err(|e| Error::perf_data(0, format!("finding the file length: {e}")))?;
        let head = read_at(r, 0, file_len.min(PERF_FILE_HEADER_SIZE), "the header")?;
        let header = FileHeader::parse(&head, file_len)?;
        let mut evlist = read_attrs(r, &header, file_len)?;
        let features = read_features(r, &header, file_len)?;
        if let Some(descs) = &features.event_desc {
            // a description names the attr that owns its first id
            for d in descs {
                if let Some(i) = d.ids.first().and_then(|&id| evlist.attr_for_id(id)) {
                    evlist.attrs_mut()[i].name = Some(d.name.clone());
                }
            }
        }
        Ok(PerfData { header, evlist: Arc::new(evlist), features, file_len })
    }

    /// Iterate over the data section's records read from `r` (the same file).
    pub fn records<R: Read + Seek>(&self, r: R) -> Records<R> {
        Records {
            r,
            pos: self.header.data.offset,
            end: self.header.data.end(),
            evlist: Arc::clone(&self.evlist),
            seeked: false,
            done: false,
        }
    }
}

fn read_attrs<R: Read + Seek>(r: &mut R, h: &FileHeader, file_len: u64) -> Result<EventList> {
    let sec = read_at(r, h.attrs.offset, h.attrs.size, "the attrs section")?;
    let nr = h.attrs.size / h.attr_size;
    let mut evlist = EventList::new();
    let mut pos = 0usize;
    let mut ids_total = 0u64;
    for i in 0..nr {
        let at = h.attrs.offset + pos as u64;
        let need = |n: usize, field: &str| -> Result<()> {
            if sec.len() - pos < n {
                return Err(Error::perf_data(
                    at,
                    format!("attr {i}: {field} needs {n} bytes but the attrs section has {} left", sec.len() - pos),
                ));
            }
            Ok(())
        };
        need(PERF_ATTR_SIZE_VER0 as usize, "perf_event_attr (VER0)")?;
        let size = match le32(&sec[pos + 4..]) {
            0 => PERF_ATTR_SIZE_VER0,
            s => s,
        };
        if size < PERF_ATTR_SIZE_VER0 {
            return Err(Error::perf_data(
                at + 4,
                format!("attr {i}: attr.size {size} is smaller than PERF_ATTR_SIZE_VER0 (64)"),
            ));
        }
        if size > PERF_ATTR_SIZE_VER8 {
            return Err(Error::perf_data(
                at + 4,
                format!(
                    "attr {i}: attr.size {size} is a newer ABI than perfcore's {PERF_ATTR_SIZE_VER8}-byte \
                     perf_event_attr ({} bytes extra)",
                    size - PERF_ATTR_SIZE_VER8
                ),
            ));
        }
        need(size as usize + PERF_FILE_SECTION_SIZE as usize, "perf_event_attr + ids section")?;
        let attr = PerfEventAttr::from_bytes(&sec[pos..pos + size as usize]);
        pos += size as usize;
        let ids_at = h.attrs.offset + pos as u64;
        let ids_sec = FileSection::from_bytes(&sec[pos..pos + 16]);
        pos += 16;
        ids_sec.check_within(&format!("attr {i} ids"), ids_at, file_len)?;
        if ids_sec.size % 8 != 0 {
            return Err(Error::perf_data(
                ids_at + 8,
                format!("attr {i}: ids.size {} is not a multiple of 8 (an array of u64)", ids_sec.size),
            ));
        }
        // ids arrays of a well-formed file do not overlap: together they fit in the file
        ids_total += ids_sec.size;
        if ids_total > file_len {
            return Err(Error::perf_data(
                ids_at,
                format!("attr {i}: the ids arrays add up to more than the {file_len}-byte file"),
            ));
        }
        let raw = read_at(r, ids_sec.offset, ids_sec.size, "an ids array")?;
        let ids: Vec<u64> = raw.chunks_exact(8).map(le64).collect();
        evlist.push(FileAttr { attr, ids, name: None }).map_err(|e| Error::perf_data(at, format!("attr {i}: {e}")))?;
    }
    evlist.check_id_positions().map_err(|e| Error::perf_data(h.attrs.offset, e.to_string()))?;
    Ok(evlist)
}

fn read_features<R: Read + Seek>(r: &mut R, h: &FileHeader, file_len: u64) -> Result<Features> {
    let bits = h.feature_bits();
    let mut f = Features::default();
    if bits.is_empty() {
        return Ok(f);
    }
    let table = FileSection { offset: h.data.end(), size: bits.len() as u64 * PERF_FILE_SECTION_SIZE };
    table.check_within("feature table (after the data section)", 72, file_len)?;
    let raw = read_at(r, table.offset, table.size, "the feature table")?;
    let mut total = 0u64;
    for (i, bit) in bits.into_iter().enumerate() {
        let at = table.offset + 16 * i as u64;
        let sec = FileSection::from_bytes(&raw[16 * i..]);
        sec.check_within(&format!("feature {}", feature_name(bit)), at, file_len)?;
        // sections of a well-formed file do not overlap: their sum is at most the file
        total += sec.size;
        if total > file_len {
            return Err(Error::perf_data(
                at,
                format!(
                    "feature {}: the feature sections add up to more than the {file_len}-byte file",
                    feature_name(bit)
                ),
            ));
        }
        let payload = read_at(r, sec.offset, sec.size, "a feature section")?;
        f.decode_one(bit, &payload, sec.offset)?;
    }
    Ok(f)
}

/// One record of the data section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// File offset of the record's header.
    pub offset: u64,
    /// Index of the attr it belongs to (`None` for tool records, type >= 64).
    pub attr: Option<usize>,
    /// Header and, for the types perfcore decodes, the record.
    pub decoded: DecodedRecord,
    /// The record's `header.size` bytes.
    pub bytes: Vec<u8>,
}

/// Iterator over the records of a data section; yields an error once, then stops.
pub struct Records<R> {
    r: R,
    pos: u64,
    end: u64,
    evlist: Arc<EventList>,
    seeked: bool,
    done: bool,
}

impl<R: Read + Seek> Records<R> {
    fn read(&mut self, n: usize, what: &str) -> Result<Vec<u8>> {
        if !self.seeked {
            self.r
                .seek(SeekFrom::Start(self.pos))
                .map_err(|e| Error::perf_data(self.pos, format!("seeking to the data section: {e}")))?;
            self.seeked = true;
        }
        let mut v = vec![0u8; n];
        self.r.read_exact(&mut v).map_err(|e| Error::perf_data(self.pos, format!("reading {what}: {e}")))?;
        Ok(v)
    }

    fn next_record(&mut self) -> Result<FileRecord> {
        let offset = self.pos;
        let left = self.end - self.pos;
        if left < PERF_EVENT_HEADER_SIZE as u64 {
            return Err(Error::perf_data(
                offset,
                format!("record header needs 8 bytes but the data section has {left} left"),
            ));
        }
        let mut bytes = self.read(8, "a record header")?;
        let type_ = le32(&bytes);
        let size = u16::from_le_bytes([bytes[6], bytes[7]]) as u64;
        let name = record_type_name(type_).unwrap_or("unknown");
        if size < 8 {
            return Err(Error::perf_data(offset + 6, format!("{name} record (type {type_}): header.size {size} < 8")));
        }
        if size > left {
            return Err(Error::perf_data(
                offset + 6,
                format!("{name} record (type {type_}): header.size {size} but the data section has {left} bytes left"),
            ));
        }
        bytes.extend_from_slice(&self.read(size as usize - 8, "a record body")?);
        self.pos += size;
        if type_ == PERF_RECORD_AUXTRACE {
            self.skip_auxtrace_payload(&bytes, offset)?;
        }
        let attr = self.evlist.attr_of(&bytes, offset)?;
        let decoded = match attr.and_then(|i| self.evlist.format(i)) {
            Some(fmt) => {
                decode_record(&bytes, fmt).map_err(|e| Error::perf_data(offset, format!("{name} record: {e}")))?
            }
            None => DecodedRecord { type_, misc: le16(&bytes[4..]), size: size as u16, record: None },
        };
        Ok(FileRecord { offset, attr, decoded, bytes })
    }

    /// AUXTRACE records are followed by `size` bytes of trace that header.size does not count.
    fn skip_auxtrace_payload(&mut self, rec: &[u8], offset: u64) -> Result<()> {
        if rec.len() < 16 {
            return Err(Error::perf_data(offset, format!("AUXTRACE record: header.size {} < 16", rec.len())));
        }
        let n = le64(&rec[8..]);
        if n > self.end - self.pos {
            return Err(Error::perf_data(
                offset + 8,
                format!("AUXTRACE record: size {n} of trace data exceeds the {} bytes left", self.end - self.pos),
            ));
        }
        self.r
            .seek(SeekFrom::Current(n as i64))
            .map_err(|e| Error::perf_data(self.pos, format!("skipping AUXTRACE data: {e}")))?;
        self.pos += n;
        Ok(())
    }
}

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

impl<R: Read + Seek> Iterator for Records<R> {
    type Item = Result<FileRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.end {
            return None;
        }
        let r = self.next_record();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

/// A perf.data file on disk: its metadata, and its records on demand.
#[derive(Clone, Debug)]
pub struct PerfDataReader {
    path: PathBuf,
    data: PerfData,
}

impl PerfDataReader {
    /// Open and parse a file (header, attrs, ids, features).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let f = File::open(&path).map_err(|e| io_error("opening", &path, e))?;
        let data = PerfData::parse(&mut BufReader::new(f))?;
        Ok(PerfDataReader { path, data })
    }

    /// What the file says about itself.
    pub fn data(&self) -> &PerfData {
        &self.data
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh iterator over the data records (reopens the file).
    pub fn records(&self) -> Result<Records<BufReader<File>>> {
        let f = File::open(&self.path).map_err(|e| io_error("opening", &self.path, e))?;
        Ok(self.data.records(BufReader::with_capacity(1 << 16, f)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::sample::PERF_SAMPLE_IP;
    use std::io::Cursor;

    /// A file by hand: one attr (sample_type IP), data = AUXTRACE (48-byte header claiming
    /// `payload` bytes of trace, followed by 16) then a SAMPLE.
    fn auxtrace_file(payload: u64) -> Vec<u8> {
        let mut attr = PerfEventAttr::new();
        attr.size = 128;
        attr.sample_type = PERF_SAMPLE_IP;
        let mut data = Vec::new();
        data.extend_from_slice(&[71, 0, 0, 0, 0, 0, 48, 0]);
        data.extend_from_slice(&payload.to_le_bytes());
        data.extend_from_slice(&[0u8; 32]); // offset, reference, idx/tid, cpu/reserved
        data.extend_from_slice(&[0xee; 16]); // the trace bytes
        data.extend_from_slice(&[9, 0, 0, 0, 2, 0, 16, 0]);
        data.extend_from_slice(&0x401000u64.to_le_bytes());
        let h = FileHeader {
            attr_size: 144,
            attrs: FileSection { offset: 104, size: 144 },
            data: FileSection { offset: 248, size: data.len() as u64 },
            ..Default::default()
        };
        let mut b = h.to_bytes().to_vec();
        b.extend_from_slice(&attr.to_bytes(128));
        b.extend_from_slice(&[0u8; 16]); // no ids
        b.extend_from_slice(&data);
        b
    }

    #[test]
    fn auxtrace_payloads_are_skipped_by_their_size() {
        let b = auxtrace_file(16);
        let d = PerfData::parse(&mut Cursor::new(&b)).unwrap();
        let recs: Vec<FileRecord> = d.records(Cursor::new(&b)).map(|r| r.unwrap()).collect();
        assert_eq!(recs.iter().map(|r| (r.offset, r.decoded.type_)).collect::<Vec<_>>(), vec![(248, 71), (312, 9)]);
        assert_eq!(recs[0].attr, None);
        assert_eq!(recs[1].attr, Some(0));
        let b = auxtrace_file(1 << 40);
        let d = PerfData::parse(&mut Cursor::new(&b)).unwrap();
        let e = d.records(Cursor::new(&b)).next().unwrap().unwrap_err().to_string();
        assert!(e.contains("AUXTRACE record: size 1099511627776"), "{e}");
    }

    #[test]
    fn record_names_cover_kernel_and_tool_types() {
        assert_eq!(record_type_name(PERF_RECORD_SAMPLE), Some("SAMPLE"));
        assert_eq!(record_type_name(PERF_RECORD_AUX_OUTPUT_HW_ID), Some("AUX_OUTPUT_HW_ID"));
        assert_eq!(record_type_name(PERF_RECORD_FINISHED_ROUND), Some("FINISHED_ROUND"));
        assert_eq!(record_type_name(PERF_RECORD_FINISHED_INIT), Some("FINISHED_INIT"));
        assert_eq!(record_type_name(PERF_RECORD_EVENT_UPDATE), Some("EVENT_UPDATE"));
        assert_eq!(record_type_name(22), None);
        assert_eq!(record_type_name(0), None);
    }
}
