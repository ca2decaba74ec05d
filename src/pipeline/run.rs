//! Running one dump through the data path: source → parallel compress+seal → reorder →
//! sink, on bounded channels and fixed pools, with per-stage statistics.
//!
//! # Threads and memory
//!
//! ```text
//! source ──frames──► worker 1..W ──sealed frames──► reorder ──in order──► sink
//!   │ (source pool)      │ (one output pool each)      │ (stream pool: AEAD header
//!   │                    │                             │  and final segment)
//! ```
//!
//! - The **source** fills buffers of `frame_bytes` from its input, numbering them.
//! - Each **worker** compresses a frame into a buffer of its own output pool (leaving
//!   room for the AEAD length prefix and tag) and seals it as segment `seq`. With neither
//!   compression nor encryption the input buffer is passed on untouched (no copy).
//! - The **reorder** step restores frame order, puts the AEAD stream header first and
//!   seals the final (empty, `last`) segment at the end.
//! - The **sink** (null, file, holding chunker, taper) consumes frames in order.
//!
//! With external programs ([`super::filter`]): a compression program wraps the source
//! (the workers then only seal, with codec `None`), an encryption program wraps the sink
//! (after the reorder step); each is reported as a stage of its own.
//!
//! A worker only ever waits for its *own* output buffers, which the downstream stages
//! release in order, so a slow sink stops the workers, then the source (its pool runs
//! dry), and nothing deadlocks. Every buffer comes from a pool sized by the [`Budget`];
//! nothing is allocated per frame.

use super::codec::{Codec, FrameCompressor};
use super::filter::{FilterProgram, FilterSink, FilterSource, FilterStats, Role};
use super::pool::{Budget, BufferPool, PoolBuf};
use crate::format::aead::{Key, SegmentCipher, StreamHeader, LENGTH_BYTES, SEGMENT_OVERHEAD_BYTES};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Input frames per frame buffer: 1 MiB gives zstd/gzip/lz4 their full ratio and keeps
/// the per-frame overhead (gzip member, zstd frame, AEAD tag) below 0.01 %.
pub const DEFAULT_FRAME_BYTES: usize = 1 << 20;

/// Time and bytes of one stage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageStats {
    pub name: String,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub busy: Duration,
    pub blocked_in: Duration,
    pub blocked_out: Duration,
}

impl StageStats {
    fn named(name: &str) -> StageStats {
        StageStats { name: name.into(), ..StageStats::default() }
    }

    fn add(&mut self, o: &StageStats) {
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.busy += o.busy;
        self.blocked_in += o.blocked_in;
        self.blocked_out += o.blocked_out;
    }
}

/// Where a dump's bytes come from.
pub trait Source: Send {
    /// Fills `buf` as far as it can; returns the bytes written, 0 at the end of input.
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<usize>;
}

/// Where a dump's processed bytes go, frame by frame, in order.
pub trait Sink: Send {
    /// Takes the next frame (its `bytes()` are the processed stream's next bytes).
    fn consume(&mut self, frame: PoolBuf) -> Result<(), String>;
    /// Ends the stream; the data must be durable when this returns.
    fn finish(&mut self) -> Result<(), String>;
    /// The stream stopped before its end (a stage upstream failed): the sink must not
    /// present what it has as a complete dump.
    fn abort(&mut self, _reason: &str) {}
    /// Statistics of the sink's own work (its name, bytes, busy and blocked time).
    fn stats(&self) -> StageStats;
}

/// A fully resolved description of one run: no policy is decided here.
pub struct PipelineSpec {
    pub codec: Codec,
    /// The built-in AEAD key, when encrypting.
    pub key: Option<Key>,
    pub workers: usize,
    pub frame_bytes: usize,
    /// Input frames that may wait for a worker.
    pub source_read_depth: usize,
    /// Output frames each worker may have downstream at once.
    pub frames_in_flight: usize,
    /// An external compression program run over the source (then `codec` is `None`).
    pub compress_program: Option<FilterProgram>,
    /// An external encryption program run before the sink (then `key` is `None`).
    pub encrypt_program: Option<FilterProgram>,
}

impl PipelineSpec {
    pub fn new(codec: Codec, key: Option<Key>, workers: usize) -> PipelineSpec {
        PipelineSpec {
            codec,
            key,
            workers: workers.max(1),
            frame_bytes: DEFAULT_FRAME_BYTES,
            source_read_depth: 2,
            frames_in_flight: 4,
            compress_program: None,
            encrypt_program: None,
        }
    }

    fn passthrough(&self) -> bool {
        self.codec == Codec::None && self.key.is_none()
    }

    /// Bytes of a worker output buffer: the worst compressed frame plus the segment framing.
    fn output_bytes(&self) -> usize {
        self.codec.max_output_bytes(self.frame_bytes) + SEGMENT_OVERHEAD_BYTES
    }

    /// The budget of this run (the sink's own buffers are its own terms, added by it).
    pub fn budget(&self, sink_terms: (usize, usize)) -> Budget {
        Budget {
            buffer_bytes: self.frame_bytes.max(self.output_bytes()),
            source_read_depth: self.source_read_depth + self.workers + 1,
            compress_workers: if self.passthrough() { 0 } else { self.workers },
            frames_in_flight: self.frames_in_flight,
            encrypt_depth: usize::from(self.key.is_some()),
            holding_writes_in_flight: sink_terms.0,
            taper_blocks: sink_terms.1,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub seconds: f64,
    pub stages: Vec<StageStats>,
}

enum Msg {
    Frame(PoolBuf),
    End(u64),
    /// A worker failed: the frame it held will never come, so the reorder step stops
    /// (dropping the frames it holds, which frees the other workers' buffers).
    Abort,
}

fn take(pool: &BufferPool, blocked: &mut Duration) -> PoolBuf {
    let (b, w) = pool.take();
    *blocked += w;
    b
}

/// Runs `source` through `spec` into `sink`.
pub fn run(spec: &PipelineSpec, source: Box<dyn Source>, sink: Box<dyn Sink>) -> Result<Report, String> {
    let started = Instant::now();
    let (mut source, mut sink, compress_filter, encrypt_filter) = with_filters(spec, source, sink)?;
    let budget = spec.budget((0, 0));
    let buffer_bytes = budget.buffer_bytes;
    let source_pool = BufferPool::new(&Budget {
        buffer_bytes,
        source_read_depth: budget.source_read_depth,
        compress_workers: 0,
        frames_in_flight: 0,
        encrypt_depth: 0,
        holding_writes_in_flight: 0,
        taper_blocks: 0,
    });
    let header = match &spec.key {
        Some(k) => Some(StreamHeader::new(k, spec.frame_bytes as u32).map_err(|e| e.to_string())?),
        None => None,
    };
    let cipher: Option<Arc<SegmentCipher>> = match (&spec.key, header) {
        (Some(k), Some(h)) => Some(Arc::new(SegmentCipher::new(k, h).map_err(|e| e.to_string())?)),
        _ => None,
    };

    let (work_tx, work_rx) = bounded::<Msg>(spec.source_read_depth);
    let (done_tx, done_rx) = bounded::<(u64, Msg)>(spec.workers * spec.frames_in_flight + 1);
    let (sink_tx, sink_rx) = bounded::<PoolBuf>(2);
    // Set by the reorder step once every frame (and the AEAD end) has gone to the sink.
    let complete = std::sync::atomic::AtomicBool::new(false);
    let complete = &complete;
    // Set by the sink when it failed: the source stops reading, so the stages between
    // run dry and end (the sink drops what still reaches it meanwhile).
    let sink_failed = std::sync::atomic::AtomicBool::new(false);
    let sink_failed = &sink_failed;

    std::thread::scope(|s| {
        // Source.
        let frame_bytes = spec.frame_bytes;
        let src_pool = source_pool.clone();
        let source_h = s.spawn(move || -> Result<StageStats, String> {
            let mut st = StageStats::named("source");
            let mut seq = 0u64;
            loop {
                if sink_failed.load(std::sync::atomic::Ordering::Acquire) {
                    return Err("the pipeline stopped".into());
                }
                let mut buf = take(&src_pool, &mut st.blocked_out);
                let t = Instant::now();
                let space = &mut buf.space()[..frame_bytes];
                let mut n = 0;
                while n < frame_bytes {
                    let k = source.fill(&mut space[n..]).map_err(|e| format!("reading the source: {e}"))?;
                    if k == 0 {
                        break;
                    }
                    n += k;
                }
                st.busy += t.elapsed();
                if n == 0 {
                    break;
                }
                buf.len = n;
                buf.seq = seq;
                seq += 1;
                st.bytes_in += n as u64;
                st.bytes_out += n as u64;
                let t = Instant::now();
                if work_tx.send(Msg::Frame(buf)).is_err() {
                    return Err("the pipeline stopped".into());
                }
                st.blocked_out += t.elapsed();
                if n < frame_bytes {
                    break;
                }
            }
            let _ = work_tx.send(Msg::End(seq));
            Ok(st)
        });

        // Workers.
        let mut worker_hs = Vec::new();
        for w in 0..spec.workers {
            let work_rx = work_rx.clone();
            let done_tx = done_tx.clone();
            let cipher = cipher.clone();
            let codec = spec.codec;
            let passthrough = spec.passthrough();
            let out_pool = BufferPool::new(&Budget {
                buffer_bytes,
                source_read_depth: spec.frames_in_flight - 1,
                compress_workers: 0,
                frames_in_flight: 0,
                encrypt_depth: 0,
                holding_writes_in_flight: 0,
                taper_blocks: 0,
            });
            worker_hs.push(s.spawn(move || -> Result<StageStats, String> {
                let result = (|| -> Result<StageStats, String> {
                    let mut st = StageStats::named(&format!("worker{w}"));
                    // Frames sealed by the AEAD need no checksum of their own.
                    let mut comp = FrameCompressor::with_checksums(codec, cipher.is_none())
                        .map_err(|e| e.to_string())?;
                    loop {
                        let t = Instant::now();
                        let msg = match work_rx.recv() {
                            Ok(m) => m,
                            Err(_) => break,
                        };
                        st.blocked_in += t.elapsed();
                        let input = match msg {
                            Msg::End(n) => {
                                let _ = done_tx.send((u64::MAX, Msg::End(n)));
                                continue;
                            }
                            Msg::Frame(f) => f,
                            // Only workers send it.
                            Msg::Abort => break,
                        };
                        st.bytes_in += input.len as u64;
                        let seq = input.seq;
                        let out = if passthrough {
                            input
                        } else {
                            let mut out = take(&out_pool, &mut st.blocked_out);
                            let t = Instant::now();
                            let off = if cipher.is_some() { LENGTH_BYTES } else { 0 };
                            let room = out.capacity() - SEGMENT_OVERHEAD_BYTES;
                            let n = comp
                                .compress(input.bytes(), &mut out.space()[off..off + room])
                                .map_err(|e| format!("frame {seq}: {e}"))?;
                            drop(input);
                            out.len = match &cipher {
                                Some(c) => c.seal_in_place(seq as u32, false, out.space(), n),
                                None => n,
                            };
                            out.seq = seq;
                            st.busy += t.elapsed();
                            out
                        };
                        st.bytes_out += out.len as u64;
                        let t = Instant::now();
                        if done_tx.send((seq, Msg::Frame(out))).is_err() {
                            return Err("the pipeline stopped".into());
                        }
                        st.blocked_out += t.elapsed();
                    }
                    Ok(st)
                })();
                if result.as_ref().is_err_and(|e| !is_consequence(e)) {
                    let _ = done_tx.send((u64::MAX, Msg::Abort));
                }
                result
            }));
        }
        drop(work_rx);
        drop(done_tx);

        // Reorder.
        let stream_pool = BufferPool::new(&Budget {
            buffer_bytes,
            source_read_depth: 1,
            compress_workers: 0,
            frames_in_flight: 0,
            encrypt_depth: 0,
            holding_writes_in_flight: 0,
            taper_blocks: 0,
        });
        let window = spec.workers * spec.frames_in_flight + spec.source_read_depth + 2;
        let cipher_r = cipher.clone();
        let reorder_h = s.spawn(move || -> Result<StageStats, String> {
            let mut st = StageStats::named("reorder");
            let mut pending: std::collections::VecDeque<Option<PoolBuf>> =
                (0..window).map(|_| None).collect();
            let mut next = 0u64;
            let mut total: Option<u64> = None;
            let send = |b: PoolBuf, st: &mut StageStats| -> Result<(), String> {
                st.bytes_out += b.len as u64;
                let t = Instant::now();
                sink_tx.send(b).map_err(|_| "the sink stopped".to_string())?;
                st.blocked_out += t.elapsed();
                Ok(())
            };
            if let (Some(h), Some(_)) = (header, &cipher_r) {
                let mut b = take(&stream_pool, &mut st.blocked_out);
                let bytes = h.encode();
                b.space()[..bytes.len()].copy_from_slice(&bytes);
                b.len = bytes.len();
                send(b, &mut st)?;
            }
            loop {
                if total == Some(next) {
                    break;
                }
                let t = Instant::now();
                let Ok((seq, msg)) = done_rx.recv() else { break };
                st.blocked_in += t.elapsed();
                match msg {
                    Msg::End(n) => total = Some(n),
                    Msg::Abort => return Err("the pipeline stopped".into()),
                    Msg::Frame(b) => {
                        st.bytes_in += b.len as u64;
                        let slot = (seq - next) as usize;
                        assert!(slot < window, "frame {seq} arrived beyond the reorder window");
                        pending[slot] = Some(b);
                    }
                }
                while let Some(Some(_)) = pending.front() {
                    let b = pending.pop_front().flatten().expect("checked");
                    pending.push_back(None);
                    next += 1;
                    send(b, &mut st)?;
                }
            }
            if total != Some(next) {
                return Err("the pipeline stopped".into());
            }
            if let Some(c) = &cipher_r {
                let mut b = take(&stream_pool, &mut st.blocked_out);
                b.len = c.seal_in_place(next as u32, true, b.space(), 0);
                send(b, &mut st)?;
            }
            complete.store(true, std::sync::atomic::Ordering::Release);
            Ok(st)
        });

        // Sink.
        let sink_h = s.spawn(move || -> Result<StageStats, String> {
            let mut blocked_in = Duration::ZERO;
            loop {
                let t = Instant::now();
                let Ok(b) = sink_rx.recv() else { break };
                blocked_in += t.elapsed();
                if let Err(e) = sink.consume(b) {
                    sink.abort(&e);
                    sink_failed.store(true, std::sync::atomic::Ordering::Release);
                    // Frames queued here hold workers' output buffers, and the reorder
                    // may be waiting for a frame of a worker that waits for one of them:
                    // drop them until the reorder ends, or nothing ends.
                    for frame in sink_rx.iter() {
                        drop(frame);
                    }
                    return Err(e);
                }
            }
            if !complete.load(std::sync::atomic::Ordering::Acquire) {
                sink.abort("the dump stopped before its end");
                return Err("the pipeline stopped".into());
            }
            sink.finish()?;
            let mut st = sink.stats();
            st.blocked_in += blocked_in;
            Ok(st)
        });

        let mut stages = Vec::new();
        let mut first_err: Option<String> = None;
        let mut workers = StageStats::named("compress");
        let mut results = vec![source_h.join()];
        results.extend(worker_hs.into_iter().map(|h| h.join()));
        results.push(reorder_h.join());
        results.push(sink_h.join());
        let n = results.len();
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(Ok(st)) if i > 0 && i < n - 2 => workers.add(&st),
                Ok(Ok(st)) => stages.push(st),
                // A stage that stopped because another failed reports the generic
                // message; keep the failure that caused it.
                Ok(Err(e)) => {
                    if first_err.as_deref().is_none_or(is_consequence) {
                        first_err = Some(e);
                    }
                }
                Err(_) => {
                    first_err.get_or_insert("a pipeline stage panicked".to_string());
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        stages.insert(1, workers);
        let mut bytes_in = stages[0].bytes_in;
        if let Some(f) = &compress_filter {
            let f = f.lock().unwrap_or_else(|p| p.into_inner()).clone();
            // The source stage read the program's output; the dump's input is what the
            // program was fed.
            bytes_in = f.bytes_in;
            stages.insert(1, f);
        }
        if let Some(f) = &encrypt_filter {
            let at = stages.len() - 1;
            stages.insert(at, f.lock().unwrap_or_else(|p| p.into_inner()).clone());
        }
        let bytes_out = stages.last().map(|s| s.bytes_in).unwrap_or(0);
        Ok(Report { bytes_in, bytes_out, seconds: started.elapsed().as_secs_f64(), stages })
    })
}

type Wrapped = (Box<dyn Source>, Box<dyn Sink>, Option<FilterStats>, Option<FilterStats>);

/// Starts the spec's external programs around `source` and `sink`. On failure the sink is
/// aborted (it may already have created files) and every started program is reaped.
fn with_filters(
    spec: &PipelineSpec,
    source: Box<dyn Source>,
    mut sink: Box<dyn Sink>,
) -> Result<Wrapped, String> {
    let conflict = if spec.compress_program.is_some() && spec.codec != Codec::None {
        Some("an external compression program and a built-in codec cannot both be set")
    } else if spec.encrypt_program.is_some() && spec.key.is_some() {
        Some("an external encryption program and the built-in AEAD cannot both be set")
    } else {
        None
    };
    if let Some(e) = conflict {
        sink.abort(e);
        return Err(e.into());
    }
    let (source, compress_stats): (Box<dyn Source>, _) = match &spec.compress_program {
        Some(p) => match FilterSource::spawn(p, Role::Compression, source) {
            Ok((s, st)) => (Box::new(s), Some(st)),
            Err(e) => {
                sink.abort(&e);
                return Err(e);
            }
        },
        None => (source, None),
    };
    // On failure this drops `source`, which kills the compression program.
    let (sink, encrypt_stats): (Box<dyn Sink>, _) = match &spec.encrypt_program {
        Some(p) => {
            let (s, st) = FilterSink::spawn(p, Role::Encryption, sink, spec.frame_bytes)?;
            (Box::new(s), Some(st))
        }
        None => (sink, None),
    };
    Ok((source, sink, compress_stats, encrypt_stats))
}

/// Copies the head of `data` into `dst[*filled..limit]` and advances both; returns true
/// when `dst` holds `limit` bytes. The taper cuts frames of any size into device blocks
/// with it (its staging block for a block that straddles two frames, and its streaming
/// pre-buffer); file writers re-block in `device::file_writer`.
pub fn gather(
    dst: &mut [u8],
    filled: &mut usize,
    limit: usize,
    data: &mut &[u8],
    copied_bytes: &mut u64,
) -> bool {
    let n = (limit - *filled).min(data.len());
    dst[*filled..*filled + n].copy_from_slice(&data[..n]);
    *filled += n;
    *copied_bytes += n as u64;
    *data = &data[n..];
    *filled == limit
}

fn is_consequence(e: &str) -> bool {
    e == "the pipeline stopped" || e == "the sink stopped"
}

/// A sink that counts and drops (`null:`), or collects into memory for tests.
pub struct MemorySink {
    pub data: Option<Vec<u8>>,
    stats: StageStats,
}

impl MemorySink {
    /// Keeps the bytes when `keep`, else only counts them.
    pub fn new(keep: bool) -> MemorySink {
        MemorySink { data: keep.then(Vec::new), stats: StageStats::named("sink") }
    }
}

impl Sink for MemorySink {
    fn consume(&mut self, frame: PoolBuf) -> Result<(), String> {
        self.stats.bytes_in += frame.len as u64;
        if let Some(d) = &mut self.data {
            d.extend_from_slice(frame.bytes());
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn stats(&self) -> StageStats {
        self.stats.clone()
    }
}

/// A sink that hands the collected bytes back through a channel when finished (tests).
pub struct CollectSink {
    inner: MemorySink,
    tx: Option<Sender<Vec<u8>>>,
}

impl CollectSink {
    pub fn new() -> (CollectSink, Receiver<Vec<u8>>) {
        let (tx, rx) = bounded(1);
        (CollectSink { inner: MemorySink::new(true), tx: Some(tx) }, rx)
    }
}

impl Sink for CollectSink {
    fn consume(&mut self, frame: PoolBuf) -> Result<(), String> {
        self.inner.consume(frame)
    }
    fn finish(&mut self) -> Result<(), String> {
        if let (Some(tx), Some(d)) = (self.tx.take(), self.inner.data.take()) {
            let _ = tx.send(d);
        }
        Ok(())
    }
    fn stats(&self) -> StageStats {
        self.inner.stats()
    }
}

/// A source over any reader (a file, a socket, standard input).
pub struct ReadSource<R: std::io::Read + Send>(pub R);

impl<R: std::io::Read + Send> Source for ReadSource<R> {
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::aead::Decryptor;

    fn data(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| if (i / 7000) % 2 == 0 { b"abcdefgh"[i % 8] } else { ((i * 2_654_435_761) >> 13) as u8 })
            .collect()
    }

    fn through(spec: &PipelineSpec, input: &[u8]) -> (Vec<u8>, Report) {
        let (sink, rx) = CollectSink::new();
        let report =
            run(spec, Box::new(ReadSource(std::io::Cursor::new(input.to_vec()))), Box::new(sink)).unwrap();
        (rx.recv().unwrap(), report)
    }

    fn small_frames(mut spec: PipelineSpec) -> PipelineSpec {
        spec.frame_bytes = 64 * 1024;
        spec
    }

    #[test]
    fn passthrough_keeps_bytes_and_order() {
        let input = data(1_000_003);
        let (out, report) = through(&small_frames(PipelineSpec::new(Codec::None, None, 3)), &input);
        assert!(out == input);
        assert_eq!((report.bytes_in, report.bytes_out), (1_000_003, 1_000_003));
        assert_eq!(report.stages.len(), 4);
    }

    #[test]
    fn zstd_with_aead_decrypts_and_decompresses() {
        let input = data(2_000_000);
        let key = Key::from_bytes([42; 32]);
        let spec = small_frames(PipelineSpec::new(Codec::Zstd { level: 1 }, Some(key.clone()), 2));
        let (out, _) = through(&spec, &input);
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut Decryptor::new(&key, &out[..]).unwrap(), &mut plain).unwrap();
        let back = zstd::stream::decode_all(&plain[..]).unwrap();
        assert!(back == input);
    }

    #[test]
    fn empty_input_still_makes_a_valid_stream() {
        let key = Key::from_bytes([1; 32]);
        let (out, _) = through(&PipelineSpec::new(Codec::Gzip { level: 1 }, Some(key.clone()), 2), b"");
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut Decryptor::new(&key, &out[..]).unwrap(), &mut plain).unwrap();
        assert!(plain.is_empty());
    }

    /// A sink failing while frames wait for it must stop every stage (the frames it will
    /// never take hold workers' buffers); a hang here is caught by the watchdog.
    #[test]
    fn a_failing_sink_stops_the_pipeline() {
        struct FailAfter(usize);
        impl Sink for FailAfter {
            fn consume(&mut self, _: PoolBuf) -> Result<(), String> {
                if self.0 == 0 {
                    return Err("sink full".into());
                }
                self.0 -= 1;
                std::thread::sleep(Duration::from_millis(1));
                Ok(())
            }
            fn finish(&mut self) -> Result<(), String> {
                Ok(())
            }
            fn stats(&self) -> StageStats {
                StageStats::default()
            }
        }
        let input = data(3_000_000);
        for round in 0..40 {
            let (tx, rx) = bounded(1);
            let input = input.clone();
            std::thread::spawn(move || {
                let spec = small_frames(PipelineSpec::new(Codec::Lz4, None, 2));
                let r = run(
                    &spec,
                    Box::new(ReadSource(std::io::Cursor::new(input))),
                    Box::new(FailAfter(round % 4)),
                );
                let _ = tx.send(r.map(|_| ()));
            });
            let r =
                rx.recv_timeout(Duration::from_secs(20)).expect("the pipeline hung after its sink failed");
            assert_eq!(r.unwrap_err(), "sink full", "round {round}");
        }
    }

    #[test]
    fn slow_sink_keeps_memory_bounded() {
        struct Slow(StageStats);
        impl Sink for Slow {
            fn consume(&mut self, f: PoolBuf) -> Result<(), String> {
                self.0.bytes_in += f.len as u64;
                std::thread::sleep(Duration::from_millis(2));
                Ok(())
            }
            fn finish(&mut self) -> Result<(), String> {
                Ok(())
            }
            fn stats(&self) -> StageStats {
                self.0.clone()
            }
        }
        let spec = small_frames(PipelineSpec::new(Codec::Lz4, None, 2));
        let r = run(
            &spec,
            Box::new(ReadSource(std::io::Cursor::new(data(3_000_000)))),
            Box::new(Slow(StageStats::default())),
        )
        .unwrap();
        assert_eq!(r.bytes_in, 3_000_000);
        // The source spent time waiting for buffers: backpressure reached it.
        assert!(r.stages[0].blocked_out > Duration::ZERO);
    }
}
