//! 64-byte PERF_RECORD_SAMPLE into a 1 MiB ring (256 data pages), consumer keeping up and
//! overwrite mode, against a plain memcpy of the same bytes into a 1 MiB buffer in the same
//! run. Anchors: spec/anchors-performance-reliability.md §1.6 (kernel ~130 ns per sample),
//! §2.4 (memcpy floor ~6 ns per small record).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use perfcore::abi::sample::*;
use perfcore::output::{OutputEvent, OutputFormat, RingBuffer, RingConfig, SampleData};
use std::hint::black_box;

const BATCH: u64 = 1024;

fn sample_event() -> (OutputEvent, SampleData) {
    // IP|TID|TIME|ADDR|ID|CPU|PERIOD: 8-byte header + 7 words = 64 bytes
    let st = PERF_SAMPLE_IP
        | PERF_SAMPLE_TID
        | PERF_SAMPLE_TIME
        | PERF_SAMPLE_ADDR
        | PERF_SAMPLE_ID
        | PERF_SAMPLE_CPU
        | PERF_SAMPLE_PERIOD;
    let ev = OutputEvent { id: 1, format: OutputFormat::simple(st).unwrap() };
    let s = SampleData {
        ip: 0x401000,
        pid: 10,
        tid: 11,
        time: 1,
        addr: 0x7fff_0000,
        id: 1,
        cpu: 0,
        period: 1,
        ..Default::default()
    };
    assert_eq!(ev.format.sample_size(&s).unwrap(), 64);
    (ev, s)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ringbuf_64B_sample_1MiB");
    g.throughput(Throughput::Bytes(64 * BATCH));
    let (ev, mut s) = sample_event();

    let mut rb = RingBuffer::new(RingConfig { data_pages: 256, ..Default::default() }).unwrap();
    let cons = rb.consumer();
    g.bench_function("write_sample/consumer_keeps_up", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                s.time += 1;
                black_box(rb.write_sample(&ev, black_box(&s)).unwrap());
            }
            cons.set_data_tail(cons.data_head());
        })
    });
    assert_eq!(rb.pending_lost(), 0);

    let mut ow = RingBuffer::new(RingConfig { data_pages: 256, writable: false, ..Default::default() }).unwrap();
    g.bench_function("write_sample/overwrite", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                s.time += 1;
                black_box(ow.write_sample(&ev, black_box(&s)).unwrap());
            }
        })
    });

    let rec = ev.format.sample_bytes(&s).unwrap();
    let mut dst = vec![0u8; 1 << 20];
    let mut off = 0usize;
    g.bench_function("memcpy_64B_into_1MiB", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                dst[off..off + 64].copy_from_slice(black_box(&rec));
                off = (off + 64) & ((1 << 20) - 1);
            }
            black_box(&dst);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
