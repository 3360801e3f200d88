//! Property tests of the data ring and the record codec: bytes out equal bytes in through
//! random wraps, every produced record is read or counted in a LOST record, and every record
//! type round-trips through encode -> ring -> decode -> encode byte for byte.

use perfcore::abi::record::*;
use perfcore::abi::sample::*;
use perfcore::output::sample::VARIABLE_SAMPLE_FIELDS;
use perfcore::output::*;
use proptest::prelude::*;

fn raw_record(type_: u32, words: usize, seed: u64) -> Vec<u8> {
    let size = 8 + 8 * words;
    let mut v = Vec::with_capacity(size);
    v.extend_from_slice(&type_.to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend_from_slice(&(size as u16).to_le_bytes());
    for i in 0..words as u64 {
        v.extend_from_slice(&(seed.wrapping_mul(1_000_003).wrapping_add(i)).to_le_bytes());
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Records of random sizes go through a small ring at random positions (including near
    /// 2^64); the consumer reads at random moments; what it reads equals what was written,
    /// in order, and written + lost == produced.
    #[test]
    fn bytes_out_equal_bytes_in_through_wraps(
        pages in prop::sample::select(vec![1u32, 2, 4]),
        page_size in prop::sample::select(vec![64usize, 128, 4096]),
        start in prop_oneof![Just(0u64), Just(u64::MAX - 199), any::<u64>().prop_map(|x| x & !7)],
        ops in prop::collection::vec((0usize..40, any::<bool>()), 1..120),
    ) {
        let mut rb = RingBuffer::new(RingConfig { data_pages: pages, page_size, start, ..Default::default() }).unwrap();
        let c = rb.consumer();
        let ev = OutputEvent { id: 5, format: OutputFormat::simple(0).unwrap() };
        let mut written = Vec::new();
        let mut read = Vec::new();
        let mut lost_reported = 0;
        let mut produced = 0u64;
        let drain = |read: &mut Vec<Vec<u8>>, lost_reported: &mut u64| {
            for r in c.read_records().unwrap() {
                if u32::from_le_bytes(r[..4].try_into().unwrap()) == PERF_RECORD_LOST {
                    *lost_reported += u64::from_le_bytes(r[16..24].try_into().unwrap());
                } else {
                    read.push(r);
                }
            }
        };
        for (i, (words, consume)) in ops.iter().enumerate() {
            let rec = raw_record(PERF_RECORD_LOST_SAMPLES, *words, i as u64);
            produced += 1;
            if rb.write_bytes(&ev, &rec, &SampleId::default()).unwrap() {
                written.push(rec);
            }
            if *consume {
                drain(&mut read, &mut lost_reported);
            }
        }
        drain(&mut read, &mut lost_reported);
        prop_assert_eq!(&read, &written);
        prop_assert_eq!(written.len() as u64 + lost_reported + rb.pending_lost(), produced);
    }

    /// Every SAMPLE field survives encode -> ring -> decode -> encode unchanged.
    #[test]
    fn samples_round_trip_for_random_masks(
        st in (0u64..(1 << 25)).prop_map(|m| if m & PERF_SAMPLE_WEIGHT_TYPE == PERF_SAMPLE_WEIGHT_TYPE { m & !PERF_SAMPLE_WEIGHT } else { m }),
        rf in 0u64..32,
        words in prop::collection::vec(any::<u64>(), 24),
        cc in prop::collection::vec(any::<u64>(), 0..6),
        raw in prop::option::of(prop::collection::vec(any::<u8>(), 0..20)),
        nbr in 0usize..3,
        aux in prop::collection::vec(any::<u8>(), 0..20),
        nvals in 1usize..4,
    ) {
        let bst = PERF_SAMPLE_BRANCH_HW_INDEX | PERF_SAMPLE_BRANCH_COUNTERS | PERF_SAMPLE_BRANCH_ANY;
        let (ru, ri) = (0b1_1000_0000u64, 0b101u64);
        let fmt = OutputFormat::new(st, rf, true, bst, ru, ri).unwrap();
        let n = if rf & PERF_FORMAT_GROUP != 0 { nvals } else { 1 };
        let w = |i: usize| words[i];
        let s = SampleData {
            misc: PERF_RECORD_MISC_USER, ip: w(0), pid: w(1) as u32, tid: (w(1) >> 32) as u32, time: w(2), addr: w(3),
            id: w(4), stream_id: w(5), cpu: w(6) as u32, period: w(7),
            read: ReadValues { time_enabled: w(8), time_running: w(9),
                values: (0..n).map(|k| ReadValue { value: w(10) + k as u64, id: w(11) ^ k as u64, lost: w(12) }).collect() },
            callchain: cc,
            raw: raw.map(|r| { let mut r = r; r.resize((4 + r.len()).div_ceil(8) * 8 - 4, 0); r }),
            branch: Some(BranchStack { hw_idx: w(13), entries: (0..nbr).map(|k| BranchEntry { from: w(14) + k as u64, to: w(15), flags: w(16) }).collect(), counters: Some(vec![w(17); nbr]) }),
            regs_user: Regs { abi: 2, regs: vec![w(18), w(19)] },
            stack_user: vec![3u8; 16], stack_user_dyn_size: 12,
            weight: w(20), data_src: w(21), transaction: w(22),
            regs_intr: Regs { abi: 2, regs: vec![1, 2] },
            phys_addr: w(23), cgroup: 1, data_page_size: 4096, code_page_size: 4096,
            aux: { let mut a = aux; a.resize(a.len().div_ceil(8) * 8, 0); a },
        };
        let bytes = fmt.sample_bytes(&s).unwrap();
        let mut rb = RingBuffer::new(RingConfig { data_pages: 1, start: u64::MAX - 39, ..Default::default() }).unwrap();
        let ev = OutputEvent { id: 1, format: fmt };
        prop_assert!(rb.write_sample(&ev, &s).unwrap());
        let recs = rb.consumer().read_records().unwrap();
        prop_assert_eq!(&recs[0], &bytes);
        let d = decode_record(&recs[0], &fmt).unwrap();
        let rec = d.record.unwrap();
        prop_assert_eq!(rec.to_bytes(&fmt).unwrap(), bytes);
    }

    /// The decoder never panics on garbage and never reads past header.size.
    #[test]
    fn decoder_survives_garbage(bytes in prop::collection::vec(any::<u8>(), 0..300), st in 0u64..(1 << 24)) {
        let fmt = OutputFormat::new(st, 0x1f, true, PERF_SAMPLE_BRANCH_HW_INDEX, 0xff, 0xff).unwrap();
        let _ = decode_stream(&bytes, &fmt);
        if bytes.len() >= 8 {
            let _ = decode_record(&bytes, &fmt);
        }
    }
}

fn all_records() -> Vec<Record> {
    let ids = SampleId { pid: 10, tid: 11, time: 12, id: 13, stream_id: 14, cpu: 1 };
    let t = TaskRecord { pid: 1, ppid: 2, tid: 3, ptid: 2, time: 99 };
    let vals = ReadValues { time_enabled: 5, time_running: 4, values: vec![ReadValue { value: 3, id: 13, lost: 0 }] };
    [
        (
            PERF_RECORD_MISC_USER,
            RecordBody::Mmap { pid: 1, tid: 1, addr: 0x400000, len: 4096, pgoff: 0, filename: "/bin/true".into() },
        ),
        (0, RecordBody::Lost { id: 13, lost: 7 }),
        (PERF_RECORD_MISC_COMM_EXEC, RecordBody::Comm { pid: 1, tid: 1, comm: "exactly15chars!".into() }),
        (0, RecordBody::Exit(t)),
        (0, RecordBody::Throttle { time: 1, id: 13, stream_id: 14 }),
        (0, RecordBody::Unthrottle { time: 2, id: 13, stream_id: 14 }),
        (0, RecordBody::Fork(t)),
        (0, RecordBody::Read { pid: 1, tid: 2, values: vals }),
        (
            PERF_RECORD_MISC_USER,
            RecordBody::Mmap2 {
                pid: 1,
                tid: 1,
                addr: 1,
                len: 2,
                pgoff: 3,
                file: Mmap2File::Inode { maj: 8, min: 1, ino: 77, ino_generation: 5 },
                prot: 5,
                flags: 2,
                filename: "/usr/lib/libc.so.6".into(),
            },
        ),
        (
            PERF_RECORD_MISC_USER | PERF_RECORD_MISC_MMAP_BUILD_ID,
            RecordBody::Mmap2 {
                pid: 1,
                tid: 1,
                addr: 1,
                len: 2,
                pgoff: 3,
                file: Mmap2File::BuildId(vec![0xab; 20]),
                prot: 5,
                flags: 2,
                filename: "x".into(),
            },
        ),
        (0, RecordBody::Aux { offset: 4096, size: 100, flags: PERF_AUX_FLAG_TRUNCATED }),
        (0, RecordBody::ItraceStart { pid: 3, tid: 4 }),
        (0, RecordBody::LostSamples { lost: 17 }),
        (PERF_RECORD_MISC_SWITCH_OUT | PERF_RECORD_MISC_SWITCH_OUT_PREEMPT, RecordBody::Switch),
        (PERF_RECORD_MISC_SWITCH_OUT, RecordBody::SwitchCpuWide { next_prev_pid: 8, next_prev_tid: 9 }),
    ]
    .into_iter()
    .map(|(misc, body)| Record { misc, body, sample_id: ids })
    .collect()
}

#[test]
fn every_record_type_round_trips_with_and_without_trailer() {
    let st = PERF_SAMPLE_TID
        | PERF_SAMPLE_TIME
        | PERF_SAMPLE_ID
        | PERF_SAMPLE_STREAM_ID
        | PERF_SAMPLE_CPU
        | PERF_SAMPLE_IDENTIFIER;
    for sample_id_all in [false, true] {
        let fmt = OutputFormat::new(
            st,
            PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING | PERF_FORMAT_ID,
            sample_id_all,
            0,
            0,
            0,
        )
        .unwrap();
        let mut rb = RingBuffer::new(RingConfig { data_pages: 1, start: 4096 - 96, ..Default::default() }).unwrap();
        let ev = OutputEvent { id: 13, format: fmt };
        let recs = all_records();
        let mut expected = Vec::new();
        for r in &recs {
            assert!(rb.write_record(&ev, r).unwrap());
            expected.push(r.to_bytes(&fmt).unwrap());
        }
        let got = rb.consumer().read_records().unwrap();
        assert_eq!(got, expected);
        for (bytes, r) in got.iter().zip(&recs) {
            let d = decode_record(bytes, &fmt).unwrap();
            let mut back = d.record.unwrap();
            assert_eq!(back.body, r.body);
            if sample_id_all {
                assert_eq!(back.sample_id, r.sample_id, "{:?}", r.body);
                assert_eq!(
                    u64::from_le_bytes(bytes[bytes.len() - 8..].try_into().unwrap()),
                    13,
                    "IDENTIFIER is the last u64"
                );
            }
            back.sample_id = r.sample_id;
            assert_eq!(back.to_bytes(&fmt).unwrap(), *bytes);
        }
    }
}

#[test]
fn documented_sizes_of_records() {
    // spec §5: COMM of "true" with a 48-byte trailer is 80 bytes; SWITCH with it is 56.
    let st = PERF_SAMPLE_TID
        | PERF_SAMPLE_TIME
        | PERF_SAMPLE_ID
        | PERF_SAMPLE_STREAM_ID
        | PERF_SAMPLE_CPU
        | PERF_SAMPLE_IDENTIFIER;
    let fmt = OutputFormat::new(st, 0, true, 0, 0, 0).unwrap();
    let comm = Record::new(0, RecordBody::Comm { pid: 1, tid: 1, comm: "perf-exec".into() });
    assert_eq!(comm.size(&fmt).unwrap(), 80);
    assert_eq!(Record::new(0, RecordBody::Switch).size(&fmt).unwrap(), 56);
    // LOST with the trailer: 24 + 48
    let mut rb = RingBuffer::new(RingConfig { data_pages: 1, page_size: 256, ..Default::default() }).unwrap();
    let ev = OutputEvent { id: 3, format: fmt };
    let big = Record::new(0, RecordBody::Comm { pid: 1, tid: 1, comm: "x".into() });
    while rb.write_record(&ev, &big).unwrap() {}
    rb.consumer().read_records().unwrap();
    assert!(rb.write_record(&ev, &big).unwrap());
    let r = rb.consumer().read_records().unwrap();
    assert_eq!(r[0].len(), 72);
}

#[test]
fn pause_counts_every_attempt_and_reports_after_resume() {
    let mut rb = RingBuffer::new(RingConfig::default()).unwrap();
    let ev = OutputEvent { id: 3, format: OutputFormat::simple(PERF_SAMPLE_IP).unwrap() };
    rb.pause_output(true).unwrap();
    for _ in 0..5 {
        assert!(!rb.write_sample(&ev, &SampleData::default()).unwrap());
    }
    rb.pause_output(false).unwrap();
    assert!(rb.write_sample(&ev, &SampleData { ip: 1, ..Default::default() }).unwrap());
    let r = rb.consumer().read_records().unwrap();
    let d = decode_record(&r[0], &ev.format).unwrap();
    assert_eq!(d.record.unwrap().body, RecordBody::Lost { id: 3, lost: 5 });
    // a user-page-only ring is paused forever and drops silently
    let mut z = RingBuffer::new(RingConfig { data_pages: 0, ..Default::default() }).unwrap();
    assert!(!z.write_sample(&ev, &SampleData::default()).unwrap());
    assert_eq!(z.pending_lost(), 0);
    assert_eq!(z.pause_output(false).unwrap_err().errno(), Some(perfcore::Errno::EINVAL));
}

#[test]
fn overwrite_mode_never_loses_and_backward_reads_newest_records() {
    let ev = OutputEvent { id: 3, format: OutputFormat::simple(PERF_SAMPLE_IP).unwrap() };
    let mut rb = RingBuffer::new(RingConfig {
        data_pages: 1,
        page_size: 256,
        writable: false,
        backward: true,
        ..Default::default()
    })
    .unwrap();
    for i in 0..100 {
        assert!(rb.write_sample(&ev, &SampleData { ip: i, ..Default::default() }).unwrap());
    }
    assert_eq!(rb.pending_lost(), 0);
    let c = rb.consumer();
    assert_eq!(c.data_head(), (-(100i64 * 16)) as u64, "backward head is a negative u64");
    let ips: Vec<u64> =
        c.read_records().unwrap().iter().map(|r| u64::from_le_bytes(r[8..16].try_into().unwrap())).collect();
    // 256 bytes hold 16 records of 16 bytes: the newest 16, oldest first
    assert_eq!(ips, (84..100).collect::<Vec<_>>());
}

#[test]
fn watermark_and_wakeup_events_wake_the_reader() {
    let ev = OutputEvent { id: 3, format: OutputFormat::simple(PERF_SAMPLE_IP).unwrap() };
    let mut rb = RingBuffer::new(RingConfig { wakeup_events: 5, ..Default::default() }).unwrap();
    for i in 1..=10 {
        rb.write_sample(&ev, &SampleData::default()).unwrap();
        assert_eq!(rb.poll(), i % 5 == 0, "sample {i}");
    }
    // byte watermark of 64: a wakeup after the head passes 64, 128, ...
    let mut rb = RingBuffer::new(RingConfig { watermark: true, wakeup_watermark: 64, ..Default::default() }).unwrap();
    let mut at = Vec::new();
    for i in 1..=12 {
        rb.write_sample(&ev, &SampleData::default()).unwrap();
        if rb.poll() {
            at.push(i * 16);
        }
    }
    assert_eq!(at, vec![80, 144]);
    assert_eq!(rb.watermark(), 64);
    assert_eq!(RingBuffer::new(RingConfig { data_pages: 4, ..Default::default() }).unwrap().watermark(), 8192);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The fixed-size fast path writes exactly the bytes of the general encoder, also when
    /// the record wraps across the end of the data area.
    #[test]
    fn fixed_size_fast_path_equals_the_general_encoder(
        st in (0u64..(1 << 25)).prop_map(|m| {
            let m = m & !VARIABLE_SAMPLE_FIELDS;
            if m & PERF_SAMPLE_WEIGHT_TYPE == PERF_SAMPLE_WEIGHT_TYPE { m & !PERF_SAMPLE_WEIGHT } else { m }
        }),
        w in prop::collection::vec(any::<u64>(), 16),
        start_words in 0u64..64,
        misc in any::<u16>(),
    ) {
        let fmt = OutputFormat::new(st, 0, false, 0, 0, 0).unwrap();
        prop_assert!(fmt.fixed_sample_size().is_some());
        let s = SampleData {
            misc, ip: w[0], pid: w[1] as u32, tid: w[2] as u32, time: w[3], addr: w[4], id: w[5], stream_id: w[6],
            cpu: w[7] as u32, period: w[8], weight: w[9], data_src: w[10], transaction: w[11], phys_addr: w[12],
            cgroup: w[13], data_page_size: w[14], code_page_size: w[15], ..Default::default()
        };
        let mut general = Vec::new();
        fmt.encode_sample(&s, fmt.sample_size(&s).unwrap(), &mut general);
        let mut rb = RingBuffer::new(RingConfig { data_pages: 1, page_size: 512, start: 512 - 8 * start_words, ..Default::default() }).unwrap();
        let ev = OutputEvent { id: 1, format: fmt };
        prop_assert!(rb.write_sample(&ev, &s).unwrap());
        prop_assert_eq!(&rb.consumer().read_records().unwrap()[0], &general);
    }
}
