//! Taping a dump while it is still being written to the holding disk: the chunker
//! publishes how much of each chunk is on disk ([`HoldingProgress`]) and a follower reads
//! behind it and feeds the taper ([`flush_following`]).
//!
//! # Why
//!
//! Amanda dumps to the holding disk and flushes to the volume afterwards, overlapping the
//! flush of one dump with the dumps of the next DLEs. For one large dump that is two
//! passes end to end; following the chunker makes them one: the taper starts as soon as
//! the first data is on disk and finishes right after the dump does. The holding disk
//! keeps its role: the follower reads the chunks *from disk*, never the pipeline's frames,
//! so a slow or stopped volume never holds the dump back (the chunker does not wait for
//! the follower), and a dump whose taping fails is complete on the holding disk for a
//! later flush (`amflush`), exactly as if the flush had failed.
//!
//! # Rules
//!
//! * The chunker publishes, per chunk, its `.tmp` path, its final path and the data
//!   bytes whose writes have *completed* (never bytes still queued); a chunk is
//!   `closed` once finished (durable). At the end it publishes whether the dump is
//!   complete (chunks renamed, headers final) or failed.
//! * The follower opens chunk N by its `.tmp` name, or by its final name when the dump
//!   completed before the follower got there (a descriptor opened earlier survives the
//!   rename). It reads only published bytes, skipping each chunk's 32 KiB header, with
//!   O_DIRECT for aligned ranges (the chunker wrote them with O_DIRECT, so the page cache
//!   has nothing to offer) and plain reads for the rest.
//! * The taper finishes the dump only when the chunker reports it complete; a failed
//!   dump aborts the taper (nothing on the volume is presented as complete).
//! * A part interrupted by the end of a volume is written again from the taper's own part
//!   cache (`part_cache_type`), not from the holding file, whose chain is only final once
//!   the dump is. Without a part cache such a dump stays on the holding disk for a flush.
//! * Memory: [`FOLLOW_READ_DEPTH`] + 2 buffers of [`FOLLOW_READ_BYTES`].

use super::pool::{Budget, BufferPool};
use super::taper::{feed_taper, FlushError, FlushOutcome, NextVolume, TaperSettings, TaperSink};
use crate::device::Device;
use crate::format::header::{DumpFile, DISK_BLOCK_BYTES};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

/// Bytes per read from a holding chunk.
pub const FOLLOW_READ_BYTES: usize = 1 << 20;

/// Frames between the follower and the taper.
pub const FOLLOW_READ_DEPTH: usize = 2;

/// O_DIRECT alignment of offsets and lengths used here.
const DIRECT_ALIGN_BYTES: u64 = 4096;

/// One chunk as the chunker publishes it.
#[derive(Clone, Debug)]
struct ChunkProgress {
    tmp: PathBuf,
    path: PathBuf,
    data_bytes: u64,
    closed: bool,
}

#[derive(Debug, Default)]
struct State {
    chunks: Vec<ChunkProgress>,
    /// `Some(true)`: the dump is complete; `Some(false)`: it failed.
    end: Option<bool>,
}

/// How far the chunker has written (see the module rules). Shared between the chunker
/// and one follower.
#[derive(Debug, Default)]
pub struct HoldingProgress {
    state: Mutex<State>,
    changed: Condvar,
}

impl HoldingProgress {
    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
        self.changed.notify_all();
    }

    /// A new chunk (header written, no data yet).
    pub(crate) fn chunk_opened(&self, tmp: PathBuf, path: PathBuf) {
        self.update(|s| s.chunks.push(ChunkProgress { tmp, path, data_bytes: 0, closed: false }));
    }

    /// The last chunk has `data_bytes` of data on disk; `closed` once it is finished.
    pub(crate) fn chunk_written(&self, data_bytes: u64, closed: bool) {
        self.update(|s| {
            if let Some(c) = s.chunks.last_mut() {
                c.data_bytes = c.data_bytes.max(data_bytes);
                c.closed |= closed;
            }
        });
    }

    /// The dump ended: complete, or failed.
    pub(crate) fn ended(&self, complete: bool) {
        self.update(|s| {
            s.end.get_or_insert(complete);
        });
    }

    /// Waits until chunk `index` has more than `offset` data bytes, is closed, or the dump
    /// ended; returns (the chunk, the end state).
    fn wait(&self, index: usize, offset: u64) -> (Option<ChunkProgress>, Option<bool>) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let chunk = s.chunks.get(index);
            let ready = match chunk {
                Some(c) => c.data_bytes > offset || c.closed,
                None => false,
            };
            if ready || s.end.is_some() {
                return (chunk.cloned(), s.end);
            }
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// One chunk open for reading: an O_DIRECT descriptor where the filesystem allows one,
/// and a plain one.
struct ChunkFile {
    direct: Option<File>,
    plain: File,
    path: PathBuf,
}

impl ChunkFile {
    fn open(c: &ChunkProgress) -> Result<ChunkFile, String> {
        let (plain, path) = match File::open(&c.tmp) {
            Ok(f) => (f, c.tmp.clone()),
            Err(_) => match File::open(&c.path) {
                Ok(f) => (f, c.path.clone()),
                Err(e) => return Err(format!("{}: {e}", c.path.display())),
            },
        };
        let direct = OpenOptions::new().read(true).custom_flags(nix::libc::O_DIRECT).open(&path).ok();
        Ok(ChunkFile { direct, plain, path })
    }

    /// Reads `buf.len()` data bytes at data offset `offset`.
    fn read(&mut self, buf: &mut [u8], offset: u64) -> Result<(), String> {
        let at = DISK_BLOCK_BYTES as u64 + offset;
        let aligned = at % DIRECT_ALIGN_BYTES == 0
            && buf.len() as u64 % DIRECT_ALIGN_BYTES == 0
            && buf.as_ptr() as u64 % DIRECT_ALIGN_BYTES == 0;
        if let (Some(d), true) = (&self.direct, aligned) {
            match d.read_exact_at(buf, at) {
                Ok(()) => return Ok(()),
                // A filesystem that opened O_DIRECT but refuses the read: go on plainly.
                Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => self.direct = None,
                Err(e) => return Err(format!("{}: reading at offset {at}: {e}", self.path.display())),
            }
        }
        self.plain
            .read_exact_at(buf, at)
            .map_err(|e| format!("{}: reading at offset {at}: {e}", self.path.display()))
    }
}

/// Tapes the dump the chunker is writing while it writes it (see the module rules):
/// `header` is the dump's FILE header (the chunker's spec header), `progress` the chunker's
/// ([`super::chunker::ChunkerSink::follow`]). Returns when the dump has ended and the
/// taper with it. The holding dump is not deleted: the caller records the parts, then
/// calls [`super::taper::delete_holding_dump`].
pub fn flush_following(
    progress: Arc<HoldingProgress>,
    header: &DumpFile,
    settings: &TaperSettings,
    device: Option<Box<dyn Device>>,
    next_volume: NextVolume,
) -> Result<FlushOutcome, Box<FlushError>> {
    let (sink, handle) = TaperSink::new(header, settings.clone(), device, next_volume)
        .map_err(|error| Box::new(FlushError { error, outcome: None }))?;
    // Reads waiting in the channel, one with the taper, one being read.
    let pool = BufferPool::new(&Budget {
        buffer_bytes: FOLLOW_READ_BYTES,
        source_read_depth: FOLLOW_READ_DEPTH + 2,
        compress_workers: 0,
        frames_in_flight: 0,
        encrypt_depth: 0,
        holding_writes_in_flight: 0,
        taper_blocks: 0,
    });
    feed_taper(sink, handle, header.clone(), FOLLOW_READ_DEPTH, move |tx| {
        let mut chunks = Vec::new();
        for index in 0.. {
            let (first, end) = progress.wait(index, 0);
            let Some(first) = first else {
                // No such chunk: the dump ended before it.
                return match end {
                    Some(true) => Ok(chunks),
                    _ => Err("the dump to the holding disk failed".into()),
                };
            };
            let mut file = ChunkFile::open(&first)?;
            chunks.push(first.path.clone());
            let mut offset = 0u64;
            loop {
                let (Some(c), end) = progress.wait(index, offset) else { unreachable!("seen above") };
                if end == Some(false) {
                    return Err("the dump to the holding disk failed".into());
                }
                if offset == c.data_bytes {
                    if c.closed || end == Some(true) {
                        break;
                    }
                    continue;
                }
                let n = (c.data_bytes - offset).min(FOLLOW_READ_BYTES as u64) as usize;
                let mut buf = pool.take().0;
                file.read(&mut buf.space()[..n], offset)?;
                buf.len = n;
                offset += n as u64;
                if tx.send((buf, 0)).is_err() {
                    // The taper failed; its error is the one reported.
                    return Ok(chunks);
                }
            }
        }
        unreachable!("the loop over chunk indexes only ends by returning")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::test_support::{pattern, TempDir};
    use crate::device::{open_device, AccessMode, DeviceProperties};
    use crate::format::header::FileType;
    use crate::holding::HoldingReader;
    use crate::pipeline::chunker::{ChunkerSink, ChunkerSpec};
    use crate::pipeline::codec::Codec;
    use crate::pipeline::run::{run, PipelineSpec, ReadSource};
    use crate::pipeline::taper::delete_holding_dump;
    use std::io::Read;

    const DS: &str = "20261122010203";

    fn vtape(dir: &std::path::Path) -> Box<dyn Device> {
        let mut d = open_device(&format!("file:{}", dir.display()), &DeviceProperties::new()).unwrap();
        d.start(AccessMode::Write { label: "FOLLOW-01".into(), datestamp: DS.into() }).unwrap();
        d
    }

    /// Every dump file of a vtape, concatenated, with the number of files.
    fn volume_data(dir: &std::path::Path) -> (Vec<u8>, usize) {
        let mut d = open_device(&format!("file:{}", dir.display()), &DeviceProperties::new()).unwrap();
        d.start(AccessMode::Read).unwrap();
        let mut buf = vec![0u8; d.read_buffer_bytes()];
        let mut data = Vec::new();
        for n in 1.. {
            if d.seek_file(n).unwrap().header.file_type == FileType::TapeEnd {
                return (data, n as usize - 1);
            }
            loop {
                let k = d.read_block(&mut buf).unwrap();
                if k == 0 {
                    break;
                }
                data.extend_from_slice(&buf[..k]);
            }
        }
        unreachable!()
    }

    fn dump_and_follow(
        input: &[u8],
        fail_source_at: Option<usize>,
    ) -> (TempDir, Result<FlushOutcome, String>) {
        let dir = TempDir::new("follow");
        let (hold, vt) = (dir.path().join("hold"), dir.path().join("vt"));
        std::fs::create_dir_all(&vt).unwrap();
        let header = DumpFile::new_file(DS, "client", "/data", 0, "GNUTAR");
        // Small chunks: the follower crosses several chunk boundaries.
        let spec = ChunkerSpec::new(&hold, DS, header.clone(), 3 << 19);
        let (mut sink, _handle) = ChunkerSink::new(spec).unwrap();
        let progress = sink.follow();
        let device = vtape(&vt);
        let mut settings = TaperSettings::new(1);
        settings.part_size_bytes = 1 << 20;
        let follower = std::thread::spawn(move || {
            flush_following(progress, &header, &settings, Some(device), Box::new(|| Err("one volume".into())))
                .map_err(|e| e.error.to_string())
        });
        struct Failing(std::io::Cursor<Vec<u8>>, Option<usize>);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.1.is_some_and(|at| self.0.position() as usize >= at) {
                    return Err(std::io::Error::other("client went away"));
                }
                self.0.read(buf)
            }
        }
        let mut pspec = PipelineSpec::new(Codec::None, None, 2);
        pspec.frame_bytes = 256 * 1024;
        let source = Failing(std::io::Cursor::new(input.to_vec()), fail_source_at);
        let dumped = run(&pspec, Box::new(ReadSource(source)), Box::new(sink));
        assert_eq!(dumped.is_ok(), fail_source_at.is_none(), "{dumped:?}");
        (dir, follower.join().unwrap())
    }

    #[test]
    fn the_taper_follows_the_holding_disk_across_chunks_and_parts() {
        let input = pattern(5_300_000, 11);
        let (dir, out) = dump_and_follow(&input, None);
        let out = out.unwrap();
        assert!(out.taper.complete && out.taper.parts.len() == 6, "{:?}", out.taper.parts);
        let (data, files) = volume_data(&dir.path().join("vt"));
        assert_eq!(files, 6);
        assert!(data == input);
        // The holding copy is complete and intact too, until it is deleted.
        let mut back = Vec::new();
        HoldingReader::open(&out.chunks[0]).unwrap().read_to_end(&mut back).unwrap();
        assert!(back == input);
        assert_eq!(delete_holding_dump(&out.chunks[0]).unwrap().len(), out.chunks.len());
    }

    #[test]
    fn a_dump_that_fails_is_not_completed_on_the_volume() {
        let input = pattern(4_000_000, 12);
        let (_dir, out) = dump_and_follow(&input, Some(2_500_000));
        let e = out.unwrap_err();
        assert!(e.contains("the dump to the holding disk failed"), "{e}");
    }
}
