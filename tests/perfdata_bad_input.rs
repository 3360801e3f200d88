//! Malformed perf.data never panics, always gives `Error::PerfData` (offset + field), and never
//! allocates in proportion to a size the file claims: this binary installs an allocator that
//! records the peak of live bytes per thread, and files claiming 2^60-byte sections are parsed
//! with a peak far below that. Random bytes, every truncation of a valid file, and random
//! corruptions of one are all tried.

use perfcore::abi::attr::{AttrFlag, PerfEventAttr};
use perfcore::abi::sample::*;
use perfcore::output::{Record, RecordBody, SampleData, SampleId};
use perfcore::perfdata::*;
use perfcore::Error;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::sync::OnceLock;

struct PeakCounting;

thread_local! {
    /// Live bytes allocated by this thread and their peak (const-initialised: safe in alloc).
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(n: usize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + n;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

fn shrank(n: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(n)));
}

// SAFETY: forwards every call unchanged to the system allocator; only counts bytes.
unsafe impl GlobalAlloc for PeakCounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size);
        shrank(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: PeakCounting = PeakCounting;

/// Peak live bytes this thread allocated while running `f`, above what was live before.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let r = f();
    (r, PEAK.with(|p| p.get()) - base)
}

/// Parse and iterate every record; the first error, if any.
fn read_all(bytes: &[u8]) -> Result<usize, Error> {
    let mut c = Cursor::new(bytes);
    let d = PerfData::parse(&mut c)?;
    let mut n = 0;
    for r in d.records(Cursor::new(bytes)) {
        r?;
        n += 1;
    }
    Ok(n)
}

/// A valid file with two attrs, samples, a COMM with its trailer and every metadata feature.
fn valid_file() -> Vec<u8> {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(write_valid_file).clone()
}

fn write_valid_file() -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("perfcore-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("valid-{:?}.data", std::thread::current().id()));
    let features = Features {
        hostname: Some("host".into()),
        osrelease: Some("6.18.0".into()),
        version: Some("perfcore".into()),
        arch: Some("x86_64".into()),
        nrcpus: Some((2, 2)),
        cmdline: Some(vec!["perfcore".into(), "test".into()]),
        ..Default::default()
    };
    let mut w = PerfDataWriter::create(&path, WriterOptions { features, ..Default::default() }).unwrap();
    let st = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CALLCHAIN;
    for i in 0..2u64 {
        let mut a = PerfEventAttr::new();
        a.type_ = 1;
        a.config = i;
        a.sample_type = st;
        a.set_flag(AttrFlag::SampleIdAll, true);
        w.add_attr(FileAttr { attr: a, ids: vec![10 + i], name: Some(format!("ev{i}")) }).unwrap();
    }
    let ids = SampleId { pid: 1, tid: 1, time: 5, id: 10, ..Default::default() };
    w.append_record(
        0,
        &Record { misc: 0, body: RecordBody::Comm { pid: 1, tid: 1, comm: "x".into() }, sample_id: ids },
    )
    .unwrap();
    for k in 0..6u64 {
        let s = SampleData {
            id: 10 + k % 2,
            ip: k,
            pid: 1,
            tid: 1,
            time: 10 + k,
            callchain: vec![k; k as usize],
            ..Default::default()
        };
        w.append_sample((k % 2) as usize, &s).unwrap();
    }
    w.finish().unwrap();
    let b = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    b
}

fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn the_valid_file_reads_and_the_meter_sees_allocations() {
    assert_eq!(read_all(&valid_file()).unwrap(), 7);
    let (v, peak) = peak_during(|| vec![1u8; 1 << 20]);
    assert!(peak >= 1 << 20 && v.len() == 1 << 20, "the peak meter works: {peak}");
}

/// Every strict prefix of a valid file is an error (the sections claim bytes it lacks).
#[test]
fn every_truncation_is_a_perf_data_error() {
    let b = valid_file();
    for n in 0..b.len() {
        match read_all(&b[..n]) {
            Err(Error::PerfData { .. }) => {}
            other => panic!("truncated at {n} of {}: {other:?}", b.len()),
        }
    }
}

/// Sizes of 2^60 (and u64::MAX) in every size field of the header, an ids section and a
/// feature section: an error naming the field, with a small peak of live memory.
#[test]
fn claimed_huge_sizes_allocate_nothing_like_them() {
    let b = valid_file();
    let attrs_off = u64::from_le_bytes(b[24..32].try_into().unwrap()) as usize;
    let data_end = (u64::from_le_bytes(b[40..48].try_into().unwrap())
        + u64::from_le_bytes(b[48..56].try_into().unwrap())) as usize;
    // (field offset, what the error must name)
    let fields = [
        (16usize, "attrs section"), // attr_size: makes nr_attrs 0 -> samples belong to no attr
        (32, "attrs section"),
        (48, "data section"),
        (attrs_off + 128 + 8, "ids"),
        (data_end + 8, "feature"),
    ];
    for (off, name) in fields {
        for huge in [1u64 << 60, u64::MAX] {
            let mut m = b.clone();
            put64(&mut m, off, huge);
            let (r, peak) = peak_during(|| read_all(&m));
            let e = r.unwrap_err();
            assert!(matches!(e, Error::PerfData { .. }), "field at {off}: {e:?}");
            if off != 16 {
                assert!(e.to_string().contains(name), "field at {off} = {huge}: {e}");
            }
            assert!(peak < 64 * 1024 + 4 * b.len(), "field at {off} = {huge}: peak {peak} bytes");
        }
    }
}

#[test]
fn big_endian_files_are_named_unsupported() {
    let mut b = valid_file();
    b[0..8].reverse();
    let e = read_all(&b).unwrap_err().to_string();
    assert!(e.contains("big-endian") && e.contains("offset 0x0"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random bytes, with or without a valid magic and header size in front.
    #[test]
    fn random_bytes_are_errors_not_panics(tail in prop::collection::vec(any::<u8>(), 0..600), magic in any::<bool>()) {
        let mut b = Vec::new();
        if magic {
            b.extend_from_slice(b"PERFILE2");
            b.extend_from_slice(&104u64.to_le_bytes());
        }
        b.extend_from_slice(&tail);
        let (r, peak) = peak_during(|| read_all(&b));
        if let Err(e) = r {
            prop_assert!(matches!(e, Error::PerfData { .. }), "{:?}", e);
        }
        prop_assert!(peak < 64 * 1024 + 4 * b.len(), "peak {}", peak);
    }

    /// A valid file with bytes overwritten at random places: never a panic, errors are
    /// PerfData errors, memory stays bounded by the file.
    #[test]
    fn corrupted_files_are_errors_not_panics(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut b = valid_file();
        let len = b.len();
        for (i, v) in edits {
            b[i.index(len)] = v;
        }
        let (r, peak) = peak_during(|| read_all(&b));
        if let Err(e) = r {
            prop_assert!(matches!(e, Error::PerfData { .. }), "{:?}", e);
        }
        prop_assert!(peak < 64 * 1024 + 4 * len, "peak {}", peak);
    }
}
