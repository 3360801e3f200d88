//! The machine's overflow path: `Machine::perf_event_overflow()` writing a 64-byte
//! PERF_RECORD_SAMPLE into the event's 1 MiB ring (event_limit check, `event->rb` lookup,
//! cached record layout, lost accounting), directly and through SET_OUTPUT redirection, against
//! `RingBuffer::write_sample` of the same record into a bare ring in the same run. Anchor:
//! spec/anchors-performance-reliability.md §1.6 (kernel ~130 ns per sample record).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use perfcore::abi::attr::PerfEventAttr;
use perfcore::abi::ioctl::PERF_EVENT_IOC_SET_OUTPUT;
use perfcore::abi::sample::*;
use perfcore::abi::types::PERF_TYPE_SOFTWARE;
use perfcore::events::ioctl::IoctlArg;
use perfcore::events::EventId;
use perfcore::output::mmap_rules::MmapRequest;
use perfcore::output::{OutputEvent, OutputFormat, RingBuffer, RingConfig, SampleData};
use perfcore::{Machine, MachineConfig};
use std::hint::black_box;

const BATCH: u64 = 1024;
// IP|TID|TIME|ADDR|ID|CPU|PERIOD: 8-byte header + 7 words = 64 bytes
const ST: u64 = PERF_SAMPLE_IP
    | PERF_SAMPLE_TID
    | PERF_SAMPLE_TIME
    | PERF_SAMPLE_ADDR
    | PERF_SAMPLE_ID
    | PERF_SAMPLE_CPU
    | PERF_SAMPLE_PERIOD;

fn sample() -> SampleData {
    SampleData { ip: 0x401000, pid: 10, tid: 11, time: 1, addr: 0x7fff_0000, id: 1, period: 1, ..Default::default() }
}

fn open(m: &mut Machine) -> EventId {
    let mut a = PerfEventAttr::new();
    a.type_ = PERF_TYPE_SOFTWARE;
    a.config = 0; // cpu-clock
    a.sample_period = 100_000;
    a.sample_type = ST;
    m.perf_event_open(&mut a.to_bytes(136), 0, -1, None, 0).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("overflow_64B_sample_1MiB");
    g.throughput(Throughput::Bytes(64 * BATCH));
    let mut s = sample();

    let mut m = Machine::new(MachineConfig::default()).unwrap();
    let owner = open(&mut m);
    let redirected = open(&mut m);
    m.perf_mmap(owner, MmapRequest { len: 257 * 4096, pgoff: 0, shared: true, prot_write: true }, None).unwrap();
    m.perf_ioctl(redirected, PERF_EVENT_IOC_SET_OUTPUT, &IoctlArg::Event(owner)).unwrap();
    let cons = m.ring_buffer(owner).unwrap().consumer();
    for (name, ev) in [("machine_overflow/own_ring", owner), ("machine_overflow/set_output", redirected)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    s.time += 1;
                    black_box(m.perf_event_overflow(ev, black_box(&s)).unwrap());
                }
                cons.set_data_tail(cons.data_head());
            })
        });
    }
    assert_eq!(m.lost_samples(owner).unwrap() + m.lost_samples(redirected).unwrap(), 0);

    let ev = OutputEvent { id: 1, format: OutputFormat::simple(ST).unwrap() };
    let mut rb = RingBuffer::new(RingConfig { data_pages: 256, ..Default::default() }).unwrap();
    let cons = rb.consumer();
    g.bench_function("bare_ring_write_sample", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                s.time += 1;
                black_box(rb.write_sample(&ev, black_box(&s)).unwrap());
            }
            cons.set_data_tail(cons.data_head());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
