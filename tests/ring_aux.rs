//! AUX area: handles, records and flags, snapshot mode, ITRACE_START, the trace PMU's byte
//! stream, and the 2^64 wrap that the power-of-two rule protects (spec §3.3, §4).

use perfcore::abi::record::*;
use perfcore::abi::sample::*;
use perfcore::output::*;

fn ev() -> OutputEvent {
    OutputEvent { id: 9, format: OutputFormat::new(PERF_SAMPLE_TID | PERF_SAMPLE_TIME, 0, true, 0, 0, 0).unwrap() }
}
fn ids() -> SampleId {
    SampleId { pid: 100, tid: 101, time: 5, ..Default::default() }
}
fn ring(aux: AuxConfig) -> RingBuffer {
    let mut rb = RingBuffer::new(RingConfig { data_pages: 4, ..Default::default() }).unwrap();
    rb.map_aux(aux).unwrap();
    rb
}
fn records(rb: &RingBuffer) -> Vec<RecordBody> {
    let f = ev().format;
    rb.consumer().read_records().unwrap().iter().map(|b| decode_record(b, &f).unwrap().record.unwrap().body).collect()
}
fn expected(start: u64, n: usize) -> Vec<u8> {
    // independent oracle: the documented hash of the position
    (0..n as u64).map(|i| (start.wrapping_add(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8).collect()
}

#[test]
fn trace_bytes_land_at_their_positions_and_records_describe_them() {
    let mut rb = ring(AuxConfig { nr_pages: 2, ..Default::default() });
    let mut pmu = TracePmu::default();
    assert!(pmu.sched_in(&mut rb, &ev(), &ids()).unwrap());
    let r1 = pmu.run(&mut rb, &ev(), &ids(), 3000, 0).unwrap();
    assert_eq!(r1.written, 3000);
    assert!(!pmu.sched_in(&mut rb, &ev(), &ids()).unwrap(), "ITRACE_START only before the first start");
    let r2 = pmu.run(&mut rb, &ev(), &ids(), 2000, PERF_AUX_FLAG_PARTIAL).unwrap();
    assert_eq!(r2.end.offset, 3000);
    assert_eq!(
        records(&rb),
        vec![
            RecordBody::ItraceStart { pid: 100, tid: 101 },
            RecordBody::Aux { offset: 0, size: 3000, flags: 0 },
            RecordBody::Aux { offset: 3000, size: 2000, flags: PERF_AUX_FLAG_PARTIAL },
        ]
    );
    let c = rb.consumer().aux().unwrap();
    let (start, bytes) = c.read();
    assert_eq!((start, bytes.len()), (0, 5000));
    assert_eq!(bytes, expected(0, 5000));
    // the watermark (half of 8 KiB) was crossed once
    assert_eq!(rb.stats().wakeups, 1);
}

#[test]
fn a_full_buffer_truncates_disables_and_wakes() {
    let mut rb = ring(AuxConfig { nr_pages: 1, ..Default::default() });
    let mut pmu = TracePmu::default();
    let r = pmu.run(&mut rb, &ev(), &ids(), 10_000, 0).unwrap();
    assert_eq!(r.written, 4095, "CIRC_SPACE leaves one byte");
    assert!(r.end.disable && r.end.wakeup && pmu.disabled);
    assert_eq!(records(&rb), vec![RecordBody::Aux { offset: 0, size: 4095, flags: PERF_AUX_FLAG_TRUNCATED }]);
    assert!(pmu.run(&mut rb, &ev(), &ids(), 10, 0).unwrap().was_disabled);
    // buffer still full after re-enable: begin fails, event disabled again
    pmu.enable();
    assert!(pmu.run(&mut rb, &ev(), &ids(), 10, 0).unwrap().no_handle);
    assert!(pmu.disabled);
    rb.consumer().aux().unwrap().read();
    pmu.enable();
    assert_eq!(pmu.run(&mut rb, &ev(), &ids(), 10, 0).unwrap().written, 10);
}

#[test]
fn snapshot_mode_keeps_the_newest_bytes_and_flags_overwrite() {
    let mut rb = ring(AuxConfig { nr_pages: 1, writable: false, ..Default::default() });
    let mut pmu = TracePmu::default();
    pmu.run(&mut rb, &ev(), &ids(), 10_000, 0).unwrap();
    pmu.run(&mut rb, &ev(), &ids(), 100, 0).unwrap();
    assert_eq!(
        records(&rb),
        vec![
            RecordBody::Aux { offset: 10_000, size: 4096, flags: PERF_AUX_FLAG_OVERWRITE },
            RecordBody::Aux { offset: 10_100, size: 100, flags: PERF_AUX_FLAG_OVERWRITE },
        ]
    );
    let c = rb.consumer().aux().unwrap();
    assert_eq!(c.aux_head(), 10_100);
    let (start, bytes) = c.read();
    assert_eq!(start, 10_100 - 4096);
    assert_eq!(bytes, expected(start, 4096));
    assert_eq!(rb.stats().wakeups, 0, "no watermark wakeups in overwrite mode");
}

#[test]
fn skip_and_driver_api() {
    let mut rb = ring(AuxConfig { nr_pages: 1, aux_watermark: 1024, ..Default::default() });
    let mut h = rb.aux_output_begin().unwrap();
    assert!(rb.aux_output_begin().is_none(), "AUX writers never nest");
    assert_eq!(rb.aux_output_skip(&mut h, 5000).unwrap_err().errno(), Some(perfcore::Errno::ENOSPC));
    rb.aux_output_skip(&mut h, 1024).unwrap();
    assert_eq!((h.head, h.size), (1024, 4095 - 1024));
    assert!(rb.aux_output_flag(&mut h, PERF_AUX_FLAG_OVERWRITE).is_err());
    rb.aux_write(&mut h, b"12345678").unwrap();
    let end = rb.aux_output_end(h, 8, &ev(), &ids()).unwrap();
    assert_eq!(end.offset, 1024);
    assert_eq!(rb.consumer().aux().unwrap().copy_stream(1024, 8), b"12345678");
    // size 0 and no flags: no record
    let h = rb.aux_output_begin().unwrap();
    assert!(!rb.aux_output_end(h, 0, &ev(), &ids()).unwrap().record_attempted);
}

/// The reviewer's prediction: with a non-power-of-two AUX size, `position % size` jumps when
/// the free-running counters wrap at 2^64, so bytes land on top of unread data; with a
/// power-of-two size the same traffic is intact.
#[test]
fn non_power_of_two_aux_corrupts_at_the_2_pow_64_wrap() {
    let start = u64::MAX - 5999; // 6000 bytes before the wrap
    for (pages, intact) in [(4u32, true), (3, false), (5, false), (8, true)] {
        let mut rb = ring(AuxConfig { nr_pages: pages, require_pow2: false, start, ..Default::default() });
        let mut pmu = TracePmu::default();
        // one active period across the wrap, then one after it (the driver recomputes its
        // buffer offset from aux_head at every aux_output_begin)
        assert_eq!(pmu.run(&mut rb, &ev(), &ids(), 6500, 0).unwrap().written, 6500, "{pages} pages");
        assert_eq!(pmu.run(&mut rb, &ev(), &ids(), 1500, 0).unwrap().written, 1500, "{pages} pages");
        let c = rb.consumer().aux().unwrap();
        let (s, bytes) = c.read();
        assert_eq!(s, start);
        let size = u64::from(pages) * 4096;
        // the offset of the head is continuous only if size divides 2^64
        let off_before = start % size;
        let off_after = start.wrapping_add(8000) % size;
        assert_eq!(off_after == (off_before + 8000) % size, intact, "{pages} pages");
        assert_eq!(bytes == expected(start, 8000), intact, "{pages} pages: data intact?");
    }
    // and the kernel's rule refuses such a mapping in the first place
    let mut rb = RingBuffer::new(RingConfig::default()).unwrap();
    assert_eq!(
        rb.map_aux(AuxConfig { nr_pages: 3, ..Default::default() }).unwrap_err().errno(),
        Some(perfcore::Errno::EINVAL)
    );
}

#[test]
fn user_page_publishes_aux_positions_and_layout() {
    let mut rb = ring(AuxConfig { nr_pages: 2, ..Default::default() });
    rb.set_aux_area(5 * 4096, 2 * 4096);
    TracePmu::default().run(&mut rb, &ev(), &ids(), 100, 0).unwrap();
    let up: std::collections::HashMap<_, _> = rb.consumer().user_page().into_iter().collect();
    assert_eq!(up["aux_head"], 100);
    assert_eq!(up["aux_offset"], 5 * 4096);
    assert_eq!(up["aux_size"], 8192);
    assert_eq!(up["data_size"], 4 * 4096);
    assert_eq!(up["lock"], 2);
    assert_eq!(up["size"], 96);
    let snap = rb.consumer().snapshot();
    assert_eq!(u64::from_le_bytes(snap[1056..1064].try_into().unwrap()), 100);
}
