//! Criterion benches: each data-path stage alone (per core) and the whole pipeline.
//!
//! `cargo bench --bench pipeline`. Figures are bytes of input per second.

use amrs::format::aead::{Key, SegmentCipher, StreamHeader, SEGMENT_OVERHEAD_BYTES};
use amrs::format::crc::Crc32c;
use amrs::pipeline::codec::{Codec, FrameCompressor};
use amrs::pipeline::run::Source;
use amrs::pipeline::run::{run, MemorySink, PipelineSpec};
use amrs::pipeline::synthetic::Synthetic;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const FRAME: usize = 1 << 20;

fn frame() -> Vec<u8> {
    let mut s = Synthetic::new(FRAME as u64, 3);
    let mut v = vec![0u8; FRAME];
    let mut n = 0;
    while n < FRAME {
        n += s.fill(&mut v[n..]).unwrap();
    }
    v
}

fn stages(c: &mut Criterion) {
    let input = frame();
    let mut g = c.benchmark_group("stage");
    g.throughput(Throughput::Bytes(FRAME as u64));
    g.sample_size(20);
    for codec in [Codec::Zstd { level: 1 }, Codec::Lz4, Codec::Gzip { level: 1 }] {
        let mut comp = FrameCompressor::new(codec).unwrap();
        let mut out = vec![0u8; codec.max_output_bytes(FRAME)];
        g.bench_with_input(BenchmarkId::new("compress", format!("{codec:?}")), &input, |b, i| {
            b.iter(|| comp.compress(i, &mut out).unwrap())
        });
    }
    let key = Key::from_bytes([7; 32]);
    let cipher = SegmentCipher::new(&key, StreamHeader::new(&key, FRAME as u32).unwrap()).unwrap();
    let mut buf = vec![0u8; FRAME + SEGMENT_OVERHEAD_BYTES];
    g.bench_function("seal aes-256-gcm", |b| b.iter(|| cipher.seal_in_place(0, false, &mut buf, FRAME)));
    g.bench_function("crc32c", |b| b.iter(|| Crc32c::new().update(&input).finish()));
    g.finish();
}

fn whole(c: &mut Criterion) {
    const BYTES: u64 = 64 << 20;
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Bytes(BYTES));
    g.sample_size(10);
    for codec in [Codec::None, Codec::Zstd { level: 1 }] {
        g.bench_function(format!("{codec:?} + aes-256-gcm, null sink"), |b| {
            b.iter(|| {
                let spec = PipelineSpec::new(codec, Some(Key::from_bytes([9; 32])), 2);
                run(&spec, Box::new(Synthetic::new(BYTES, 1)), Box::new(MemorySink::new(false))).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, stages, whole);
criterion_main!(benches);
