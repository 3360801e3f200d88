//! perf.data writer -> reader: random valid files read back exactly (attrs, ids, names,
//! features, every record's bytes and the attr it belongs to), the layout matches
//! perf.data-file-format.txt, and the writer's atomic rename never exposes a partial file.
//! Facts: spec/ring-buffer-aux-records.md §8.

use perfcore::abi::attr::{AttrFlag, PerfEventAttr};
use perfcore::abi::record::*;
use perfcore::abi::sample::*;
use perfcore::output::{Record, RecordBody, SampleData, SampleId, TaskRecord};
use perfcore::perfdata::header::*;
use perfcore::perfdata::*;
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

fn tmp_path(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("perfcore-perfdata-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{tag}-{}.data", N.fetch_add(1, Ordering::Relaxed)))
}

fn le64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// One event the property writes: attr, ids, name.
fn attr_with(st: u64, sample_id_all: bool, config: u64) -> PerfEventAttr {
    let mut a = PerfEventAttr::new();
    a.type_ = 1;
    a.config = config;
    a.sample_period = 1;
    a.sample_type = st;
    a.set_flag(AttrFlag::SampleIdAll, sample_id_all);
    a
}

#[derive(Clone, Debug)]
enum Item {
    Sample { attr: usize, words: [u64; 6], callchain: Vec<u64> },
    Comm { attr: usize, pid: u32, comm: String, time: u64 },
    Exit { attr: usize, t: [u32; 4], time: u64 },
    Lost { attr: usize, lost: u64 },
    Switch { attr: usize, out: bool },
    FinishedRound,
}

fn item(nattrs: usize) -> impl Strategy<Value = Item> {
    let a = 0..nattrs;
    prop_oneof![
        4 => (a.clone(), any::<[u64; 6]>(), prop::collection::vec(any::<u64>(), 0..5))
            .prop_map(|(attr, words, callchain)| Item::Sample { attr, words, callchain }),
        1 => (a.clone(), any::<u32>(), "[a-z]{0,15}", any::<u64>())
            .prop_map(|(attr, pid, comm, time)| Item::Comm { attr, pid, comm, time }),
        1 => (a.clone(), any::<[u32; 4]>(), any::<u64>()).prop_map(|(attr, t, time)| Item::Exit { attr, t, time }),
        1 => (a.clone(), any::<u64>()).prop_map(|(attr, lost)| Item::Lost { attr, lost }),
        1 => (a, any::<bool>()).prop_map(|(attr, out)| Item::Switch { attr, out }),
        1 => Just(Item::FinishedRound),
    ]
}

/// The id of attr `i`'s records: each attr owns ids 100*(i+1) .. +3.
fn id_of(i: usize, k: u64) -> u64 {
    100 * (i as u64 + 1) + k % 3
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever valid events and records go in come out: attrs (size set to the file's attr
    /// size), ids, names, metadata features, SAMPLE_TIME = (min, max) of sample times, and
    /// every record's exact bytes with the attr it was written for.
    #[test]
    fn written_files_read_back_exactly(
        nattrs in 1usize..4,
        extra in prop::collection::vec(prop::sample::select(vec![PERF_SAMPLE_IP, PERF_SAMPLE_TID, PERF_SAMPLE_TIME,
            PERF_SAMPLE_ADDR, PERF_SAMPLE_CPU, PERF_SAMPLE_PERIOD, PERF_SAMPLE_STREAM_ID, PERF_SAMPLE_CALLCHAIN]), 0..8),
        sample_id_all in any::<bool>(),
        named in any::<bool>(),
        attr_size in prop::sample::select(vec![64u32, 96, 120, 128, 136]),
        items in prop::collection::vec(item(3), 0..40),
        host in "[a-z0-9.-]{0,70}",
        cmd in prop::collection::vec("[ -~]{0,20}", 0..4),
    ) {
        let st = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_ID | extra.iter().fold(0, |m, b| m | b);
        let path = tmp_path("prop");
        let mut feats = Features { hostname: Some(host.clone()), cmdline: Some(cmd.clone()), nrcpus: Some((8, 4)), ..Default::default() };
        feats.arch = Some("x86_64".into());
        let mut w = PerfDataWriter::create(&path, WriterOptions { attr_size, features: feats.clone() }).unwrap();
        let mut attrs = Vec::new();
        for i in 0..nattrs {
            let fa = FileAttr {
                attr: attr_with(st, sample_id_all, i as u64),
                ids: vec![id_of(i, 0), id_of(i, 1), id_of(i, 2)],
                name: named.then(|| format!("event-{i}")),
            };
            w.add_attr(fa.clone()).unwrap();
            attrs.push(fa);
        }
        let fmt = |i: usize| w_format(st, sample_id_all, i);
        let mut expect: Vec<(Option<usize>, Vec<u8>)> = Vec::new();
        let mut times: Option<(u64, u64)> = None;
        for (k, it) in items.iter().enumerate() {
            let k = k as u64;
            let ids = |attr: usize, time: u64| SampleId { pid: 1, tid: 2, time, id: id_of(attr, k), stream_id: 9, cpu: 3 };
            let (attr, rec) = match it.clone() {
                Item::Sample { attr, words, callchain } => {
                    let attr = attr % nattrs;
                    let s = SampleData { ip: words[0], pid: words[1] as u32, tid: (words[1] >> 32) as u32, time: words[2],
                        addr: words[3], id: id_of(attr, k), stream_id: words[4], cpu: words[5] as u32, period: words[5] >> 32,
                        callchain, misc: PERF_RECORD_MISC_USER, ..Default::default() };
                    if st & PERF_SAMPLE_TIME != 0 {
                        times = Some(times.map_or((s.time, s.time), |(lo, hi)| (lo.min(s.time), hi.max(s.time))));
                    }
                    (Some(attr), Record { misc: s.misc, body: RecordBody::Sample(Box::new(s)), sample_id: SampleId::default() })
                }
                Item::Comm { attr, pid, comm, time } => {
                    let attr = attr % nattrs;
                    (Some(attr), Record { misc: 0, body: RecordBody::Comm { pid, tid: pid, comm }, sample_id: ids(attr, time) })
                }
                Item::Exit { attr, t, time } => {
                    let attr = attr % nattrs;
                    let body = RecordBody::Exit(TaskRecord { pid: t[0], ppid: t[1], tid: t[2], ptid: t[3], time });
                    (Some(attr), Record { misc: 0, body, sample_id: ids(attr, time) })
                }
                Item::Lost { attr, lost } => {
                    let attr = attr % nattrs;
                    (Some(attr), Record { misc: 0, body: RecordBody::Lost { id: id_of(attr, k), lost }, sample_id: ids(attr, 0) })
                }
                Item::Switch { attr, out } => {
                    let attr = attr % nattrs;
                    let misc = if out { PERF_RECORD_MISC_SWITCH_OUT } else { 0 };
                    (Some(attr), Record { misc, body: RecordBody::Switch, sample_id: ids(attr, 0) })
                }
                Item::FinishedRound => (None, Record::new(0, RecordBody::Switch)),
            };
            // without sample_id_all, several attrs cannot tell non-sample records apart: perf
            // gives them to the first attr, so only write them for attr 0
            let ambiguous = !sample_id_all && nattrs > 1 && !matches!(rec.body, RecordBody::Sample(_));
            match attr {
                Some(a) if ambiguous && a != 0 => continue,
                Some(a) => {
                    let bytes = rec.to_bytes(&fmt(a)).unwrap();
                    w.append_record(a, &rec).unwrap();
                    expect.push((Some(a), bytes));
                }
                None => {
                    let b = [68u8, 0, 0, 0, 0, 0, 8, 0]; // FINISHED_ROUND: a header only
                    w.append_bytes(&b, None).unwrap();
                    expect.push((None, b.to_vec()));
                }
            }
        }
        w.finish().unwrap();

        let r = PerfDataReader::open(&path).unwrap();
        let d = r.data();
        prop_assert_eq!(d.evlist.len(), nattrs);
        for (got, want) in d.evlist.attrs().iter().zip(&attrs) {
            let mut a = want.attr;
            a.size = attr_size;
            prop_assert_eq!(got.attr, a);
            prop_assert_eq!(&got.ids, &want.ids);
            // unnamed events get perf's name in EVENT_DESC (configs 0, 1, 2 of type software)
            let perf_name = ["cpu-clock", "task-clock", "page-faults"][want.attr.config as usize];
            prop_assert_eq!(got.name.as_deref(), Some(want.name.as_deref().unwrap_or(perf_name)));
        }
        prop_assert_eq!(d.features.hostname.as_deref(), Some(host.as_str()));
        prop_assert_eq!(d.features.cmdline.as_ref(), Some(&cmd));
        prop_assert_eq!(d.features.nrcpus, Some((8, 4)));
        prop_assert_eq!(d.features.sample_time, times);
        prop_assert_eq!(d.features.event_desc.as_ref().map(|e| e.len()), Some(nattrs));
        let got: Vec<(Option<usize>, Vec<u8>)> = r.records().unwrap().map(|x| { let x = x.unwrap(); (x.attr, x.bytes) }).collect();
        prop_assert_eq!(got, expect);
        std::fs::remove_file(&path).unwrap();
    }
}

fn w_format(st: u64, sample_id_all: bool, i: usize) -> perfcore::output::OutputFormat {
    evlist::output_format(&attr_with(st, sample_id_all, i as u64)).unwrap()
}

/// The bytes follow the documented layout: header fields at their offsets, ids right after the
/// header, attr entries of `attr.size + 16` bytes, the feature table right after the data.
#[test]
fn layout_follows_the_file_format_document() {
    let path = tmp_path("layout");
    let opts =
        WriterOptions { features: Features { hostname: Some("h".into()), ..Default::default() }, ..Default::default() };
    let mut w = PerfDataWriter::create(&path, opts).unwrap();
    let a = attr_with(PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME, false, 2);
    w.add_attr(FileAttr { attr: a, ids: vec![42, 43], name: None }).unwrap();
    let s = SampleData { ip: 0xffff_ffff_8100_0000, pid: 5, tid: 6, time: 77, ..Default::default() };
    w.append_sample(0, &s).unwrap();
    w.finish().unwrap();
    let b = std::fs::read(&path).unwrap();
    assert_eq!(&b[0..8], b"PERFILE2");
    assert_eq!(le64(&b, 8), 104);
    assert_eq!(le64(&b, 16), 128 + 16, "attr_size = attr.size + sizeof(perf_file_section)");
    assert_eq!((le64(&b, 104), le64(&b, 112)), (42, 43), "ids right after the header");
    assert_eq!((le64(&b, 24), le64(&b, 32)), (120, 144), "attrs section");
    assert_eq!(u32::from_le_bytes(b[124..128].try_into().unwrap()), 128, "attr.size in the file");
    assert_eq!((le64(&b, 120 + 128), le64(&b, 120 + 136)), (104, 16), "the attr's ids section");
    let (data_off, data_size) = (le64(&b, 40) as usize, le64(&b, 48) as usize);
    assert_eq!((data_off, data_size), (264, 32));
    assert_eq!(u32::from_le_bytes(b[data_off..data_off + 4].try_into().unwrap()), PERF_RECORD_SAMPLE);
    assert_eq!(le64(&b, 72), (1 << HEADER_HOSTNAME) | (1 << HEADER_EVENT_DESC) | (1 << HEADER_SAMPLE_TIME));
    let table = data_off + data_size;
    let (h_off, h_size) = (le64(&b, table) as usize, le64(&b, table + 8) as usize);
    assert_eq!(h_size, 4 + 64);
    assert_eq!(&b[h_off + 4..h_off + 6], b"h\0");
    // EVENT_DESC: nr 1, attr_size 128, the attr, nr_ids 2, the name "page-faults", the ids
    let (e_off, e_size) = (le64(&b, table + 16) as usize, le64(&b, table + 24) as usize);
    assert_eq!(e_size, 4 + 4 + 128 + 4 + 4 + 64 + 16);
    assert_eq!(&b[e_off..e_off + 8], &[1, 0, 0, 0, 128, 0, 0, 0]);
    assert_eq!(&b[e_off + 8 + 128 + 8..e_off + 8 + 128 + 8 + 12], b"page-faults\0");
    let (t_off, t_size) = (le64(&b, table + 32) as usize, le64(&b, table + 40) as usize);
    assert_eq!((t_size, le64(&b, t_off), le64(&b, t_off + 8)), (16, 77, 77));
    assert_eq!(t_off + t_size, b.len(), "the file ends with the last feature");
    std::fs::remove_file(&path).unwrap();
}

/// Nothing is visible at the path until finish(); a dropped writer leaves no file behind.
#[test]
fn the_file_appears_only_when_finished() {
    // a directory of its own: other tests write files concurrently
    let dir = tmp_path("atomic").with_extension("d");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.data");
    let count = || std::fs::read_dir(&dir).unwrap().count();
    let before = count();
    let mut w = PerfDataWriter::create(&path, WriterOptions::default()).unwrap();
    w.add_attr(FileAttr { attr: attr_with(PERF_SAMPLE_IP, false, 1), ids: vec![], name: None }).unwrap();
    w.append_sample(0, &SampleData { ip: 1, ..Default::default() }).unwrap();
    assert!(!path.exists());
    drop(w);
    assert!(!path.exists());
    assert_eq!(count(), before, "the temporary file is removed");
    let mut w = PerfDataWriter::create(&path, WriterOptions::default()).unwrap();
    w.add_attr(FileAttr { attr: attr_with(PERF_SAMPLE_IP, false, 1), ids: vec![], name: None }).unwrap();
    assert_eq!(w.finish().unwrap(), path);
    assert!(path.exists());
    assert_eq!(count(), before + 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The writer refuses what the reader (or perf) could not read back.
#[test]
fn writer_refuses_unreadable_input() {
    let path = tmp_path("refuse");
    let mut w = PerfDataWriter::create(&path, WriterOptions::default()).unwrap();
    let mut a = attr_with(PERF_SAMPLE_IP, false, 1);
    a.config3 = 1;
    let e = w.add_attr(FileAttr { attr: a, ids: vec![], name: None }).unwrap_err().to_string();
    assert!(e.contains("byte 128") && e.contains("attr_size=136"), "{e}");
    let e = w.append_bytes(&[9, 0, 0, 0, 0, 0, 16, 0], None).unwrap_err().to_string();
    assert!(e.contains("header.size 16 but 8"), "{e}");
    // two attrs without ID/IDENTIFIER cannot be told apart
    w.add_attr(FileAttr { attr: attr_with(PERF_SAMPLE_IP, false, 1), ids: vec![1], name: None }).unwrap();
    w.add_attr(FileAttr { attr: attr_with(PERF_SAMPLE_IP, false, 2), ids: vec![2], name: None }).unwrap();
    let e = w.append_sample(0, &SampleData::default()).unwrap_err().to_string();
    assert!(e.contains("non matching sample_type"), "{e}");
    assert!(PerfDataWriter::create(&path, WriterOptions { attr_size: 100, ..Default::default() }).is_err());
    drop(w);
    // a sample whose id belongs to another attr
    let mut w = PerfDataWriter::create(&path, WriterOptions::default()).unwrap();
    let st = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP;
    w.add_attr(FileAttr { attr: attr_with(st, true, 1), ids: vec![1], name: None }).unwrap();
    w.add_attr(FileAttr { attr: attr_with(st, true, 2), ids: vec![2], name: None }).unwrap();
    let e = w.append_sample(0, &SampleData { id: 2, ..Default::default() }).unwrap_err().to_string();
    assert!(e.contains("belongs to attr 1"), "{e}");
    let e = w.append_sample(0, &SampleData { id: 3, ..Default::default() }).unwrap_err().to_string();
    assert!(e.contains("sample id 3"), "{e}");
    let e = w.add_attr(FileAttr { attr: attr_with(st, true, 3), ids: vec![5], name: None }).unwrap_err().to_string();
    assert!(e.contains("after the first record"), "{e}");
}
