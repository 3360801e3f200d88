//! Feature sections of a perf.data file: the table of `struct perf_file_section` right after
//! the data section (one per set bit of `adds_features`, ascending), and the payloads perfcore
//! writes and decodes: HOSTNAME, OSRELEASE, VERSION, ARCH, NRCPUS, CMDLINE, EVENT_DESC and
//! SAMPLE_TIME. Other features are kept as raw bytes. Models the write_*() / process_*() pairs
//! of tools/perf/util/header.c (perf_header__process_sections(), write_event_desc(),
//! read_event_desc(), write_sample_time()); facts: spec/ring-buffer-aux-records.md §8.4.

use super::cursor::{put_string, FileCursor};
use super::header::*;
use crate::abi::attr::{PerfEventAttr, PERF_ATTR_SIZE_VER0};
use crate::error::{Error, Result};

/// One EVENT_DESC entry: an attr, its name and its sample ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventDesc {
    pub attr: PerfEventAttr,
    pub name: String,
    pub ids: Vec<u64>,
}

/// The feature payloads of a file. `None` / empty means the bit is not set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// HOSTNAME (`uname -n`).
    pub hostname: Option<String>,
    /// OSRELEASE (`uname -r`).
    pub osrelease: Option<String>,
    /// VERSION (the version of the tool that wrote the file).
    pub version: Option<String>,
    /// ARCH (`uname -m`).
    pub arch: Option<String>,
    /// NRCPUS: `(nr_cpus_available, nr_cpus_online)`, in file order.
    pub nrcpus: Option<(u32, u32)>,
    /// CMDLINE: the recording command, one string per argument.
    pub cmdline: Option<Vec<String>>,
    /// EVENT_DESC: names for attrs (matched to them by their first id).
    pub event_desc: Option<Vec<EventDesc>>,
    /// SAMPLE_TIME: `(first, last)` sample time.
    pub sample_time: Option<(u64, u64)>,
    /// Every other set bit with its payload bytes, ascending by bit.
    pub other: Vec<(u32, Vec<u8>)>,
}

impl Features {
    /// Set bits and their encoded payloads, ascending by bit (the file's order).
    /// `attr_size` is the attr size used in EVENT_DESC.
    pub fn encode(&self, attr_size: u32) -> Result<Vec<(u32, Vec<u8>)>> {
        let mut out: Vec<(u32, Vec<u8>)> = Vec::new();
        let string = |bit: u32, s: &Option<String>, out: &mut Vec<(u32, Vec<u8>)>| -> Result<()> {
            if let Some(s) = s {
                check_text(bit, s)?;
                let mut v = Vec::new();
                put_string(&mut v, s);
                out.push((bit, v));
            }
            Ok(())
        };
        string(HEADER_HOSTNAME, &self.hostname, &mut out)?;
        string(HEADER_OSRELEASE, &self.osrelease, &mut out)?;
        string(HEADER_VERSION, &self.version, &mut out)?;
        string(HEADER_ARCH, &self.arch, &mut out)?;
        if let Some((avail, online)) = self.nrcpus {
            let mut v = avail.to_le_bytes().to_vec();
            v.extend_from_slice(&online.to_le_bytes());
            out.push((HEADER_NRCPUS, v));
        }
        if let Some(args) = &self.cmdline {
            let mut v = (args.len() as u32).to_le_bytes().to_vec();
            for a in args {
                check_text(HEADER_CMDLINE, a)?;
                put_string(&mut v, a);
            }
            out.push((HEADER_CMDLINE, v));
        }
        if let Some(descs) = &self.event_desc {
            let mut v = (descs.len() as u32).to_le_bytes().to_vec();
            v.extend_from_slice(&attr_size.to_le_bytes());
            for d in descs {
                let mut a = d.attr;
                a.size = attr_size;
                v.extend_from_slice(&a.to_bytes(attr_size as usize));
                v.extend_from_slice(&(d.ids.len() as u32).to_le_bytes());
                check_text(HEADER_EVENT_DESC, &d.name)?;
                put_string(&mut v, &d.name);
                for id in &d.ids {
                    v.extend_from_slice(&id.to_le_bytes());
                }
            }
            out.push((HEADER_EVENT_DESC, v));
        }
        if let Some((first, last)) = self.sample_time {
            let mut v = first.to_le_bytes().to_vec();
            v.extend_from_slice(&last.to_le_bytes());
            out.push((HEADER_SAMPLE_TIME, v));
        }
        for (bit, payload) in &self.other {
            if *bit == 0 || *bit >= HEADER_FEAT_BITS || out.iter().any(|(b, _)| b == bit) || is_decoded(*bit) {
                return Err(Error::Usage(format!(
                    "feature bit {bit} cannot be written raw (0, >= 256, or one perfcore encodes itself)"
                )));
            }
            out.push((*bit, payload.clone()));
        }
        out.sort_by_key(|(b, _)| *b);
        Ok(out)
    }

    /// Decode the payload of feature `bit` at file offset `at` into `self`.
    pub fn decode_one(&mut self, bit: u32, payload: &[u8], at: u64) -> Result<()> {
        let mut c = FileCursor::new(payload, at);
        let name = feature_name(bit);
        match bit {
            HEADER_HOSTNAME => self.hostname = Some(c.string(&name)?),
            HEADER_OSRELEASE => self.osrelease = Some(c.string(&name)?),
            HEADER_VERSION => self.version = Some(c.string(&name)?),
            HEADER_ARCH => self.arch = Some(c.string(&name)?),
            HEADER_NRCPUS => self.nrcpus = Some((c.u32("NRCPUS.nr_cpus_available")?, c.u32("NRCPUS.nr_cpus_online")?)),
            HEADER_CMDLINE => {
                let n = c.count32("CMDLINE.nr", 4)?;
                let mut args = Vec::with_capacity(n);
                for _ in 0..n {
                    args.push(c.string("CMDLINE string")?);
                }
                self.cmdline = Some(args);
            }
            HEADER_EVENT_DESC => self.event_desc = Some(decode_event_desc(&mut c)?),
            HEADER_SAMPLE_TIME => self.sample_time = Some((c.u64("SAMPLE_TIME.first")?, c.u64("SAMPLE_TIME.last")?)),
            _ => self.other.push((bit, payload.to_vec())),
        }
        Ok(())
    }
}

fn is_decoded(bit: u32) -> bool {
    matches!(
        bit,
        HEADER_HOSTNAME
            | HEADER_OSRELEASE
            | HEADER_VERSION
            | HEADER_ARCH
            | HEADER_NRCPUS
            | HEADER_CMDLINE
            | HEADER_EVENT_DESC
            | HEADER_SAMPLE_TIME
    )
}

fn check_text(bit: u32, s: &str) -> Result<()> {
    if s.as_bytes().contains(&0) {
        return Err(Error::Usage(format!("feature {}: {s:?} contains a NUL byte", feature_name(bit))));
    }
    Ok(())
}

fn decode_event_desc(c: &mut FileCursor<'_>) -> Result<Vec<EventDesc>> {
    let nr_at = c.offset();
    let nr = c.u32("EVENT_DESC.nr")? as usize;
    let sz_at = c.offset();
    let attr_size = c.u32("EVENT_DESC.attr_size")? as usize;
    if attr_size < PERF_ATTR_SIZE_VER0 as usize {
        return Err(Error::perf_data(
            sz_at,
            format!("EVENT_DESC.attr_size {attr_size} is smaller than PERF_ATTR_SIZE_VER0 (64)"),
        ));
    }
    // each entry: attr, u32 nr_ids, a string (at least its u32 length)
    if nr > c.left() / (attr_size + 8) {
        return Err(Error::perf_data(
            nr_at,
            format!(
                "EVENT_DESC.nr = {nr} entries of at least {} bytes do not fit in {} bytes",
                attr_size + 8,
                c.left()
            ),
        ));
    }
    let mut out = Vec::with_capacity(nr);
    for _ in 0..nr {
        let attr = PerfEventAttr::from_bytes(c.bytes("EVENT_DESC.attr", attr_size)?);
        let nr_ids_at = c.offset();
        let nr_ids = c.u32("EVENT_DESC.nr_ids")? as usize;
        let name = c.string("EVENT_DESC.name")?;
        if nr_ids > c.left() / 8 {
            return Err(Error::perf_data(
                nr_ids_at,
                format!("EVENT_DESC.nr_ids = {nr_ids} ids do not fit in the {} bytes left", c.left()),
            ));
        }
        let ids = (0..nr_ids).map(|_| c.u64("EVENT_DESC.id")).collect::<Result<Vec<u64>>>()?;
        out.push(EventDesc { attr, name, ids });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Features {
        let mut a = PerfEventAttr::new();
        a.config = 2;
        Features {
            hostname: Some("host".into()),
            osrelease: Some("6.18.0".into()),
            version: Some("perfcore".into()),
            arch: Some("x86_64".into()),
            nrcpus: Some((4, 2)),
            cmdline: Some(vec!["perfcore".into(), "record".into()]),
            event_desc: Some(vec![EventDesc { attr: a, name: "faults".into(), ids: vec![7, 8] }]),
            sample_time: Some((10, 20)),
            other: vec![(13, vec![1, 2, 3, 4])],
        }
    }

    #[test]
    fn every_payload_round_trips_in_bit_order() {
        let f = sample();
        let enc = f.encode(128).unwrap();
        let bits: Vec<u32> = enc.iter().map(|(b, _)| *b).collect();
        assert_eq!(bits, vec![3, 4, 5, 6, 7, 11, 12, 13, 21]);
        let mut back = Features::default();
        for (bit, p) in &enc {
            back.decode_one(*bit, p, 0).unwrap();
        }
        let mut want = f.clone();
        want.event_desc.as_mut().unwrap()[0].attr.size = 128;
        assert_eq!(back, want);
        // NRCPUS: available first, then online (what perf's write_nrcpus() writes)
        let nr = &enc.iter().find(|(b, _)| *b == HEADER_NRCPUS).unwrap().1;
        assert_eq!(nr, &[4, 0, 0, 0, 2, 0, 0, 0]);
    }

    #[test]
    fn huge_event_desc_counts_fail_without_allocating() {
        let mut p = u32::MAX.to_le_bytes().to_vec();
        p.extend_from_slice(&128u32.to_le_bytes());
        let e = Features::default().decode_one(HEADER_EVENT_DESC, &p, 0x1000).unwrap_err();
        assert!(matches!(e, Error::PerfData { offset: 0x1000, .. }), "{e}");
        let e = Features::default().decode_one(HEADER_CMDLINE, &u32::MAX.to_le_bytes(), 0).unwrap_err();
        assert!(e.to_string().contains("CMDLINE.nr"), "{e}");
    }
}
