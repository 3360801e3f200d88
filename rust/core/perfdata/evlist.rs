//! The events of a perf.data file and which of them a record belongs to: each attr with its
//! sample ids, the id's position in samples (`id_pos`, from the front) and in the `sample_id`
//! trailer of other records (`is_pos`, from the end), and the lookup of a record's attr by id.
//! Models __evsel__calc_id_pos() / __evsel__calc_is_pos(), evlist__valid_sample_type() and
//! evlist__event2evsel() of tools/perf/util/{evsel,evlist}.c; facts:
//! spec/ring-buffer-aux-records.md §5 (trailer order), §6.2 (sample order), §8.3.

use crate::abi::attr::{AttrFlag, PerfEventAttr};
use crate::abi::names::{HW_EVENT_NAMES, SW_EVENT_NAMES};
use crate::abi::record::{PERF_RECORD_HEADER_ATTR, PERF_RECORD_SAMPLE};
use crate::abi::sample::*;
use crate::abi::types::{PERF_TYPE_HARDWARE, PERF_TYPE_RAW, PERF_TYPE_SOFTWARE, PERF_TYPE_TRACEPOINT};
use crate::error::{Error, Result};
use crate::output::OutputFormat;
use std::collections::HashMap;

/// One event of the file: its attr, the sample ids that belong to it and an optional name
/// (from EVENT_DESC when read; written to EVENT_DESC when set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileAttr {
    pub attr: PerfEventAttr,
    pub ids: Vec<u64>,
    pub name: Option<String>,
}

/// The record layout of an attr (its [`OutputFormat`]), validated as perf_event_open() would.
pub fn output_format(a: &PerfEventAttr) -> Result<OutputFormat> {
    OutputFormat::for_attr(a)
}

/// The name perf gives an event without a user-chosen name (modifiers aside): the software
/// names as `perf list` spells them (`page-faults`), the generic hardware names in perf's
/// spelling (`cycles`, `branches`: the last alias of each), `raw 0x..`, `tracepoint:N`, and
/// `type T config 0x..` for other PMUs. Models evsel__name() of tools/perf/util/evsel.c.
pub fn default_event_name(a: &PerfEventAttr) -> String {
    let c = a.config;
    let mut sw = SW_EVENT_NAMES.iter().filter(|(_, v)| *v == c).map(|(n, _)| *n);
    let mut hw = HW_EVENT_NAMES.iter().filter(|(_, v)| *v == c).map(|(n, _)| *n);
    let known = match a.type_ {
        PERF_TYPE_SOFTWARE => sw.next(),
        PERF_TYPE_HARDWARE => hw.next_back(),
        _ => None,
    };
    match (known, a.type_) {
        (Some(n), _) => n.to_string(),
        (None, PERF_TYPE_RAW) => format!("raw {c:#x}"),
        (None, PERF_TYPE_TRACEPOINT) => format!("tracepoint:{c}"),
        (None, t) => format!("type {t} config {c:#x}"),
    }
}

/// Word index of the id in a SAMPLE body (after the header), if the sample carries one:
/// IDENTIFIER is first; otherwise ID comes after IP, TID, TIME and ADDR.
pub fn id_pos(sample_type: u64) -> Option<usize> {
    if sample_type & PERF_SAMPLE_IDENTIFIER != 0 {
        return Some(0);
    }
    if sample_type & PERF_SAMPLE_ID == 0 {
        return None;
    }
    let before = [PERF_SAMPLE_IP, PERF_SAMPLE_TID, PERF_SAMPLE_TIME, PERF_SAMPLE_ADDR];
    Some(before.iter().filter(|&&b| sample_type & b != 0).count())
}

/// Word index, counted from the end (1 = last word), of the id in the `sample_id` trailer:
/// IDENTIFIER is last; otherwise ID is followed by STREAM_ID and CPU.
pub fn is_pos(sample_type: u64) -> Option<usize> {
    if sample_type & PERF_SAMPLE_IDENTIFIER != 0 {
        return Some(1);
    }
    if sample_type & PERF_SAMPLE_ID == 0 {
        return None;
    }
    let after = [PERF_SAMPLE_STREAM_ID, PERF_SAMPLE_CPU];
    Some(1 + after.iter().filter(|&&b| sample_type & b != 0).count())
}

/// The attrs of a file with their formats and the id -> attr map.
#[derive(Clone, Debug, Default)]
pub struct EventList {
    attrs: Vec<FileAttr>,
    formats: Vec<OutputFormat>,
    by_id: HashMap<u64, usize>,
}

impl EventList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an attr; its format must be valid and its ids new.
    pub fn push(&mut self, fa: FileAttr) -> Result<usize> {
        let fmt = output_format(&fa.attr)?;
        let idx = self.attrs.len();
        for (i, id) in fa.ids.iter().enumerate() {
            if let Some(other) = self.by_id.get(id) {
                return Err(Error::Usage(format!("attr {idx}: id {id} (ids[{i}]) already belongs to attr {other}")));
            }
            if fa.ids[..i].contains(id) {
                return Err(Error::Usage(format!("attr {idx}: id {id} appears twice in its ids")));
            }
        }
        for id in &fa.ids {
            self.by_id.insert(*id, idx);
        }
        self.attrs.push(fa);
        self.formats.push(fmt);
        Ok(idx)
    }

    /// The attrs, in file order.
    pub fn attrs(&self) -> &[FileAttr] {
        &self.attrs
    }

    /// Mutable access to the attrs (names may be filled in after reading EVENT_DESC).
    pub fn attrs_mut(&mut self) -> &mut [FileAttr] {
        &mut self.attrs
    }

    /// The record format of attr `idx`.
    pub fn format(&self, idx: usize) -> Option<&OutputFormat> {
        self.formats.get(idx)
    }

    /// Number of attrs.
    pub fn len(&self) -> usize {
        self.attrs.len()
    }

    /// Whether there are no attrs.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// The attr that owns sample id `id` (0, the id of synthesized records, is the first).
    pub fn attr_for_id(&self, id: u64) -> Option<usize> {
        if self.attrs.len() == 1 || (id == 0 && !self.attrs.is_empty()) {
            return Some(0);
        }
        self.by_id.get(&id).copied()
    }

    /// With several attrs, every one must carry its id at the same place in samples and in
    /// trailers, or records cannot be told apart (perf: "non matching sample_type").
    pub fn check_id_positions(&self) -> Result<()> {
        if self.attrs.len() < 2 {
            return Ok(());
        }
        let first = &self.attrs[0].attr;
        let pos = (id_pos(first.sample_type), is_pos(first.sample_type));
        for (i, a) in self.attrs.iter().enumerate() {
            let p = (id_pos(a.attr.sample_type), is_pos(a.attr.sample_type));
            if p.0.is_none() || p != pos {
                return Err(Error::Usage(format!(
                    "attr {i}: sample_type {:#x} does not put ID/IDENTIFIER where attr 0 ({:#x}) does; with \
                     several attrs every one needs ID or IDENTIFIER at the same position (perf: non matching \
                     sample_type)",
                    a.attr.sample_type, first.sample_type
                )));
            }
        }
        Ok(())
    }

    /// The attr a kernel record (`b` is the whole record, header included) belongs to.
    /// `Ok(None)` for tool records (type >= 64), which belong to no attr. Errors name the id
    /// when it is not in any attr's ids, or the size when the record is too short to hold it.
    pub fn attr_of(&self, b: &[u8], offset: u64) -> Result<Option<usize>> {
        if b.len() < 8 {
            return Err(Error::perf_data(
                offset,
                format!("record of {} bytes: shorter than its 8-byte header", b.len()),
            ));
        }
        // cannot fire: a 4-byte slice of a record at least 8 bytes long (checked above)
        let (type_, size) = (u32::from_le_bytes(b[0..4].try_into().expect("4")), b.len());
        if type_ >= PERF_RECORD_HEADER_ATTR {
            return Ok(None);
        }
        if self.attrs.is_empty() {
            return Err(Error::perf_data(offset, format!("record type {type_}: the file has no attrs to decode it")));
        }
        if self.attrs.len() == 1 {
            return Ok(Some(0));
        }
        let st = self.attrs[0].attr.sample_type;
        let word = if type_ == PERF_RECORD_SAMPLE {
            let Some(p) = id_pos(st) else { return Ok(Some(0)) };
            8 + 8 * p
        } else {
            if !self.attrs[0].attr.flag(AttrFlag::SampleIdAll) {
                return Ok(Some(0));
            }
            let Some(p) = is_pos(st) else { return Ok(Some(0)) };
            match size.checked_sub(8 * p) {
                Some(w) if w >= 8 => w,
                _ => {
                    return Err(Error::perf_data(
                        offset,
                        format!("record type {type_}: header.size {size} is too small for the sample_id trailer"),
                    ))
                }
            }
        };
        if word + 8 > size {
            return Err(Error::perf_data(
                offset,
                format!("SAMPLE: header.size {size} is too small to hold the sample id at byte {word}"),
            ));
        }
        // cannot fire: an 8-byte slice inside the record (`word + 8 <= size` checked above)
        let id = u64::from_le_bytes(b[word..word + 8].try_into().expect("8"));
        match self.attr_for_id(id) {
            Some(i) => Ok(Some(i)),
            None => Err(Error::perf_data(
                offset + word as u64,
                format!("record type {type_} carries sample id {id}, which is in no attr's ids"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_positions_follow_the_sample_and_trailer_layouts() {
        let f = OutputFormat::simple(PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_ID | PERF_SAMPLE_CPU).unwrap();
        let s = crate::output::SampleData { ip: 1, pid: 2, tid: 3, id: 0xabc, cpu: 4, ..Default::default() };
        let b = f.sample_bytes(&s).unwrap();
        let p = id_pos(f.sample_type).unwrap();
        assert_eq!(u64::from_le_bytes(b[8 + 8 * p..16 + 8 * p].try_into().unwrap()), 0xabc);
        let st = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ID | PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU;
        let f = OutputFormat::new(st, 0, true, 0, 0, 0).unwrap();
        let mut t = Vec::new();
        f.encode_trailer(&crate::output::SampleId { id: 0xdef, stream_id: 9, cpu: 1, ..Default::default() }, &mut t);
        let q = is_pos(st).unwrap();
        let at = t.len() - 8 * q;
        assert_eq!(u64::from_le_bytes(t[at..at + 8].try_into().unwrap()), 0xdef);
        assert_eq!((id_pos(PERF_SAMPLE_IP), is_pos(PERF_SAMPLE_IP)), (None, None));
        assert_eq!(
            (id_pos(PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP), is_pos(PERF_SAMPLE_IDENTIFIER)),
            (Some(0), Some(1))
        );
    }

    #[test]
    fn default_names_are_perfs() {
        let mut a = PerfEventAttr::new();
        for (t, c, want) in [
            (PERF_TYPE_SOFTWARE, 2, "page-faults"),
            (PERF_TYPE_SOFTWARE, 3, "context-switches"),
            (PERF_TYPE_HARDWARE, 0, "cycles"),
            (PERF_TYPE_HARDWARE, 4, "branches"),
            (PERF_TYPE_RAW, 0x1c2, "raw 0x1c2"),
            (PERF_TYPE_TRACEPOINT, 300, "tracepoint:300"),
            (9, 5, "type 9 config 0x5"),
        ] {
            (a.type_, a.config) = (t, c);
            assert_eq!(default_event_name(&a), want);
        }
    }

    #[test]
    fn duplicate_ids_and_mismatched_positions_are_refused() {
        let mut a = PerfEventAttr::new();
        a.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_ID;
        let mut l = EventList::new();
        l.push(FileAttr { attr: a, ids: vec![1, 2], name: None }).unwrap();
        assert!(l.push(FileAttr { attr: a, ids: vec![2], name: None }).is_err());
        let mut b = a;
        b.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_ID;
        l.push(FileAttr { attr: b, ids: vec![3], name: None }).unwrap();
        assert!(l.check_id_positions().unwrap_err().to_string().contains("non matching"));
        assert_eq!(l.attr_for_id(3), Some(1));
        assert_eq!(l.attr_for_id(0), Some(0));
        assert_eq!(l.attr_for_id(99), None);
    }
}
