//! perf.data throughput: append 10,000 48-byte samples through the encoder and finish the file
//! (header, attrs, features, fsync, rename), and read a 10,000-sample file back with every
//! record matched to its attr and decoded. A plain `std::fs::write` of the same bytes is the
//! floor, measured in the same run.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use perfcore::abi::attr::{AttrFlag, PerfEventAttr};
use perfcore::abi::sample::*;
use perfcore::output::SampleData;
use perfcore::perfdata::{FileAttr, PerfDataReader, PerfDataWriter, WriterOptions};
use std::hint::black_box;
use std::path::{Path, PathBuf};

const N: u64 = 10_000;

fn attr() -> FileAttr {
    let mut a = PerfEventAttr::new();
    a.type_ = 1;
    a.sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_PERIOD;
    a.set_flag(AttrFlag::SampleIdAll, true);
    FileAttr { attr: a, ids: vec![7], name: Some("bench".into()) }
}

fn write_file(path: &Path) {
    let mut w = PerfDataWriter::create(path, WriterOptions::default()).unwrap();
    w.add_attr(attr()).unwrap();
    for i in 0..N {
        let s = SampleData { id: 7, ip: 0x401000 + i, pid: 1, tid: 1, time: i, period: 1, ..Default::default() };
        w.append_sample(0, &s).unwrap();
    }
    w.finish().unwrap();
}

fn bench(c: &mut Criterion) {
    let dir: PathBuf = std::env::temp_dir().join(format!("perfcore-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bench.data");
    write_file(&path);
    let bytes = std::fs::read(&path).unwrap();
    let mut g = c.benchmark_group("perfdata_10k_48B_samples");
    g.throughput(Throughput::Elements(N));
    g.bench_function("write_and_finish", |b| b.iter(|| write_file(&path)));
    g.bench_function("fs_write_same_bytes", |b| b.iter(|| std::fs::write(dir.join("raw.data"), black_box(&bytes))));
    g.bench_function("read_and_decode", |b| {
        b.iter(|| {
            let r = PerfDataReader::open(&path).unwrap();
            let n = r.records().unwrap().map(|x| x.unwrap().decoded.size as u64).sum::<u64>();
            assert_eq!(n, 48 * N);
        })
    });
    g.finish();
    std::fs::remove_dir_all(&dir).unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
