//! Model check of the data ring's head/tail protocol (spec/ring-buffer-aux-records.md §2.1):
//! a producer thread writes samples into a 32-byte ring while the consumer reads concurrently;
//! under every interleaving loom explores, every record the consumer sees is whole and in order,
//! and every produced record is either read or counted in a PERF_RECORD_LOST.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom cargo test --release --test loom_ring`
#![cfg(loom)]

use loom::thread;
use perfcore::abi::sample::PERF_SAMPLE_IP;
use perfcore::output::{decode_record, OutputEvent, OutputFormat, RecordBody, RingBuffer, RingConfig, SampleData};

const N: u64 = 3;

fn collect(recs: Vec<Vec<u8>>, fmt: &OutputFormat, ips: &mut Vec<u64>, lost: &mut u64) {
    for r in recs {
        let d = decode_record(&r, fmt).expect("the consumer saw a torn or foreign record");
        match d.record.expect("known type").body {
            RecordBody::Sample(s) => ips.push(s.ip),
            RecordBody::Lost { lost: n, .. } => *lost += n,
            other => panic!("unexpected record {other:?}"),
        }
    }
}

#[test]
fn producer_and_consumer_agree_on_a_tiny_ring() {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(|| {
        // one 32-byte data page: at most one 16-byte IP sample fits (CIRC_SPACE leaves a byte)
        let rb = RingBuffer::new(RingConfig { data_pages: 1, page_size: 32, ..Default::default() }).unwrap();
        let fmt = OutputFormat::simple(PERF_SAMPLE_IP).unwrap();
        let ev = OutputEvent { id: 7, format: fmt };
        let consumer = rb.consumer();
        let producer = thread::spawn(move || {
            let mut rb = rb;
            for i in 0..N {
                rb.write_sample(&ev, &SampleData { ip: 0x1000 + i, ..Default::default() }).unwrap();
            }
            rb
        });
        let (mut ips, mut lost) = (Vec::new(), 0u64);
        for _ in 0..2 {
            collect(consumer.read_records().unwrap(), &fmt, &mut ips, &mut lost);
        }
        let rb = producer.join().unwrap();
        collect(consumer.read_records().unwrap(), &fmt, &mut ips, &mut lost);
        assert!(ips.windows(2).all(|w| w[0] < w[1]), "records out of order: {ips:x?}");
        assert!(ips.iter().all(|ip| (0x1000..0x1000 + N).contains(ip)), "corrupt ip in {ips:x?}");
        let stats = rb.stats();
        assert_eq!(ips.len() as u64, stats.records, "every written record is read once");
        assert_eq!(stats.records + lost + rb.pending_lost(), N, "read + lost must equal produced");
    });
}
