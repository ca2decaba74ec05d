//! The taper: a [`Sink`] that writes one dump to volumes as Amanda 3.5's taper does —
//! split into parts, one device file per part, continued across volumes — and the flush of
//! a holding-disk dump through it (Amanda's `amflush`, the driver's `FILE-WRITE`).
//!
//! # On-volume rules (Amanda 3.5 `device-src/xfer-dest-taper-splitter.c`,
//! `perl/Amanda/Taper/Scribe.pm`, `Worker.pm`)
//!
//! * Every part is one device file: `start_file` with the dump's header turned into a
//!   `SPLIT_FILE` with `part N/-1` (the taper never knows the total; Amanda writes `-1`
//!   even for a single part) and no `CONT_FILENAME`; then data blocks of exactly the
//!   device block size, the last block of the dump possibly short; then `finish_file`.
//!   Parts are numbered from 1 in stream order; a part retried on another volume keeps its
//!   number.
//! * `part_size_bytes` is rounded up to a whole number of blocks (as Amanda does), so parts
//!   end on block boundaries; 0 means no size limit: a part ends only at the end of the
//!   dump or of the volume.
//! * End of volume, early warning (LEOM, [`WriteStatus::EarlyWarning`]): the block was
//!   written; the part ends there, successfully, and the next part starts on the next
//!   volume. A volume already in its early-warning zone is not used for a new part.
//! * End of volume, physical (PEOM, [`DeviceError::is_end_of_volume`]): the block is not on
//!   the volume, so the part failed. Its file is closed as it is (it stays on the volume:
//!   Amanda logs it as `PARTPARTIAL`) and the whole part is written again, with the same
//!   number, on the next volume, from the part cache ([`PartCache`]): memory (`part_size`
//!   bytes, allocated once), a disk file in `part_cache_dir` (unlinked as soon as it is
//!   created, so it never outlives the taper), or — for a flush — the holding file itself.
//!   Without a cache PEOM fails the dump, as in Amanda ("splitting not enabled").
//! * At most `max_volumes` volumes (`runtapes`, counting a volume handed in) are used for
//!   one dump. Volumes come from the control layer's `next_volume` closure, already
//!   started for writing (labelled with the next label, or opened for append); a volume
//!   that is left is `finish`ed first.
//! * A new part is started only when there is data for it, so a dump never ends with an
//!   empty part and a volume is never loaded for nothing (Amanda may write a trailing
//!   0-byte part). An empty dump is one 0-byte part.
//! * Streaming (`streaming`, Amanda's `STREAMING_REQUIREMENT` on tape drives): before a
//!   part's header is written, `device_output_buffer_bytes` of its data (rounded up to
//!   whole blocks, at most one part) are gathered, so the drive starts the file with a
//!   full buffer behind it. Amanda waits after the header; waiting before it also keeps
//!   the header and the first blocks in one burst. (Amanda's `REQUIRED` also pauses to
//!   refill in the middle of a part; a push-fed sink cannot know that more data is
//!   coming, so it streams as data arrives.)
//! * Acknowledgement: a part counts as written ([`PartStatus::Done`]) only when
//!   `finish_file` returned, and the dump is complete only when its last part is.
//!
//! # Memory (the budget's taper terms)
//!
//! The sink allocates its buffers once, when the first volume tells the block size:
//! one staging block (frames are cut into device blocks without a copy wherever a whole
//! block lies inside one frame; bytes of a block that straddles two frames are copied
//! into it), the streaming buffer (`taper_blocks` = `device_output_buffer_bytes /
//! block_size` blocks), a memory part cache of `part_size` bytes when configured, and a
//! read block for disk or holding caches. The streaming buffer is the sink's own rather
//! than pool frames held back: while it waits the taper would otherwise hold frames the
//! pipeline needs to produce the very data it is waiting for, and a dry pool would stop
//! the run. Its price is one copy of `device_output_buffer_bytes` per part.

use super::pool::{Budget, BufferPool, PoolBuf};
use super::run::{gather, Sink, StageStats};
use super::uring::buf::AlignedBuf;
use super::uring::file::{ReadOptions, SequentialReader};
use super::uring::ring::Ring;
use crate::device::{Device, DeviceError, WriteStatus};
use crate::format::crc::{Crc, Crc32c};
use crate::format::header::{DumpFile, FileType, DISK_BLOCK_BYTES};
use crate::holding::{read_chunk_header, ChunkChain};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Amanda's default `device_output_buffer_size`: 40 × 32 KiB.
pub const DEFAULT_DEVICE_OUTPUT_BUFFER_BYTES: usize = 40 * DISK_BLOCK_BYTES;

/// Bytes per read from a holding file during a flush: full frames make whole device blocks
/// that go to the device without a copy.
const FLUSH_READ_BYTES: usize = 1 << 20;

/// Frames read ahead of the device during a flush (one being written, one queued, one
/// being read), so holding-disk reads overlap device writes.
const FLUSH_READ_DEPTH: usize = 3;

/// Produces the next volume, started for writing, when the current one is full.
pub type NextVolume = Box<dyn FnMut() -> Result<Box<dyn Device>, String> + Send>;

// ---------------------------------------------------------------------------------------
// Errors

/// What went wrong writing a dump to volumes.
#[derive(Debug, thiserror::Error)]
pub enum TaperError {
    /// The settings cannot work (refused before anything is written).
    #[error("taper settings: {0}")]
    Settings(String),
    /// The device failed.
    #[error("{0}")]
    Device(#[from] DeviceError),
    /// The volume ended (PEOM) and there is no part cache to write the part again.
    #[error("{source}; the part cannot be written again on another volume without a part cache (part-cache-type, or a flush from the holding disk)")]
    NoPartCache { source: DeviceError },
    /// `runtapes` volumes are used up.
    #[error("the dump needs more than runtapes = {max_volumes} volume(s)")]
    OutOfVolumes { max_volumes: usize },
    /// The control layer could not provide the next volume.
    #[error("loading the next volume: {0}")]
    NextVolume(String),
    /// A later volume has another block size than the first.
    #[error(
        "{device}: block size {got_bytes} differs from the {expected_bytes} bytes this dump is written with"
    )]
    BlockSizeChanged { device: String, got_bytes: usize, expected_bytes: usize },
    /// The disk part cache failed.
    #[error("part cache {}: {action}: {source}", path.display())]
    Cache { action: &'static str, path: PathBuf, source: io::Error },
    /// The holding file being flushed could not be read.
    #[error("holding disk: {0}")]
    Holding(String),
    /// The dump ended before its end of stream.
    #[error("dump cut short: {0}")]
    CutShort(String),
}

// ---------------------------------------------------------------------------------------
// Settings and outcome

/// Where a part is read again from when it must be rewritten on another volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartCache {
    /// Nowhere: end of medium fails the dump.
    None,
    /// Memory, `part_size` bytes (`part_cache_type memory`).
    Memory,
    /// A file in this directory (`part_cache_type disk`, `part_cache_dir`).
    Disk(PathBuf),
    /// The holding file whose first chunk this is (a flush: the data is on disk already).
    Holding(PathBuf),
}

/// The taper's settings for one dump, resolved by the control layer.
#[derive(Debug, Clone)]
pub struct TaperSettings {
    /// `part_size` (tapetype) or `tape_splitsize` (dumptype) in bytes; 0 = no split.
    pub part_size_bytes: u64,
    pub part_cache: PartCache,
    /// Gather `device_output_buffer_bytes` before starting a part (tape drives).
    pub streaming: bool,
    pub device_output_buffer_bytes: usize,
    /// `runtapes`: volumes this dump may use, counting one handed in.
    pub max_volumes: usize,
}

impl TaperSettings {
    /// No splitting, no cache, no streaming wait, Amanda's default buffer size.
    pub fn new(max_volumes: usize) -> TaperSettings {
        TaperSettings {
            part_size_bytes: 0,
            part_cache: PartCache::None,
            streaming: false,
            device_output_buffer_bytes: DEFAULT_DEVICE_OUTPUT_BUFFER_BYTES,
            max_volumes,
        }
    }
}

/// How a part attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartStatus {
    /// On the volume and durable (log `PART`).
    Done,
    /// Cut short on this volume (end of medium or an error); when the dump went on, the
    /// part was written again on the next volume (log `PARTPARTIAL`).
    Failed,
}

/// One part attempt, for the control layer's `PART` / `PARTPARTIAL` log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    /// The volume's label.
    pub label: String,
    /// The device file number.
    pub file_number: u32,
    /// The part number (1, 2, …).
    pub part_number: u32,
    /// Data bytes of the part on the volume.
    pub bytes: u64,
    /// From `start_file` to `finish_file`.
    pub duration: Duration,
    pub status: PartStatus,
}

/// What a dump left on the volumes.
pub struct TaperOutcome {
    /// Every part attempt, in order.
    pub parts: Vec<PartRecord>,
    /// Bytes of the dump stream in `Done` parts (all of it when `complete`).
    pub data_bytes: u64,
    /// CRC-32C of those bytes (combined from the parts' CRCs: the stream is not hashed
    /// twice).
    pub crc: Crc,
    /// Every byte is in a `Done` part.
    pub complete: bool,
    pub error: Option<String>,
    /// Problems that did not fail the dump (finishing a full volume, …).
    pub warnings: Vec<String>,
    /// The volume in use at the end, still started, for the next dump.
    pub device: Option<Box<dyn Device>>,
    /// Volumes used, counting one handed in.
    pub volumes_used: usize,
}

impl TaperOutcome {
    /// The parts that are on a volume, in stream order.
    pub fn done_parts(&self) -> impl Iterator<Item = &PartRecord> {
        self.parts.iter().filter(|p| p.status == PartStatus::Done)
    }
}

impl std::fmt::Debug for TaperOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaperOutcome")
            .field("parts", &self.parts)
            .field("data_bytes", &self.data_bytes)
            .field("crc", &self.crc)
            .field("complete", &self.complete)
            .field("error", &self.error)
            .field("warnings", &self.warnings)
            .field("device", &self.device.as_ref().map(|d| d.name().to_owned()))
            .field("volumes_used", &self.volumes_used)
            .finish()
    }
}

/// The caller's view of a [`TaperSink`] handed to the pipeline.
#[derive(Clone, Default)]
pub struct TaperHandle(Arc<Mutex<Option<TaperOutcome>>>);

impl TaperHandle {
    /// The outcome, once the sink finished, failed or was dropped (taken: the device
    /// moves to the caller).
    pub fn take(&self) -> Option<TaperOutcome> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn set(&self, outcome: TaperOutcome) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
    }
}

// ---------------------------------------------------------------------------------------
// Part cache

/// The bytes of the current part (from its first byte to the last one handed to the
/// device), addressed by stream offset.
enum Cache {
    None,
    Memory { buf: Vec<u8>, lo: u64, hi: u64 },
    Disk { file: File, path: PathBuf, base: u64, lo: u64, hi: u64 },
    Holding(HoldingSlices),
}

impl Cache {
    fn open(spec: &PartCache, part_max: u64) -> Result<Cache, TaperError> {
        let bad = |what: &str| {
            Err(TaperError::Settings(format!(
                "a {what} part cache needs a part size (part_size 0 does not split)"
            )))
        };
        match spec {
            PartCache::None => Ok(Cache::None),
            PartCache::Memory => {
                if part_max == 0 {
                    return bad("memory");
                }
                let bytes = usize::try_from(part_max)
                    .map_err(|_| TaperError::Settings(format!("part size {part_max} is too large")))?;
                let mut buf = Vec::new();
                buf.try_reserve_exact(bytes).map_err(|_| {
                    TaperError::Settings(format!("cannot allocate a memory part cache of {bytes} bytes"))
                })?;
                buf.resize(bytes, 0);
                Ok(Cache::Memory { buf, lo: 0, hi: 0 })
            }
            PartCache::Disk(dir) => {
                if part_max == 0 {
                    return bad("disk");
                }
                static SERIAL: AtomicU32 = AtomicU32::new(0);
                let path = dir.join(format!(
                    "amrs-part-cache.{}.{}",
                    std::process::id(),
                    SERIAL.fetch_add(1, Ordering::Relaxed)
                ));
                let file =
                    OpenOptions::new().read(true).write(true).create_new(true).open(&path).map_err(
                        |source| TaperError::Cache { action: "creating", path: path.clone(), source },
                    )?;
                // Unlinked at once: the open file is the cache, and nothing is left behind
                // whatever happens to the taper.
                fs::remove_file(&path).map_err(|source| TaperError::Cache {
                    action: "unlinking",
                    path: path.clone(),
                    source,
                })?;
                Ok(Cache::Disk { file, path, base: 0, lo: 0, hi: 0 })
            }
            PartCache::Holding(first) => Ok(Cache::Holding(HoldingSlices::new(first))),
        }
    }

    fn replays(&self) -> bool {
        !matches!(self, Cache::None)
    }

    /// Keeps `block`, the stream bytes at `at`, before they go to the device.
    fn append(&mut self, at: u64, block: &[u8]) -> Result<(), TaperError> {
        match self {
            Cache::None | Cache::Holding(_) => Ok(()),
            Cache::Memory { buf, lo, hi } => {
                debug_assert_eq!(at, *hi);
                let from = (*hi - *lo) as usize;
                // A part never holds more than part_size bytes, which is the buffer size.
                buf[from..from + block.len()].copy_from_slice(block);
                *hi += block.len() as u64;
                Ok(())
            }
            Cache::Disk { file, path, base, hi, .. } => {
                debug_assert_eq!(at, *hi);
                file.write_all_at(block, *hi - *base).map_err(|source| TaperError::Cache {
                    action: "writing",
                    path: path.clone(),
                    source,
                })?;
                *hi += block.len() as u64;
                Ok(())
            }
        }
    }

    /// The `n` stream bytes at `at`, read into `scratch` when they are not in memory.
    fn read<'a>(&'a mut self, at: u64, n: usize, scratch: &'a mut [u8]) -> Result<&'a [u8], TaperError> {
        match self {
            Cache::None => unreachable!("nothing is read again without a cache"),
            Cache::Memory { buf, lo, .. } => {
                let from = (at - *lo) as usize;
                Ok(&buf[from..from + n])
            }
            Cache::Disk { file, path, base, .. } => {
                file.read_exact_at(&mut scratch[..n], at - *base).map_err(|source| TaperError::Cache {
                    action: "reading",
                    path: path.clone(),
                    source,
                })?;
                Ok(&scratch[..n])
            }
            Cache::Holding(slices) => {
                slices.read(at, &mut scratch[..n])?;
                Ok(&scratch[..n])
            }
        }
    }

    /// Forgets the bytes before `at` (they are in a part that is done).
    fn release_before(&mut self, at: u64) -> Result<(), TaperError> {
        match self {
            Cache::None | Cache::Holding(_) => Ok(()),
            Cache::Memory { buf, lo, hi } => {
                if at >= *hi {
                    (*lo, *hi) = (at, at);
                } else {
                    // Rare: a part ended at early warning while being written again; the
                    // rest of the cached bytes start the next part.
                    buf.copy_within((at - *lo) as usize..(*hi - *lo) as usize, 0);
                    *lo = at;
                }
                Ok(())
            }
            Cache::Disk { file, path, base, lo, hi } => {
                *lo = at;
                if at >= *hi {
                    file.set_len(0).map_err(|source| TaperError::Cache {
                        action: "truncating",
                        path: path.clone(),
                        source,
                    })?;
                    (*base, *lo, *hi) = (at, at, at);
                }
                Ok(())
            }
        }
    }
}

/// Random access to the data of a holding-disk dump (its chunks without their headers),
/// for writing a part again after end of medium. The chain is followed lazily.
struct HoldingSlices {
    next: Option<PathBuf>,
    /// (chunk path, stream offset of its first data byte, data bytes)
    chunks: Vec<(PathBuf, u64, u64)>,
    open: Option<(usize, File)>,
}

impl HoldingSlices {
    fn new(first: &Path) -> HoldingSlices {
        HoldingSlices { next: Some(first.to_path_buf()), chunks: Vec::new(), open: None }
    }

    fn err(path: &Path, what: impl std::fmt::Display) -> TaperError {
        TaperError::Holding(format!("{}: {what}", path.display()))
    }

    fn read(&mut self, mut at: u64, out: &mut [u8]) -> Result<(), TaperError> {
        let mut done = 0;
        while done < out.len() {
            let index = loop {
                if let Some(i) =
                    self.chunks.iter().position(|(_, start, len)| at >= *start && at < start + len)
                {
                    break i;
                }
                let Some(path) = self.next.take() else {
                    return Err(TaperError::Holding(format!(
                        "the holding file ends before byte {at} of the dump"
                    )));
                };
                let header = read_chunk_header(&path).map_err(|e| TaperError::Holding(e.to_string()))?;
                let size = fs::metadata(&path).map_err(|e| Self::err(&path, e))?.len();
                let start = self.chunks.last().map_or(0, |(_, s, l)| s + l);
                let len = size.saturating_sub(DISK_BLOCK_BYTES as u64);
                self.next = (!header.continuation_filename.is_empty())
                    .then(|| PathBuf::from(&header.continuation_filename));
                self.chunks.push((path, start, len));
            };
            if self.open.as_ref().is_none_or(|(i, _)| *i != index) {
                let path = &self.chunks[index].0;
                self.open = Some((index, File::open(path).map_err(|e| Self::err(path, e))?));
            }
            let (path, start, len) = &self.chunks[index];
            let n = ((start + len - at) as usize).min(out.len() - done);
            let file = &self.open.as_ref().expect("opened above").1;
            file.read_exact_at(&mut out[done..done + n], DISK_BLOCK_BYTES as u64 + at - start)
                .map_err(|e| Self::err(path, e))?;
            done += n;
            at += n as u64;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The sink

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Writing,
    Finished,
    Failed,
}

/// Writes one dump to volumes (see the module rules).
pub struct TaperSink {
    settings: TaperSettings,
    /// The SPLIT_FILE header; `part_number` is set per part.
    header: DumpFile,
    next_volume: NextVolume,
    device: Option<Box<dyn Device>>,
    /// The current volume must not take another part (early warning, end of medium).
    need_volume: bool,
    volumes_used: usize,
    /// 0 until the first volume is loaded.
    block_bytes: usize,
    /// Part size rounded up to whole blocks; 0 = no limit.
    part_max: u64,
    staging: Option<AlignedBuf>,
    staged: usize,
    prebuffer: Option<AlignedBuf>,
    prebuffer_target: usize,
    prebuffered: usize,
    scratch: Option<AlignedBuf>,
    cache: Cache,
    /// Stream bytes handed to the block writer so far.
    issued: u64,
    part_number: u32,
    part_open: bool,
    part_start: u64,
    part_written: u64,
    part_file: u32,
    part_label: String,
    part_started: Instant,
    parts: Vec<PartRecord>,
    warnings: Vec<String>,
    copied_bytes: u64,
    crc: Crc32c,
    /// CRC-32C of the current part attempt's data, for [`Device::set_part_crc`].
    part_crc: Crc32c,
    stats: StageStats,
    state: State,
    handle: TaperHandle,
}

impl TaperSink {
    /// A taper for the dump described by `header` (any dump header; written as SPLIT_FILE
    /// parts). `device` is a volume already in use (started for writing), if any; more
    /// come from `next_volume`. Nothing is written before the first data (or `finish`).
    pub fn new(
        header: &DumpFile,
        settings: TaperSettings,
        device: Option<Box<dyn Device>>,
        next_volume: NextVolume,
    ) -> Result<(TaperSink, TaperHandle), TaperError> {
        if !header.file_type.is_dump() {
            return Err(TaperError::Settings(format!("a {} header is not a dump", header.file_type)));
        }
        let volumes_used = usize::from(device.is_some());
        if settings.max_volumes == 0 || settings.max_volumes < volumes_used {
            return Err(TaperError::Settings(format!(
                "runtapes = {} allows no volume",
                settings.max_volumes
            )));
        }
        let mut split = header.clone();
        split.file_type = FileType::SplitFile;
        split.total_parts = -1;
        split.continuation_filename.clear();
        let handle = TaperHandle::default();
        let sink = TaperSink {
            settings,
            header: split,
            next_volume,
            device,
            need_volume: false,
            volumes_used,
            block_bytes: 0,
            part_max: 0,
            staging: None,
            staged: 0,
            prebuffer: None,
            prebuffer_target: 0,
            prebuffered: 0,
            scratch: None,
            cache: Cache::None,
            issued: 0,
            part_number: 1,
            part_open: false,
            part_start: 0,
            part_written: 0,
            part_file: 0,
            part_label: String::new(),
            part_started: Instant::now(),
            parts: Vec::new(),
            warnings: Vec::new(),
            copied_bytes: 0,
            crc: Crc32c::new(),
            part_crc: Crc32c::new(),
            stats: StageStats { name: "taper".into(), ..StageStats::default() },
            state: State::Writing,
            handle: handle.clone(),
        };
        Ok((sink, handle))
    }

    /// Bytes copied between frames and device blocks (block-straddling bytes, the
    /// streaming buffer and the part cache).
    pub fn copied_bytes(&self) -> u64 {
        self.copied_bytes
    }

    /// Memory the sink allocated for itself (known once the first volume is loaded).
    pub fn own_buffer_bytes(&self) -> usize {
        let cache = match &self.cache {
            Cache::Memory { buf, .. } => buf.len(),
            _ => 0,
        };
        [&self.staging, &self.prebuffer, &self.scratch]
            .iter()
            .map(|b| b.as_ref().map_or(0, |b| b.len()))
            .sum::<usize>()
            + cache
    }

    /// Ends the dump as cut short: a part being written is closed where it is (recorded as
    /// failed) and the outcome says why.
    pub fn abort(&mut self, reason: &str) -> TaperError {
        let error = TaperError::CutShort(reason.to_owned());
        if self.state == State::Writing {
            self.fail(&error);
        }
        error
    }

    /// Loads the first volume and allocates the buffers, once.
    fn setup(&mut self) -> Result<(), TaperError> {
        if self.block_bytes != 0 {
            return Ok(());
        }
        if self.device.is_none() {
            self.load_volume()?;
        }
        let bs = self.device.as_ref().expect("loaded above").block_size_bytes();
        let s = &self.settings;
        self.part_max = s.part_size_bytes.div_ceil(bs as u64) * bs as u64;
        if s.streaming {
            let mut target = s.device_output_buffer_bytes.max(1).div_ceil(bs) * bs;
            if self.part_max > 0 {
                target = target.min(self.part_max as usize);
            }
            self.prebuffer_target = target;
            self.prebuffer = Some(AlignedBuf::new(target));
        }
        self.cache = Cache::open(&s.part_cache, self.part_max)?;
        if matches!(self.cache, Cache::Disk { .. } | Cache::Holding(_)) {
            self.scratch = Some(AlignedBuf::new(bs));
        }
        self.staging = Some(AlignedBuf::new(bs));
        self.block_bytes = bs;
        Ok(())
    }

    /// Leaves the current volume (finished) and takes the next one.
    fn load_volume(&mut self) -> Result<(), TaperError> {
        if self.volumes_used >= self.settings.max_volumes {
            return Err(TaperError::OutOfVolumes { max_volumes: self.settings.max_volumes });
        }
        if let Some(mut old) = self.device.take() {
            // As Amanda: an error finishing a full volume is most likely the end of
            // medium again; the parts on it are already durable.
            if let Err(e) = old.finish() {
                self.warnings.push(format!("finishing the full volume: {e}"));
            }
        }
        let device = (self.next_volume)().map_err(TaperError::NextVolume)?;
        self.volumes_used += 1;
        if self.block_bytes != 0 && device.block_size_bytes() != self.block_bytes {
            return Err(TaperError::BlockSizeChanged {
                device: device.name().to_owned(),
                got_bytes: device.block_size_bytes(),
                expected_bytes: self.block_bytes,
            });
        }
        self.device = Some(device);
        self.need_volume = false;
        Ok(())
    }

    /// Starts the current part's file on a volume that has room.
    fn open_part(&mut self) -> Result<(), TaperError> {
        loop {
            if self.device.is_none() || self.need_volume {
                self.load_volume()?;
            }
            let device = self.device.as_mut().expect("loaded above");
            if device.at_early_warning() {
                self.need_volume = true;
                continue;
            }
            self.header.part_number = self.part_number as i32;
            match device.start_file(&self.header) {
                Ok(file) => {
                    self.part_file = file;
                    self.part_label = device.volume_label().map(|l| l.label.clone()).unwrap_or_default();
                    self.part_open = true;
                    self.part_written = 0;
                    self.part_crc = Crc32c::new();
                    self.part_started = Instant::now();
                    return Ok(());
                }
                // Nothing of the part is on this volume: try the next.
                Err(e) if e.is_end_of_volume() => self.need_volume = true,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn record(&mut self, status: PartStatus) {
        self.parts.push(PartRecord {
            label: self.part_label.clone(),
            file_number: self.part_file,
            part_number: self.part_number,
            bytes: self.part_written,
            duration: self.part_started.elapsed(),
            status,
        });
    }

    /// Ends the current part. `Ok(false)`: the volume ended under it and it will be
    /// written again.
    fn close_part(&mut self) -> Result<bool, TaperError> {
        let device = self.device.as_mut().expect("an open part has a device");
        debug_assert_eq!(self.part_crc.size_bytes(), self.part_written);
        device.set_part_crc(self.part_crc.to_crc());
        match device.finish_file() {
            Ok(()) => {
                self.crc.append(self.part_crc.to_crc());
                self.record(PartStatus::Done);
                self.part_open = false;
                self.part_number += 1;
                self.part_start += self.part_written;
                self.part_written = 0;
                self.cache.release_before(self.part_start)?;
                Ok(true)
            }
            Err(e) if e.is_end_of_volume() => {
                self.part_failed(e)?;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The volume ended under the current part: close what is there and plan to write the
    /// part again on the next volume.
    fn part_failed(&mut self, error: DeviceError) -> Result<(), TaperError> {
        if let Some(device) = self.device.as_mut() {
            // Best effort: the part is abandoned on this volume either way.
            let _ = device.finish_file();
        }
        self.record(PartStatus::Failed);
        self.part_open = false;
        self.part_written = 0;
        self.need_volume = true;
        if !self.cache.replays() {
            return Err(TaperError::NoPartCache { source: error });
        }
        Ok(())
    }

    /// Writes the stream bytes not yet in the current part, `[part_start + part_written,
    /// issued)`: `fresh` is the block just issued (at its stream offset), written from the
    /// caller's memory; anything before it is a part being written again, read from the
    /// cache.
    fn pump(&mut self, fresh: Option<(&[u8], u64)>) -> Result<(), TaperError> {
        while self.part_start + self.part_written < self.issued {
            if !self.part_open {
                self.open_part()?;
            }
            let off = self.part_start + self.part_written;
            let n = (self.block_bytes as u64).min(self.issued - off) as usize;
            let device = self.device.as_mut().expect("an open part has a device");
            // The part's CRC is fed here, the one place its bytes go to the device, so it
            // covers exactly what the part holds, a part written again included.
            let result = match fresh {
                Some((block, at)) if at == off => {
                    self.part_crc.update(block);
                    device.write_block(block)
                }
                _ => {
                    let scratch = self.scratch.as_deref_mut().unwrap_or(&mut []);
                    let data = self.cache.read(off, n, scratch)?;
                    self.part_crc.update(data);
                    device.write_block(data)
                }
            };
            match result {
                Ok(status) => {
                    self.part_written += n as u64;
                    self.stats.bytes_out += n as u64;
                    let leom = status == WriteStatus::EarlyWarning;
                    if leom || (self.part_max > 0 && self.part_written >= self.part_max) {
                        self.close_part()?;
                    }
                    if leom {
                        self.need_volume = true;
                    }
                }
                Err(e) if e.is_end_of_volume() => self.part_failed(e)?,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Hands one device block (full, or the short last one) to the volumes.
    fn put_block(&mut self, block: &[u8]) -> Result<(), TaperError> {
        let at = self.issued;
        if self.cache.replays() && !matches!(self.cache, Cache::Holding(_)) {
            self.copied_bytes += block.len() as u64;
        }
        self.cache.append(at, block)?;
        self.issued += block.len() as u64;
        self.pump(Some((block, at)))
    }

    fn put_staging(&mut self) -> Result<(), TaperError> {
        // Taken out for the call so the block can be borrowed next to `self` (a move).
        let staging = self.staging.take().expect("allocated in setup");
        let result = self.put_block(&staging[..self.staged]);
        self.staging = Some(staging);
        self.staged = 0;
        result
    }

    fn drain_prebuffer(&mut self) -> Result<(), TaperError> {
        let prebuffer = self.prebuffer.take().expect("allocated in setup");
        let mut result = Ok(());
        for block in prebuffer[..self.prebuffered].chunks(self.block_bytes) {
            result = self.put_block(block);
            if result.is_err() {
                break;
            }
        }
        self.prebuffer = Some(prebuffer);
        self.prebuffered = 0;
        result
    }

    fn take(&mut self, mut data: &[u8]) -> Result<(), TaperError> {
        let bs = self.block_bytes;
        while !data.is_empty() {
            // Before a part starts (streaming): gather its first bytes.
            if self.prebuffer_target > 0 && !self.part_open && self.staged == 0 {
                let prebuffer = self.prebuffer.as_mut().expect("allocated in setup");
                let target = self.prebuffer_target;
                if gather(prebuffer, &mut self.prebuffered, target, &mut data, &mut self.copied_bytes) {
                    self.drain_prebuffer()?;
                }
                continue;
            }
            if self.staged == 0 && data.len() >= bs {
                // A whole block inside the frame: written from the frame itself.
                self.put_block(&data[..bs])?;
                data = &data[bs..];
                continue;
            }
            // A block straddling frames is gathered in the staging block.
            let staging = self.staging.as_mut().expect("allocated in setup");
            if gather(staging, &mut self.staged, bs, &mut data, &mut self.copied_bytes) {
                self.put_staging()?;
            }
        }
        Ok(())
    }

    fn complete(&mut self) -> Result<(), TaperError> {
        self.setup()?;
        if self.prebuffered > 0 {
            self.drain_prebuffer()?;
        }
        if self.staged > 0 {
            self.put_staging()?;
        }
        loop {
            self.pump(None)?;
            if !self.part_open {
                let any_done = self.parts.iter().any(|p| p.status == PartStatus::Done);
                if self.issued == 0 && !any_done {
                    // An empty dump is still one (empty) part.
                    self.open_part()?;
                } else {
                    break;
                }
            }
            if self.close_part()? {
                break;
            }
        }
        Ok(())
    }

    fn outcome(&mut self, complete: bool, error: Option<String>) -> TaperOutcome {
        TaperOutcome {
            parts: std::mem::take(&mut self.parts),
            data_bytes: self.crc.size_bytes(),
            crc: self.crc.to_crc(),
            complete,
            error,
            warnings: std::mem::take(&mut self.warnings),
            device: self.device.take(),
            volumes_used: self.volumes_used,
        }
    }

    fn fail(&mut self, error: &TaperError) {
        self.state = State::Failed;
        if self.part_open {
            if let Some(device) = self.device.as_mut() {
                // Best effort: the failure is what is reported. A vtape takes the part
                // back, so a failed dump never looks like a complete one on the volume.
                let _ = device.abandon_file();
            }
            self.record(PartStatus::Failed);
            self.part_open = false;
        }
        let outcome = self.outcome(false, Some(error.to_string()));
        self.handle.set(outcome);
    }
}

impl TaperSink {
    /// [`Sink::consume`] with the typed error.
    pub fn consume_bytes(&mut self, bytes: &[u8]) -> Result<(), TaperError> {
        if self.state != State::Writing {
            return Err(TaperError::CutShort("the dump already ended".into()));
        }
        let started = Instant::now();
        self.stats.bytes_in += bytes.len() as u64;
        let result = self.setup().and_then(|()| self.take(bytes));
        self.stats.busy += started.elapsed();
        result.inspect_err(|e| self.fail(e))
    }

    /// [`Sink::finish`] with the typed error.
    pub fn finish_dump(&mut self) -> Result<(), TaperError> {
        if self.state != State::Writing {
            return Err(TaperError::CutShort("the dump already ended".into()));
        }
        let started = Instant::now();
        let result = self.complete();
        self.stats.busy += started.elapsed();
        match result {
            Ok(()) => {
                self.state = State::Finished;
                let outcome = self.outcome(true, None);
                self.handle.set(outcome);
                Ok(())
            }
            Err(e) => {
                self.fail(&e);
                Err(e)
            }
        }
    }
}

impl Sink for TaperSink {
    fn consume(&mut self, frame: PoolBuf) -> Result<(), String> {
        self.consume_bytes(frame.bytes()).map_err(|e| e.to_string())
    }

    fn finish(&mut self) -> Result<(), String> {
        self.finish_dump().map_err(|e| e.to_string())
    }

    fn stats(&self) -> StageStats {
        self.stats.clone()
    }

    fn abort(&mut self, reason: &str) {
        let _ = TaperSink::abort(self, reason);
    }
}

impl Drop for TaperSink {
    /// Dropped before `finish` (a pipeline stage failed): the open part is closed and the
    /// outcome says the dump is incomplete; the device goes back to the caller.
    fn drop(&mut self) {
        if self.state == State::Writing {
            self.abort("the pipeline stopped before the end of the dump");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Flushing a holding-disk dump

/// A flush that did not complete; `outcome` has the parts written and the device (boxed in
/// the `Result`: the outcome is large and failures are rare).
pub struct FlushError {
    pub error: TaperError,
    pub outcome: Option<TaperOutcome>,
}

impl std::fmt::Display for FlushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::fmt::Debug for FlushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FlushError({}, {:?})", self.error, self.outcome)
    }
}

/// A completed flush.
#[derive(Debug)]
pub struct FlushOutcome {
    /// The holding file's FILE header.
    pub header: DumpFile,
    /// The holding chunks read, first to last: delete them with [`delete_holding_dump`]
    /// once the parts are recorded.
    pub chunks: Vec<PathBuf>,
    pub taper: TaperOutcome,
}

/// Writes the holding-disk dump starting at `first_chunk` to volumes (Amanda's amflush /
/// the taper's `FILE-WRITE`): the holding header becomes the SPLIT_FILE header of every
/// part, parts interrupted by end of medium are read again from the holding file (so
/// `settings.part_cache` is not used). The holding file is *not* deleted: the caller
/// records the parts, then calls [`delete_holding_dump`].
pub fn flush_holding_to_taper(
    first_chunk: &Path,
    settings: &TaperSettings,
    device: Option<Box<dyn Device>>,
    next_volume: NextVolume,
) -> Result<FlushOutcome, Box<FlushError>> {
    let fail = |error: TaperError, outcome: Option<TaperOutcome>| Box::new(FlushError { error, outcome });
    let mut chain = match ChunkChain::open(first_chunk) {
        Ok(r) => r,
        Err(e) => {
            let outcome = device.map(|d| TaperOutcome {
                parts: Vec::new(),
                data_bytes: 0,
                crc: Crc::default(),
                complete: false,
                error: Some(e.to_string()),
                warnings: Vec::new(),
                device: Some(d),
                volumes_used: 1,
            });
            return Err(fail(TaperError::Holding(e.to_string()), outcome));
        }
    };
    let header = chain.header().clone();
    let mut settings = settings.clone();
    settings.part_cache = PartCache::Holding(first_chunk.to_path_buf());
    let (sink, handle) = TaperSink::new(&header, settings, device, next_volume).map_err(|e| fail(e, None))?;

    // Reads in flight, one frame in the channel, one with the taper, one being handed
    // over: the reader never waits for a buffer the taper cannot give back.
    let pool = BufferPool::new(&Budget {
        buffer_bytes: FLUSH_READ_BYTES,
        source_read_depth: FLUSH_READ_DEPTH + 2,
        compress_workers: 0,
        frames_in_flight: 0,
        encrypt_depth: 0,
        holding_writes_in_flight: 0,
        taper_blocks: 0,
    });
    feed_taper(sink, handle, header, 1, move |tx| {
        let mut ring: Ring<PoolBuf> = Ring::new(FLUSH_READ_DEPTH).map_err(|e| format!("I/O queue: {e}"))?;
        // Fixed reads into the pool's buffers: the pool, captured by this closure,
        // outlives the ring (a local of its body).
        pool.register_with(&mut ring);
        while let Some(path) = chain.next_chunk().map_err(|e| e.to_string())? {
            let mut reader = SequentialReader::open(&mut ring, &path, ReadOptions::default())
                .map_err(|e| e.to_string())?;
            // Every chunk starts with its header block: skip it.
            let mut skip = DISK_BLOCK_BYTES;
            while let Some(buf) = reader.next(|| pool.take().0).map_err(|e| e.to_string())? {
                let len = buf.len;
                if len <= skip {
                    skip -= len;
                    continue;
                }
                if tx.send((buf, skip)).is_err() {
                    // The taper failed; its error is the one reported.
                    return Ok(chain.chunks().to_vec());
                }
                skip = 0;
            }
            if skip > 0 {
                return Err(format!("{}: header is truncated", path.display()));
            }
        }
        Ok(chain.chunks().to_vec())
    })
}

/// A flush's two sides: `read` runs on its own thread and sends holding data as
/// (buffer, bytes to skip at its start) on a channel of `depth`, returning the chunks it
/// read; this thread hands the data to `sink`, then finishes the dump — or aborts it when
/// the reading failed. Used by [`flush_holding_to_taper`] and `follow::flush_following`.
pub(crate) fn feed_taper(
    mut sink: TaperSink,
    handle: TaperHandle,
    header: DumpFile,
    depth: usize,
    read: impl FnOnce(crossbeam_channel::Sender<(PoolBuf, usize)>) -> Result<Vec<PathBuf>, String> + Send,
) -> Result<FlushOutcome, Box<FlushError>> {
    let (tx, rx) = crossbeam_channel::bounded::<(PoolBuf, usize)>(depth);
    let (read_result, sink_result) = std::thread::scope(|s| {
        let reader_thread = s.spawn(move || read(tx));
        let mut sink_result = Ok(());
        for (frame, skip) in rx.iter() {
            sink_result = sink.consume_bytes(&frame.bytes()[skip..]);
            if sink_result.is_err() {
                break;
            }
        }
        drop(rx);
        let read_result = reader_thread.join().unwrap_or_else(|_| Err("the holding reader panicked".into()));
        (read_result, sink_result)
    });
    let error = match (&read_result, sink_result) {
        (_, Err(e)) => Some(e),
        (Err(e), Ok(())) => Some(sink.abort(&format!("reading the holding file: {e}"))),
        (Ok(_), Ok(())) => sink.finish_dump().err(),
    };
    drop(sink);
    let outcome = handle.take();
    let fail = |error: TaperError, outcome| Box::new(FlushError { error, outcome });
    match (error, read_result) {
        (None, Ok(chunks)) => {
            Ok(FlushOutcome { header, chunks, taper: outcome.expect("a finished sink reports") })
        }
        (Some(error), _) => Err(fail(error, outcome)),
        (None, Err(e)) => Err(fail(TaperError::Holding(e), outcome)),
    }
}

/// Deletes a holding-disk dump, every chunk of its CONT_FILENAME chain, once its parts are
/// recorded (Amanda's `holding_file_unlink`). The chain is read completely first, so a
/// broken chain deletes nothing. Returns the deleted paths.
pub fn delete_holding_dump(first_chunk: &Path) -> Result<Vec<PathBuf>, TaperError> {
    let mut chain = Vec::new();
    let mut next = Some(first_chunk.to_path_buf());
    while let Some(path) = next.take() {
        if chain.contains(&path) {
            return Err(TaperError::Holding(format!("{}: CONT_FILENAME chain loops", path.display())));
        }
        let header = read_chunk_header(&path).map_err(|e| TaperError::Holding(e.to_string()))?;
        let expected = if chain.is_empty() { FileType::File } else { FileType::ContFile };
        if header.file_type != expected {
            return Err(TaperError::Holding(format!(
                "{}: expected a {expected} chunk, found {}",
                path.display(),
                header.file_type
            )));
        }
        next =
            (!header.continuation_filename.is_empty()).then(|| PathBuf::from(&header.continuation_filename));
        chain.push(path);
    }
    for path in &chain {
        fs::remove_file(path)
            .map_err(|e| TaperError::Holding(format!("{}: removing: {e}", path.display())))?;
    }
    let mut dirs: Vec<&Path> = chain.iter().filter_map(|p| p.parent()).collect();
    dirs.dedup();
    for dir in dirs {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| TaperError::Holding(format!("{}: syncing: {e}", dir.display())))?;
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::tape::TapeDevice;
    use crate::device::tape_model::TapeModel;
    use crate::device::test_support::{pattern, TempDir};
    use crate::device::{
        open_device, AccessMode, Capacity, DeviceProperties, Location, SeekResult, VolumeLabel,
    };
    use crate::format::header::parse_header;
    use crate::pipeline::chunker::{ChunkerSink, ChunkerSpec};

    const K32: usize = 32 * 1024;
    const DS: &str = "20240506070809";

    fn header() -> DumpFile {
        DumpFile::new_file(DS, "client", "/data", 0, "GNUTAR")
    }

    fn pool(bytes: usize) -> BufferPool {
        BufferPool::new(&Budget {
            buffer_bytes: bytes,
            source_read_depth: 3,
            compress_workers: 0,
            frames_in_flight: 0,
            encrypt_depth: 0,
            holding_writes_in_flight: 0,
            taper_blocks: 0,
        })
    }

    /// Feeds `data` in frames whose sizes cycle through `sizes`; calls `after` with the
    /// bytes fed so far after each frame.
    fn feed_with(
        sink: &mut dyn Sink,
        data: &[u8],
        sizes: &[usize],
        mut after: impl FnMut(usize),
    ) -> Result<(), String> {
        let pool = pool(*sizes.iter().max().unwrap());
        let (mut at, mut i) = (0, 0);
        while at < data.len() {
            let n = sizes[i % sizes.len()].min(data.len() - at);
            let mut b = pool.take().0;
            b.space()[..n].copy_from_slice(&data[at..at + n]);
            b.len = n;
            sink.consume(b)?;
            at += n;
            i += 1;
            after(at);
        }
        Ok(())
    }

    fn feed(sink: &mut dyn Sink, data: &[u8], sizes: &[usize]) -> Result<(), String> {
        feed_with(sink, data, sizes, |_| {})
    }

    // --- An in-memory volume that records every call --------------------------------

    #[derive(Default)]
    struct Recorded {
        /// (header, blocks) per file.
        files: Vec<(DumpFile, Vec<Vec<u8>>)>,
        /// Data bytes the volume takes before its early warning / its end.
        leom_after: Option<u64>,
        peom_after: Option<u64>,
        /// Fail the write after this many data bytes with an I/O error.
        fail_after: Option<u64>,
        used: u64,
        finished: bool,
    }

    struct MemVolume {
        name: String,
        block: usize,
        label: VolumeLabel,
        rec: Arc<Mutex<Recorded>>,
        writing: bool,
        early: bool,
    }

    fn mem_volume(label: &str, block: usize, rec: &Arc<Mutex<Recorded>>) -> Box<dyn Device> {
        Box::new(MemVolume {
            name: format!("mem:{label}"),
            block,
            label: VolumeLabel { label: label.into(), datestamp: DS.into() },
            rec: rec.clone(),
            writing: false,
            early: false,
        })
    }

    impl Device for MemVolume {
        fn name(&self) -> &str {
            &self.name
        }
        fn block_size_bytes(&self) -> usize {
            self.block
        }
        fn read_label(&mut self) -> Result<VolumeLabel, DeviceError> {
            Ok(self.label.clone())
        }
        fn volume_label(&self) -> Option<&VolumeLabel> {
            Some(&self.label)
        }
        fn start(&mut self, _: AccessMode) -> Result<(), DeviceError> {
            Ok(())
        }
        fn finish(&mut self) -> Result<(), DeviceError> {
            self.rec.lock().unwrap().finished = true;
            Ok(())
        }
        fn start_file(&mut self, header: &DumpFile) -> Result<u32, DeviceError> {
            assert!(!self.writing, "start_file while a file is open");
            let mut r = self.rec.lock().unwrap();
            r.files.push((header.clone(), Vec::new()));
            self.writing = true;
            Ok(r.files.len() as u32)
        }
        fn write_block(&mut self, block: &[u8]) -> Result<WriteStatus, DeviceError> {
            assert!(self.writing, "write_block outside a file");
            let mut r = self.rec.lock().unwrap();
            let at = Location::file(&self.name, r.files.len() as u32);
            let n = block.len() as u64;
            if r.fail_after.is_some_and(|f| r.used + n > f) {
                return Err(DeviceError::Io {
                    at,
                    action: "writing".into(),
                    source: io::Error::new(io::ErrorKind::WriteZero, "short write"),
                });
            }
            if r.peom_after.is_some_and(|p| r.used + n > p) {
                return Err(DeviceError::EndOfMedium { at, bytes_written: 0 });
            }
            r.used += n;
            r.files.last_mut().unwrap().1.push(block.to_vec());
            if r.leom_after.is_some_and(|l| r.used >= l) {
                self.early = true;
            }
            Ok(if self.early { WriteStatus::EarlyWarning } else { WriteStatus::Written })
        }
        fn finish_file(&mut self) -> Result<(), DeviceError> {
            self.writing = false;
            Ok(())
        }
        fn seek_file(&mut self, _: u32) -> Result<SeekResult, DeviceError> {
            unimplemented!("write-only test volume")
        }
        fn read_block(&mut self, _: &mut [u8]) -> Result<usize, DeviceError> {
            unimplemented!("write-only test volume")
        }
        fn eject(&mut self) -> Result<(), DeviceError> {
            Ok(())
        }
        fn capacity(&self) -> Capacity {
            Capacity { used_bytes: self.rec.lock().unwrap().used, limit_bytes: None }
        }
        fn at_early_warning(&self) -> bool {
            self.early
        }
        fn file_number(&self) -> Option<u32> {
            Some(self.rec.lock().unwrap().files.len() as u32)
        }
    }

    fn no_more_volumes() -> NextVolume {
        Box::new(|| Err("no more volumes in this test".into()))
    }

    /// Volumes handed out in order from `volumes`.
    fn volumes_from(volumes: Vec<Box<dyn Device>>) -> NextVolume {
        let mut volumes = volumes.into_iter();
        Box::new(move || volumes.next().ok_or_else(|| "out of test volumes".to_string()))
    }

    #[test]
    fn parts_are_split_at_exact_sizes_in_whole_blocks() {
        let rec = Arc::new(Mutex::new(Recorded::default()));
        let mut settings = TaperSettings::new(1);
        settings.part_size_bytes = 100_000; // rounds up to 4 blocks
        let (mut sink, handle) =
            TaperSink::new(&header(), settings, Some(mem_volume("V1", K32, &rec)), no_more_volumes())
                .unwrap();
        let data = pattern(600_001, 1);
        feed(&mut sink, &data, &[1, 50_000, 32_768, 70_001, 4096]).unwrap();
        sink.finish().unwrap();
        let outcome = handle.take().unwrap();
        assert!(outcome.complete);
        assert_eq!(outcome.volumes_used, 1);
        let sizes: Vec<u64> = outcome.parts.iter().map(|p| p.bytes).collect();
        assert_eq!(sizes, [131_072, 131_072, 131_072, 131_072, 75_713]);
        let r = rec.lock().unwrap();
        let mut back = Vec::new();
        for (i, (h, blocks)) in r.files.iter().enumerate() {
            assert_eq!(h.file_type, FileType::SplitFile);
            assert_eq!((h.part_number, h.total_parts), (i as i32 + 1, -1));
            assert_eq!(outcome.parts[i].part_number, i as u32 + 1);
            assert_eq!(outcome.parts[i].file_number, i as u32 + 1);
            assert_eq!(outcome.parts[i].label, "V1");
            for (j, b) in blocks.iter().enumerate() {
                let last = i == r.files.len() - 1 && j == blocks.len() - 1;
                assert!(b.len() == K32 || last, "part {} block {j} has {} bytes", i + 1, b.len());
                back.extend_from_slice(b);
            }
        }
        assert!(back == data);
        assert_eq!(outcome.crc, Crc { crc: crate::format::crc::crc32c(&data), size: 600_001 });
        // The volume stays with the caller for the next dump.
        assert!(outcome.device.is_some() && !r.finished);
    }

    #[test]
    fn whole_blocks_inside_frames_are_not_copied_and_an_empty_dump_is_one_empty_part() {
        let rec = Arc::new(Mutex::new(Recorded::default()));
        let (mut sink, handle) = TaperSink::new(
            &header(),
            TaperSettings::new(1),
            Some(mem_volume("V1", 256 * 1024, &rec)),
            no_more_volumes(),
        )
        .unwrap();
        let data = pattern(4 << 20, 2);
        feed(&mut sink, &data, &[1 << 20]).unwrap();
        assert_eq!(sink.copied_bytes(), 0);
        sink.finish().unwrap();
        assert_eq!(handle.take().unwrap().parts.len(), 1);

        let rec = Arc::new(Mutex::new(Recorded::default()));
        let (mut sink, handle) = TaperSink::new(
            &header(),
            TaperSettings::new(1),
            Some(mem_volume("V1", K32, &rec)),
            no_more_volumes(),
        )
        .unwrap();
        sink.finish().unwrap();
        let o = handle.take().unwrap();
        assert_eq!(o.parts.len(), 1);
        assert_eq!((o.parts[0].bytes, o.parts[0].status), (0, PartStatus::Done));
        assert_eq!(rec.lock().unwrap().files.len(), 1);
    }

    #[test]
    fn streaming_waits_for_the_output_buffer_before_starting_a_part() {
        let rec = Arc::new(Mutex::new(Recorded::default()));
        let mut settings = TaperSettings::new(1);
        settings.streaming = true;
        settings.device_output_buffer_bytes = 300_000; // 10 blocks
        settings.part_size_bytes = 20 * K32 as u64;
        let (mut sink, handle) =
            TaperSink::new(&header(), settings, Some(mem_volume("V1", K32, &rec)), no_more_volumes())
                .unwrap();
        let data = pattern(1_000_000, 3);
        let mut seen = Vec::new();
        feed_with(&mut sink, &data, &[100_000], |fed| {
            let r = rec.lock().unwrap();
            seen.push((fed, r.files.len(), r.files.last().map_or(0, |f| f.1.len())));
        })
        .unwrap();
        sink.finish().unwrap();
        // Nothing until 10 blocks were there; then the header and the 10 blocks at once;
        // the second part (at 655360) waits again.
        assert_eq!(seen[..3], [(100_000, 0, 0), (200_000, 0, 0), (300_000, 0, 0)]);
        assert_eq!(seen[3], (400_000, 1, 12));
        assert_eq!(seen[6], (700_000, 1, 20), "the first part is complete");
        // The second part starts once 10 blocks of it are there (at 983040).
        assert_eq!(seen[8], (900_000, 1, 20));
        assert_eq!(seen[9], (1_000_000, 2, 10));
        let o = handle.take().unwrap();
        let back: Vec<u8> =
            rec.lock().unwrap().files.iter().flat_map(|f| f.1.iter().flatten().copied()).collect();
        assert!(back == data);
        assert_eq!(o.parts.iter().map(|p| p.bytes).collect::<Vec<_>>(), [655_360, 344_640]);
    }

    fn vtape(dir: &Path, label: &str, max_usage: u64) -> Box<dyn Device> {
        let props = DeviceProperties::new().with("MAX_VOLUME_USAGE", &max_usage.to_string());
        let mut d = open_device(&format!("file:{}", dir.display()), &props).unwrap();
        d.start(AccessMode::Write { label: label.into(), datestamp: DS.into() }).unwrap();
        d
    }

    /// Reads every file of a vtape: (header, data).
    fn read_volume(dir: &Path) -> Vec<(DumpFile, Vec<u8>)> {
        let mut d = open_device(&format!("file:{}", dir.display()), &DeviceProperties::new()).unwrap();
        d.start(AccessMode::Read).unwrap();
        read_files(d.as_mut())
    }

    fn read_files(d: &mut dyn Device) -> Vec<(DumpFile, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; d.read_buffer_bytes()];
        for n in 1.. {
            let seek = d.seek_file(n).unwrap();
            if seek.header.file_type == FileType::TapeEnd {
                break;
            }
            let mut data = Vec::new();
            loop {
                let k = d.read_block(&mut buf).unwrap();
                if k == 0 {
                    break;
                }
                data.extend_from_slice(&buf[..k]);
            }
            out.push((seek.header, data));
        }
        out
    }

    #[test]
    fn early_warning_ends_the_part_and_the_dump_continues_on_the_next_vtape() {
        let tmp = TempDir::new("taper-leom");
        let (s1, s2) = (tmp.path().join("slot1"), tmp.path().join("slot2"));
        fs::create_dir_all(&s1).unwrap();
        fs::create_dir_all(&s2).unwrap();
        let first = vtape(&s1, "VOL-1", 640 * 1024);
        let next = volumes_from(vec![vtape(&s2, "VOL-2", 640 * 1024)]);
        let (mut sink, handle) = TaperSink::new(&header(), TaperSettings::new(2), Some(first), next).unwrap();
        let data = pattern(900_000, 4);
        feed(&mut sink, &data, &[65_536, 12_345]).unwrap();
        sink.finish().unwrap();
        let o = handle.take().unwrap();
        assert!(o.complete, "{o:?}");
        assert_eq!(o.volumes_used, 2);
        let labels: Vec<(&str, u32, u32)> =
            o.parts.iter().map(|p| (p.label.as_str(), p.file_number, p.part_number)).collect();
        assert_eq!(labels, [("VOL-1", 1, 1), ("VOL-2", 1, 2)]);
        let (v1, v2) = (read_volume(&s1), read_volume(&s2));
        assert_eq!((v1.len(), v2.len()), (1, 1));
        assert_eq!((v1[0].0.part_number, v2[0].0.part_number), (1, 2));
        assert_eq!(v1[0].0.file_type, FileType::SplitFile);
        assert_eq!(v1[0].1.len() as u64, o.parts[0].bytes);
        assert!([v1[0].1.clone(), v2[0].1.clone()].concat() == data);
    }

    fn tape_volume(model: &TapeModel, label: &str) -> Box<dyn Device> {
        let mut d = TapeDevice::with_model("tape:/dev/nst0", &DeviceProperties::new(), model).unwrap();
        d.start(AccessMode::Write { label: label.into(), datestamp: DS.into() }).unwrap();
        Box::new(d)
    }

    fn read_tape(model: &TapeModel) -> Vec<(DumpFile, Vec<u8>)> {
        let mut d = TapeDevice::with_model("tape:/dev/nst0", &DeviceProperties::new(), model).unwrap();
        d.start(AccessMode::Read).unwrap();
        read_files(&mut d)
    }

    /// Tape 1 holds its label, part 1 (8 blocks) and 5 blocks of part 2; the taper must
    /// write part 2 again on tape 2 from `cache`, byte for byte.
    fn peom_retry(cache: PartCache) {
        let block = K32 as u64;
        let tape1 = TapeModel::new(16 * block, 0);
        let tape2 = TapeModel::new(100 * block, 0);
        let next = {
            let t2 = tape2.clone();
            let mut given = false;
            Box::new(move || {
                assert!(!given, "only one more volume");
                given = true;
                Ok(tape_volume(&t2, "TAPE-2"))
            }) as NextVolume
        };
        let mut settings = TaperSettings::new(2);
        settings.part_size_bytes = 8 * block;
        settings.part_cache = cache;
        let (mut sink, handle) =
            TaperSink::new(&header(), settings, Some(tape_volume(&tape1, "TAPE-1")), next).unwrap();
        let data = pattern(20 * K32, 5);
        feed(&mut sink, &data, &[40_000, 1 << 16]).unwrap();
        sink.finish().unwrap();
        let o = handle.take().unwrap();
        assert!(o.complete, "{o:?}");
        let summary: Vec<(&str, u32, u32, u64, PartStatus)> = o
            .parts
            .iter()
            .map(|p| (p.label.as_str(), p.file_number, p.part_number, p.bytes, p.status))
            .collect();
        assert_eq!(
            summary,
            [
                ("TAPE-1", 1, 1, 8 * block, PartStatus::Done),
                ("TAPE-1", 2, 2, 5 * block, PartStatus::Failed),
                ("TAPE-2", 1, 2, 8 * block, PartStatus::Done),
                ("TAPE-2", 2, 3, 4 * block, PartStatus::Done),
            ]
        );
        let (t1, t2) = (read_tape(&tape1), read_tape(&tape2));
        assert_eq!(t1.len(), 2);
        assert!(t1[0].1 == data[..8 * K32]);
        assert!(t1[1].1 == data[8 * K32..13 * K32], "the cut-short attempt stays as written");
        assert_eq!(t2[0].0.part_number, 2);
        assert!(t2[0].1 == data[8 * K32..16 * K32], "part 2 written again byte for byte");
        assert!([t1[0].1.clone(), t2[0].1.clone(), t2[1].1.clone()].concat() == data);
    }

    #[test]
    fn end_of_medium_retries_the_part_from_the_memory_cache() {
        peom_retry(PartCache::Memory);
    }

    #[test]
    fn end_of_medium_retries_the_part_from_the_disk_cache_and_leaves_no_file() {
        let dir = TempDir::new("taper-disk-cache");
        peom_retry(PartCache::Disk(dir.path().to_path_buf()));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn end_of_medium_without_a_cache_fails_and_says_why() {
        let block = K32 as u64;
        let tape1 = TapeModel::new(10 * block, 0);
        let mut settings = TaperSettings::new(2);
        settings.part_size_bytes = 4 * block;
        let (mut sink, handle) =
            TaperSink::new(&header(), settings, Some(tape_volume(&tape1, "TAPE-1")), no_more_volumes())
                .unwrap();
        let e = feed(&mut sink, &pattern(20 * K32, 6), &[1 << 16]).unwrap_err();
        assert!(e.contains("end of medium") && e.contains("without a part cache"), "{e}");
        drop(sink);
        let o = handle.take().unwrap();
        assert!(!o.complete && o.device.is_some());
        let st: Vec<(u32, PartStatus)> = o.parts.iter().map(|p| (p.part_number, p.status)).collect();
        assert_eq!(st, [(1, PartStatus::Done), (2, PartStatus::Failed)]);
    }

    #[test]
    fn runtapes_bounds_the_volumes_a_dump_may_use() {
        let (r1, r2) = (Arc::new(Mutex::new(Recorded::default())), Arc::new(Mutex::new(Recorded::default())));
        r1.lock().unwrap().leom_after = Some(3 * K32 as u64);
        r2.lock().unwrap().leom_after = Some(3 * K32 as u64);
        let next = volumes_from(vec![mem_volume("V2", K32, &r2), mem_volume("V3", K32, &r2)]);
        let (mut sink, handle) =
            TaperSink::new(&header(), TaperSettings::new(2), Some(mem_volume("V1", K32, &r1)), next).unwrap();
        let e = feed(&mut sink, &pattern(10 * K32, 7), &[K32]).unwrap_err();
        assert_eq!(e, "the dump needs more than runtapes = 2 volume(s)");
        let o = handle.take().unwrap();
        assert_eq!(o.volumes_used, 2);
        assert!(r1.lock().unwrap().finished, "a full volume is finished before the next is loaded");
        assert_eq!(o.done_parts().map(|p| p.label.as_str()).collect::<Vec<_>>(), ["V1", "V2"]);
    }

    #[test]
    fn a_device_write_error_fails_the_dump_and_keeps_what_is_known() {
        let rec = Arc::new(Mutex::new(Recorded::default()));
        rec.lock().unwrap().fail_after = Some(5 * K32 as u64 + 100);
        let mut settings = TaperSettings::new(1);
        settings.part_size_bytes = 2 * K32 as u64;
        settings.part_cache = PartCache::Memory;
        let (mut sink, handle) =
            TaperSink::new(&header(), settings, Some(mem_volume("V1", K32, &rec)), no_more_volumes())
                .unwrap();
        let e = feed(&mut sink, &pattern(10 * K32, 8), &[3000]).unwrap_err();
        assert!(e.contains("mem:V1: file 3: writing: short write"), "{e}");
        assert!(sink.finish().is_err(), "a failed taper takes nothing more");
        let o = handle.take().unwrap();
        assert!(!o.complete && o.error.unwrap().contains("short write"));
        let st: Vec<(u32, u64, PartStatus)> =
            o.parts.iter().map(|p| (p.part_number, p.bytes, p.status)).collect();
        assert_eq!(
            st,
            [
                (1, 2 * K32 as u64, PartStatus::Done),
                (2, 2 * K32 as u64, PartStatus::Done),
                (3, K32 as u64, PartStatus::Failed)
            ]
        );
    }

    #[test]
    fn a_flush_reads_the_holding_file_again_after_end_of_medium_and_deletes_only_when_asked() {
        let hold = TempDir::new("taper-flush");
        let mut h = header();
        h.compressed = true;
        h.compression_suffix = ".gz".into();
        let spec = ChunkerSpec::new(hold.path(), DS, h, 5 * K32 as u64);
        let first = spec.first_chunk_path();
        let (mut chunker, _) = ChunkerSink::new(spec).unwrap();
        let data = pattern(30 * K32 + 999, 9);
        feed(&mut chunker, &data, &[77_777]).unwrap();
        chunker.finish().unwrap();

        let block = K32 as u64;
        let tape1 = TapeModel::new(16 * block, 0);
        let tape2 = TapeModel::new(100 * block, 0);
        let t2 = tape2.clone();
        let next: NextVolume = Box::new(move || Ok(tape_volume(&t2, "TAPE-2")));
        let mut settings = TaperSettings::new(2);
        settings.part_size_bytes = 8 * block;
        let flushed =
            flush_holding_to_taper(&first, &settings, Some(tape_volume(&tape1, "TAPE-1")), next).unwrap();
        assert!(flushed.taper.complete);
        assert_eq!(flushed.chunks.len(), 8);
        assert!(flushed.chunks.iter().all(|c| c.exists()), "flushing deletes nothing");
        let statuses: Vec<(u32, PartStatus)> =
            flushed.taper.parts.iter().map(|p| (p.part_number, p.status)).collect();
        assert_eq!(
            statuses,
            [
                (1, PartStatus::Done),
                (2, PartStatus::Failed),
                (2, PartStatus::Done),
                (3, PartStatus::Done),
                (4, PartStatus::Done)
            ]
        );
        let mut back = Vec::new();
        let t1 = read_tape(&tape1);
        let t2 = read_tape(&tape2);
        for (hdr, d) in [&t1[0]].into_iter().chain(t2.iter()) {
            assert_eq!(hdr.file_type, FileType::SplitFile);
            assert_eq!((hdr.compression_suffix.as_str(), hdr.continuation_filename.as_str()), (".gz", ""));
            back.extend_from_slice(d);
        }
        // The tape pads the short last block; the stream is the data, then zeros.
        assert!(back[..data.len()] == data[..] && back[data.len()..].iter().all(|b| *b == 0));

        let deleted = delete_holding_dump(&first).unwrap();
        assert_eq!(deleted, flushed.chunks);
        assert!(deleted.iter().all(|c| !c.exists()));
    }

    #[test]
    fn a_broken_holding_chain_is_not_deleted() {
        let hold = TempDir::new("taper-broken");
        let spec = ChunkerSpec::new(hold.path(), DS, header(), 2 * K32 as u64);
        let first = spec.first_chunk_path();
        let (mut chunker, _) = ChunkerSink::new(spec).unwrap();
        feed(&mut chunker, &pattern(3 * K32, 10), &[K32]).unwrap();
        chunker.finish().unwrap();
        let second = first.with_extension("0.1");
        let mut block = fs::read(&second).unwrap();
        block[..K32].copy_from_slice(&vec![0u8; K32]);
        fs::write(&second, &block).unwrap();
        assert!(delete_holding_dump(&first).is_err());
        assert!(first.exists() && second.exists());
        assert!(parse_header(&fs::read(&first).unwrap()[..K32]).is_ok());
    }
}
