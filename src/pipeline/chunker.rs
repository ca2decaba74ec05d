//! The holding-disk chunker: a [`Sink`] that stores one dump as Amanda 3.5 holding-disk
//! chunks, so that our flush and Amanda's `amflush` / `amrestore --holding` read it.
//!
//! # On-disk rules (Amanda 3.5 `server-src/xfer-dest-holding.c`, `holding.c`, `driver.c`)
//!
//! ```text
//! <holding_dir>/<timestamp>/                     run directory, mode 0770 (mkholdingdir)
//!     <host>.<sanitised disk>.<level>            chunk 0: FILE header + data
//!     <host>.<sanitised disk>.<level>.1          chunk 1: CONT_FILE header + data
//!     <host>.<sanitised disk>.<level>.2          …
//! ```
//!
//! * The host is used as it is; the disk goes through `sanitise_filename` (`/`, `:`, `\`
//!   become `_`). Files are created mode 0600 (`O_RDWR|O_CREAT|O_TRUNC`, as Amanda).
//! * Every chunk starts with a 32 KiB header block ([`HOLDING_HEADER_BYTES`]) built from
//!   the caller's FILE header: type FILE for chunk 0, CONT_FILE for the others, all other
//!   fields the same. The data follows directly; a chunk is at most `chunk_size_bytes`
//!   *including* its header, so it holds `chunk_size_bytes - 32 KiB` bytes of data.
//!   `chunk_size_bytes` is a multiple of 32 KiB and at least 64 KiB (Amanda's
//!   `validate_chunksize` floors the configured value to 32 KiB and refuses less than
//!   64 KiB; the configuration layer does that rounding, we refuse anything else).
//! * A chunk is named `<name>.tmp` while the dump is running. The next chunk is opened
//!   only when there is data for it (a dump ending exactly at a chunk boundary has no
//!   empty last chunk, as in Amanda). When it is, its header is written first and then
//!   the previous chunk's header is rewritten in place with
//!   `CONT_FILENAME=<full path of the next chunk, without .tmp>`; the last chunk has none.
//! * Headers are written with `bs=32k` (`blocksize` 32768, as `write_header` does). When
//!   the dump completes, chunk 0's header is rewritten once more as the driver's
//!   `holding_set_from_driver` does: re-parsed (so `blocksize` is 0 and the `dd` line
//!   loses `bs=`), with `ORIGSIZE=<KiB before compression>` if known and
//!   `SERVER-CRC=<CRC-32C of the stored data>:<bytes>`; then every chunk is renamed from
//!   `.tmp` to its final name (`rename_tmp_holding(…, complete=1)`), then the directory
//!   is fsynced. A dump is complete only after that.
//! * A dump cut short (ENOSPC, a write error, the pipeline stopping): the chunk being
//!   written is cut back to its last whole write, and then, as [`OnFailure`] says, either
//!   every chunk of this dump is removed ([`OnFailure::Remove`], the default: a dump that
//!   failed is not kept), or — what Amanda's driver does (`rename_tmp_holding(…,
//!   complete=0)`) — every header is rewritten with `PARTIAL=YES` and the chunks are
//!   renamed to their final names ([`OnFailure::KeepPartial`]), so `amflush` can still
//!   put what was received on a volume, marked partial; a dump stopped from upstream
//!   ([`ChunkerSink::abort`], or the sink dropped unfinished) first has its writer write
//!   out what it holds back, so the partial dump holds everything received and its `SERVER-CRC`
//!   covers exactly the stored bytes (Amanda's amflush checks that). Files of other dumps,
//!   and an older file under the same name, are never touched. Amanda can also continue a dump on another holding disk after ENOSPC
//!   (`RQ-MORE-DISK`); we do not: the dump fails.
//! * Frames go to the chunk's writer as they come (split only at chunk boundaries); the
//!   writer ([`UringFileFactory`], `device::file_writer`) re-blocks them into aligned
//!   1 MiB O_DIRECT writes, the data path's one copy. Re-blocking lives there only, so
//!   the vtape and the holding disk share it.

use super::follow::HoldingProgress;
use super::pool::PoolBuf;
use super::run::{Sink, Source, StageStats};
use super::uring::buf::{AlignedBuf, BUFFER_ALIGN_BYTES};
use crate::device::file_writer::{into_io_error, FileWriter, StageBuffers};
use crate::format::crc::{Crc, Crc32c};
use crate::format::header::{write_header_into, DumpFile, FileType, HeaderError, DISK_BLOCK_BYTES};
use crate::format::quote::sanitise_filename;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Size of the header block at the start of every chunk (Amanda's `HEADER_BLOCK_BYTES` =
/// `DISK_BLOCK_BYTES`).
pub const HOLDING_HEADER_BYTES: usize = DISK_BLOCK_BYTES;

/// Unit of chunk sizes and of holding writes (`HOLDING_BLOCK_BYTES` = `DISK_BLOCK_BYTES`).
pub const HOLDING_BLOCK_BYTES: usize = DISK_BLOCK_BYTES;

/// Smallest chunk Amanda accepts: a header and one block of data (`2*DISK_BLOCK_KB`).
pub const MIN_CHUNK_BYTES: u64 = 2 * HOLDING_BLOCK_BYTES as u64;

/// Bytes per read when a partial dump's CRC is read back from its chunks.
const READ_BACK_BYTES: usize = 1 << 20;

/// Mode of chunk files, before the umask (xfer-dest-holding.c opens them 0600).
const CHUNK_FILE_MODE: u32 = 0o600;

/// Mode of a run directory (holding.c `mkholdingdir`).
const RUN_DIR_MODE: u32 = 0o770;

// Writes start at the end of the header, so the header must keep file offsets aligned for
// O_DIRECT, and a holding block must be a whole number of aligned units.
const _: () = assert!(HOLDING_HEADER_BYTES % BUFFER_ALIGN_BYTES == 0);
const _: () = assert!(HOLDING_BLOCK_BYTES % BUFFER_ALIGN_BYTES == 0);

// ---------------------------------------------------------------------------------------
// Errors

/// What went wrong writing a holding-disk dump; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ChunkerError {
    /// The settings cannot work (refused before anything is written).
    #[error("holding disk settings: {0}")]
    Settings(String),
    /// The holding disk is full (ENOSPC, EDQUOT or EFBIG).
    #[error("holding disk full: {action} {}: {source}", path.display())]
    NoSpace { action: &'static str, path: PathBuf, source: io::Error },
    /// Any other I/O error.
    #[error("holding disk: {action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: io::Error },
    /// The header cannot be built (a field too long for the 32 KiB block, …).
    #[error("holding disk: header of {}: {source}", path.display())]
    Header { path: PathBuf, source: HeaderError },
    /// The dump ended before its end of stream (the pipeline stopped, or `abort`).
    #[error("holding disk: dump to {} cut short: {reason}", path.display())]
    CutShort { path: PathBuf, reason: String },
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> ChunkerError {
    let no_space = matches!(
        source.raw_os_error(),
        Some(code) if code == nix::libc::ENOSPC || code == nix::libc::EDQUOT || code == nix::libc::EFBIG
    );
    if no_space {
        ChunkerError::NoSpace { action, path: path.to_path_buf(), source }
    } else {
        ChunkerError::Io { action, path: path.to_path_buf(), source }
    }
}

// ---------------------------------------------------------------------------------------
// The file writer seam

/// One chunk file being written front to back: the queued io_uring writer
/// ([`UringFileFactory`], the default), plain writes ([`StdFileFactory`]) or a test double.
pub trait SequentialFile: Send {
    /// Appends `block` (any length) completely, or fails (a short write is retried until
    /// it is complete or fails; it is never reported as success).
    fn write_block(&mut self, block: &[u8]) -> io::Result<()>;
    /// Makes everything written durable (data and the file's directory entry) and closes
    /// the file.
    fn finish(self: Box<Self>) -> io::Result<()>;
    /// After `write_block` failed: the bytes at the start of the file known to be written.
    /// Writers that write before returning know it is everything they accepted (`None`).
    fn confirmed_bytes(&self) -> Option<u64> {
        None
    }
    /// Bytes at the start of the file whose writes have completed, for a reader following
    /// the file. Writers that write before returning: everything accepted (`None`).
    fn completed_bytes(&self) -> Option<u64> {
        None
    }
    /// Writes out anything the writer holds back and waits for it (a dump stopped from
    /// upstream keeps everything received). Writers that write before returning have
    /// nothing to do.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Creates chunk files.
pub trait SequentialFileFactory: Send {
    /// Creates (or truncates) `path`, mode 0600, for writing from offset 0.
    fn create(&self, path: &Path) -> io::Result<Box<dyn SequentialFile>>;
}

/// Plain blocking writes through `std::fs::File`: `write_all`, then `fdatasync` and an
/// fsync of the directory when the file is finished.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFileFactory;

struct StdSequentialFile {
    file: File,
    path: PathBuf,
}

impl SequentialFileFactory for StdFileFactory {
    fn create(&self, path: &Path) -> io::Result<Box<dyn SequentialFile>> {
        let file =
            OpenOptions::new().write(true).create(true).truncate(true).mode(CHUNK_FILE_MODE).open(path)?;
        Ok(Box::new(StdSequentialFile { file, path: path.to_path_buf() }))
    }
}

impl SequentialFile for StdSequentialFile {
    fn write_block(&mut self, block: &[u8]) -> io::Result<()> {
        self.file.write_all(block)
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        self.file.sync_data()?;
        sync_parent(&self.path)
    }
}

/// Queued writes through io_uring, O_DIRECT where the filesystem takes it (the default):
/// writes are gathered into 1 MiB aligned buffers and several are in flight while the
/// next fills, so the sink does not wait for the disk between frames
/// ([`crate::device::file_writer`]). The buffers are allocated once per factory and go
/// from chunk to chunk. A failed write is reported by a later call; [`SequentialFile::
/// confirmed_bytes`] then says how much of the chunk is known to be on disk.
#[derive(Debug, Default)]
pub struct UringFileFactory {
    stage: Arc<Mutex<StageBuffers>>,
}

struct UringSequentialFile {
    writer: FileWriter,
    stage: Arc<Mutex<StageBuffers>>,
}

impl SequentialFileFactory for UringFileFactory {
    fn create(&self, path: &Path) -> io::Result<Box<dyn SequentialFile>> {
        let mut stage = self.stage.lock().unwrap_or_else(|p| p.into_inner());
        let writer = FileWriter::create(path, CHUNK_FILE_MODE, false, &[], HOLDING_BLOCK_BYTES, &mut stage)
            .map_err(into_io_error)?;
        Ok(Box::new(UringSequentialFile { writer, stage: self.stage.clone() }))
    }
}

impl SequentialFile for UringSequentialFile {
    fn write_block(&mut self, block: &[u8]) -> io::Result<()> {
        self.writer.write(block).map_err(into_io_error)
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        let mut stage = self.stage.lock().unwrap_or_else(|p| p.into_inner());
        self.writer.finish(&mut stage).map_err(into_io_error)
    }

    fn confirmed_bytes(&self) -> Option<u64> {
        Some(self.writer.confirmed_bytes())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush().map_err(into_io_error)
    }

    fn completed_bytes(&self) -> Option<u64> {
        Some(self.writer.completed_bytes())
    }
}

/// fsyncs the directory holding `path`, so a created or renamed name survives a crash.
pub(crate) fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

// ---------------------------------------------------------------------------------------
// Settings and outcome

/// What to do with the chunks of a dump that cannot be completed (see the module rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Remove every chunk of the dump.
    #[default]
    Remove,
    /// Keep them, every header saying `PARTIAL=YES`, under their final names (Amanda).
    KeepPartial,
}

/// Everything the chunker needs for one dump, fully resolved by the control layer.
#[derive(Debug, Clone)]
pub struct ChunkerSpec {
    /// The holding disk's `directory`.
    pub holding_dir: PathBuf,
    /// The run directory's name (the driver's 14-digit timestamp).
    pub timestamp: String,
    /// The dump's FILE header: datestamp, host, disk, level, program, compression,
    /// encryption, application, DLE, commands, client/native CRCs. The chunker sets the
    /// type, `CONT_FILENAME`, `PARTIAL`, `SERVER-CRC`, `ORIGSIZE` and the block size.
    pub header: DumpFile,
    /// The holding disk's `chunksize` in bytes (header included; 32 KiB multiple, ≥ 64 KiB).
    pub chunk_size_bytes: u64,
    pub on_failure: OnFailure,
    /// Bytes of the dump before compression and encryption, read when the dump ends for
    /// `ORIGSIZE` (KiB, rounded up); share it with a [`CountingSource`]. When absent or 0
    /// the header's own `original_size_kb` is kept.
    pub original_bytes: Option<Arc<AtomicU64>>,
}

impl ChunkerSpec {
    /// Settings with the default failure handling.
    pub fn new(holding_dir: &Path, timestamp: &str, header: DumpFile, chunk_size_bytes: u64) -> ChunkerSpec {
        ChunkerSpec {
            holding_dir: holding_dir.to_path_buf(),
            timestamp: timestamp.to_owned(),
            header,
            chunk_size_bytes,
            on_failure: OnFailure::default(),
            original_bytes: None,
        }
    }

    /// The run directory, `<holding_dir>/<timestamp>`.
    pub fn run_dir(&self) -> PathBuf {
        self.holding_dir.join(&self.timestamp)
    }

    /// The final name of the first chunk: `<run dir>/<host>.<sanitised disk>.<level>`.
    pub fn first_chunk_path(&self) -> PathBuf {
        let h = &self.header;
        self.run_dir().join(format!("{}.{}.{}", h.host_or_label, sanitise_filename(&h.disk), h.dump_level))
    }

    fn check(&self) -> Result<(), ChunkerError> {
        let bad = |reason: String| Err(ChunkerError::Settings(reason));
        if self.chunk_size_bytes < MIN_CHUNK_BYTES || self.chunk_size_bytes % HOLDING_BLOCK_BYTES as u64 != 0
        {
            return bad(format!(
                "chunksize of {} bytes: it must be a multiple of {HOLDING_BLOCK_BYTES} bytes and at least {MIN_CHUNK_BYTES}",
                self.chunk_size_bytes
            ));
        }
        if self.header.file_type != FileType::File {
            return bad(format!("the dump header must be a FILE header, not {}", self.header.file_type));
        }
        if self.timestamp.is_empty() || self.timestamp.contains('/') {
            return bad(format!("{:?} is not a run directory name", self.timestamp));
        }
        if self.header.host_or_label.is_empty() || self.header.host_or_label.contains('/') {
            return bad(format!("host {:?} cannot be part of a file name", self.header.host_or_label));
        }
        Ok(())
    }
}

/// What a dump left on the holding disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkerOutcome {
    /// Final paths of the chunks, first to last (empty when they were removed).
    pub chunks: Vec<PathBuf>,
    /// Data bytes stored (headers excluded).
    pub data_bytes: u64,
    /// CRC-32C of the stored data (the `SERVER-CRC`).
    pub server_crc: Crc,
    /// The dump is complete (renamed, durable). When false the chunks are `PARTIAL=YES`
    /// or removed, as [`OnFailure`] said.
    pub complete: bool,
    /// Why it is not complete.
    pub error: Option<String>,
}

/// The caller's view of a [`ChunkerSink`] that was handed to the pipeline.
#[derive(Clone, Default)]
pub struct ChunkerHandle(Arc<Mutex<Option<ChunkerOutcome>>>);

impl ChunkerHandle {
    /// The outcome, once the sink finished, failed or was dropped.
    pub fn outcome(&self) -> Option<ChunkerOutcome> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Treats a dump the sink reported complete as failed after all (the pipeline failed
    /// upstream after the sink had finished): applies `on_failure` to its chunks.
    pub fn discard(&self, on_failure: OnFailure, reason: &str) -> Result<(), ChunkerError> {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(outcome) = guard.as_mut() else { return Ok(()) };
        if !outcome.complete {
            return Ok(());
        }
        outcome.complete = false;
        outcome.error = Some(reason.to_owned());
        match on_failure {
            OnFailure::Remove => {
                let chunks = std::mem::take(&mut outcome.chunks);
                for path in &chunks {
                    remove_if_present(path)?;
                }
                if let Some(first) = chunks.first() {
                    sync_parent(first).map_err(|e| io_error("syncing the directory of", first, e))?;
                }
            }
            OnFailure::KeepPartial => {
                for path in &outcome.chunks {
                    rewrite_header(path, |h| {
                        h.is_partial = true;
                        h.block_size_bytes = 0;
                    })?;
                }
            }
        }
        Ok(())
    }

    fn set(&self, outcome: ChunkerOutcome) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
    }
}

fn remove_if_present(path: &Path) -> Result<(), ChunkerError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("removing", path, e)),
        _ => Ok(()),
    }
}

/// Reads the 32 KiB header of a holding chunk, lets `update` change it and writes it back
/// in place, durably (Amanda's `holding_set_from_driver` and the PARTIAL rewrite of
/// `rename_tmp_holding`). The control layer uses it to add ORIGSIZE or CRCs it learns
/// after the dump.
pub fn rewrite_header(path: &Path, update: impl FnOnce(&mut DumpFile)) -> Result<(), ChunkerError> {
    let mut header = crate::holding::read_chunk_header(path).map_err(|e| ChunkerError::Io {
        action: "reading the header of",
        path: path.to_path_buf(),
        source: io::Error::other(e.to_string()),
    })?;
    update(&mut header);
    let mut block = vec![0u8; HOLDING_HEADER_BYTES];
    write_header_into(&header, &mut block)
        .map_err(|source| ChunkerError::Header { path: path.to_path_buf(), source })?;
    let file = OpenOptions::new().write(true).open(path).map_err(|e| io_error("opening", path, e))?;
    file.write_all_at(&block, 0).map_err(|e| io_error("rewriting the header of", path, e))?;
    file.sync_data().map_err(|e| io_error("syncing", path, e))
}

/// A [`Source`] that counts the bytes it passes on, for `ORIGSIZE`.
pub struct CountingSource<S: Source> {
    inner: S,
    count: Arc<AtomicU64>,
}

impl<S: Source> CountingSource<S> {
    pub fn new(inner: S, count: Arc<AtomicU64>) -> CountingSource<S> {
        CountingSource { inner, count }
    }
}

impl<S: Source> Source for CountingSource<S> {
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.fill(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------
// The sink

struct Chunk {
    path: PathBuf,
    tmp: PathBuf,
    data_bytes: u64,
    /// Renamed from `tmp` to `path`. Until then `path` may be another dump's file (a run
    /// with the same timestamp), which a failure must not touch.
    renamed: bool,
}

impl Chunk {
    /// Where the chunk is now.
    fn current(&self) -> &Path {
        if self.renamed {
            &self.path
        } else {
            &self.tmp
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Writing,
    Finished,
    Failed,
}

/// Writes one dump to the holding disk (see the module rules).
///
/// Memory: one 32 KiB header block, allocated in [`ChunkerSink::new`], and the writer's
/// own buffers (the queued writer's staging buffers, allocated once per sink).
pub struct ChunkerSink {
    spec: ChunkerSpec,
    files: Box<dyn SequentialFileFactory>,
    current: Option<Box<dyn SequentialFile>>,
    chunks: Vec<Chunk>,
    /// Data bytes one chunk holds.
    chunk_data_bytes: u64,
    header_block: AlignedBuf,
    crc: Crc32c,
    /// A late write failure left less on disk than was handed out: the CRC of a partial
    /// dump is then read back from the chunks.
    crc_from_disk: bool,
    /// Published for a taper following the dump ([`ChunkerSink::follow`]).
    progress: Option<Arc<HoldingProgress>>,
    stats: StageStats,
    state: State,
    handle: ChunkerHandle,
}

impl ChunkerSink {
    /// Creates the run directory if needed and the first chunk (`.tmp`, header only), so a
    /// holding disk that cannot be written fails before the dump starts.
    pub fn new(spec: ChunkerSpec) -> Result<(ChunkerSink, ChunkerHandle), ChunkerError> {
        ChunkerSink::with_files(spec, Box::<UringFileFactory>::default())
    }

    /// As [`ChunkerSink::new`], writing through `files` (the io_uring writer, or a test
    /// double).
    pub fn with_files(
        spec: ChunkerSpec,
        files: Box<dyn SequentialFileFactory>,
    ) -> Result<(ChunkerSink, ChunkerHandle), ChunkerError> {
        spec.check()?;
        let run_dir = spec.run_dir();
        DirBuilder::new()
            .recursive(true)
            .mode(RUN_DIR_MODE)
            .create(&run_dir)
            .map_err(|e| io_error("creating the run directory", &run_dir, e))?;
        let handle = ChunkerHandle::default();
        let mut sink = ChunkerSink {
            chunk_data_bytes: spec.chunk_size_bytes - HOLDING_HEADER_BYTES as u64,
            header_block: AlignedBuf::new(HOLDING_HEADER_BYTES),
            files,
            current: None,
            chunks: Vec::new(),
            crc: Crc32c::new(),
            crc_from_disk: false,
            progress: None,
            stats: StageStats { name: "chunker".into(), ..StageStats::default() },
            state: State::Writing,
            handle: handle.clone(),
            spec,
        };
        if let Err(e) = sink.open_chunk() {
            sink.fail();
            return Err(e);
        }
        Ok((sink, handle))
    }

    /// Memory the sink allocated for itself (the header block; the writer's are its own).
    pub fn own_buffer_bytes(&self) -> usize {
        self.header_block.len()
    }

    /// Ends the dump as cut short (the pipeline failed upstream): the chunks are removed or
    /// marked partial as `on_failure` says; a partial dump keeps every byte received.
    /// Returns the error recorded in the outcome.
    /// Lets a taper follow this dump while it is written ([`super::follow`]): from now on
    /// the sink publishes its chunks, the data on disk and the end of the dump.
    pub fn follow(&mut self) -> Arc<HoldingProgress> {
        let progress = Arc::new(HoldingProgress::default());
        for chunk in &self.chunks {
            progress.chunk_opened(chunk.tmp.clone(), chunk.path.clone());
        }
        self.progress = Some(progress.clone());
        self.publish_written(false);
        progress
    }

    /// Publishes the data of the last chunk that is on disk (all of it once `closed`).
    fn publish_written(&self, closed: bool) {
        let (Some(progress), Some(chunk)) = (&self.progress, self.chunks.last()) else { return };
        let on_disk = match self.current.as_ref().and_then(|f| f.completed_bytes()) {
            Some(bytes) if !closed => bytes.saturating_sub(HOLDING_HEADER_BYTES as u64).min(chunk.data_bytes),
            _ => chunk.data_bytes,
        };
        progress.chunk_written(on_disk, closed);
    }

    pub fn abort(&mut self, reason: &str) -> ChunkerError {
        let error = ChunkerError::CutShort { path: self.spec.first_chunk_path(), reason: reason.to_owned() };
        if self.state == State::Writing {
            if self.spec.on_failure == OnFailure::KeepPartial {
                // Best effort: if this write fails the chunk is cut back to what is on disk.
                if let Some(file) = self.current.as_mut() {
                    if file.flush().is_err() {
                        self.settle_after_write_error();
                    }
                }
            }
            self.record_failure(&error);
        }
        error
    }

    fn chunk_header(&self, index: usize) -> DumpFile {
        let mut h = self.spec.header.clone();
        h.file_type = if index == 0 { FileType::File } else { FileType::ContFile };
        if index > 0 {
            h.part_number = 0;
            h.total_parts = 0;
        }
        h.continuation_filename.clear();
        h
    }

    fn chunk_path(&self, index: usize) -> PathBuf {
        let first = self.spec.first_chunk_path();
        if index == 0 {
            first
        } else {
            let mut name = first.into_os_string();
            name.push(format!(".{index}"));
            PathBuf::from(name)
        }
    }

    /// Opens the next chunk: creates `<name>.tmp`, writes its header, then (for every
    /// chunk but the first) finishes the previous chunk and points its header at this one.
    fn open_chunk(&mut self) -> Result<(), ChunkerError> {
        let index = self.chunks.len();
        let path = self.chunk_path(index);
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut header = self.chunk_header(index);
        // xfer-dest-holding.c write_header: the chunk headers say bs=32k.
        header.block_size_bytes = HOLDING_HEADER_BYTES;
        write_header_into(&header, &mut self.header_block)
            .map_err(|source| ChunkerError::Header { path: tmp.clone(), source })?;
        // Finish the previous chunk before starting this one: its data must be durable
        // before anything points at it.
        self.finish_current()?;
        let mut file = self.files.create(&tmp).map_err(|e| io_error("creating", &tmp, e))?;
        self.chunks.push(Chunk { path: path.clone(), tmp: tmp.clone(), data_bytes: 0, renamed: false });
        file.write_block(&self.header_block).map_err(|e| {
            // Amanda unlinks a chunk whose header could not be written; so do we, so the
            // chain ends at the previous, complete chunk.
            let _ = fs::remove_file(&tmp);
            self.chunks.pop();
            io_error("writing the header of", &tmp, e)
        })?;
        self.current = Some(file);
        if let Some(progress) = &self.progress {
            progress.chunk_opened(tmp.clone(), path.clone());
        }
        if index > 0 {
            let prev = &self.chunks[index - 1];
            let mut h = self.chunk_header(index - 1);
            h.block_size_bytes = HOLDING_HEADER_BYTES;
            h.continuation_filename = path.display().to_string();
            write_header_at(&prev.tmp, &h)?;
        }
        Ok(())
    }

    /// Room for data left in the current chunk; opens the next chunk when it is full.
    fn room(&mut self) -> Result<u64, ChunkerError> {
        let used = self.chunks.last().map_or(self.chunk_data_bytes, |c| c.data_bytes);
        if used < self.chunk_data_bytes {
            return Ok(self.chunk_data_bytes - used);
        }
        self.open_chunk()?;
        Ok(self.chunk_data_bytes)
    }

    fn write(&mut self, data: &[u8]) -> Result<(), ChunkerError> {
        let chunk = self.chunks.last_mut().expect("a chunk is open while writing");
        let file = self.current.as_mut().expect("a chunk is open while writing");
        if let Err(e) = file.write_block(data) {
            let error = io_error("writing", &chunk.tmp, e);
            self.settle_after_write_error();
            return Err(error);
        }
        // The CRC covers what is stored, so a dump cut short has the CRC of its bytes.
        self.crc.update(data);
        chunk.data_bytes += data.len() as u64;
        self.stats.bytes_out += data.len() as u64;
        self.publish_written(false);
        Ok(())
    }

    /// Makes the chunk being written durable and closes it. Writes still queued are
    /// waited for first, so their failure is reported as a write to this chunk.
    fn finish_current(&mut self) -> Result<(), ChunkerError> {
        let Some(file) = self.current.as_mut() else { return Ok(()) };
        let path = self.chunks.last().expect("a current file has a chunk").tmp.clone();
        if let Err(e) = file.flush() {
            self.settle_after_write_error();
            return Err(io_error("writing", &path, e));
        }
        let file = self.current.take().expect("checked above");
        file.finish().map_err(|e| io_error("finishing", &path, e))?;
        self.publish_written(true);
        Ok(())
    }

    /// A queued writer reports a failure late: what it accepted earlier may not be on
    /// disk. Count only what is, and take the CRC again from the disk (the CRC must cover
    /// exactly the stored bytes of a partial dump).
    fn settle_after_write_error(&mut self) {
        let (Some(chunk), Some(file)) = (self.chunks.last_mut(), self.current.as_ref()) else { return };
        if let Some(confirmed) = file.confirmed_bytes() {
            // Cut back to whole holding blocks, as a failed write is cut back to the last
            // whole one.
            let on_disk = confirmed.saturating_sub(HOLDING_HEADER_BYTES as u64) / HOLDING_BLOCK_BYTES as u64
                * HOLDING_BLOCK_BYTES as u64;
            if on_disk < chunk.data_bytes {
                chunk.data_bytes = on_disk;
                self.crc_from_disk = true;
            }
        }
    }

    /// Hands `frame` to the chunk writers, starting the next chunk where one is full (the
    /// writer re-blocks: see the module rules).
    fn take(&mut self, frame: &[u8]) -> Result<(), ChunkerError> {
        let mut data = frame;
        while !data.is_empty() {
            let n = (data.len() as u64).min(self.room()?) as usize;
            self.write(&data[..n])?;
            data = &data[n..];
        }
        Ok(())
    }

    fn complete(&mut self) -> Result<(), ChunkerError> {
        self.finish_current()?;
        // holding_set_from_driver: the first header, re-parsed (block size 0), with the
        // sizes and CRCs known now.
        let mut first = self.chunk_header(0);
        first.continuation_filename =
            self.chunks.get(1).map(|c| c.path.display().to_string()).unwrap_or_default();
        self.finalise_first(&mut first);
        write_header_at(&self.chunks[0].tmp, &first)?;
        for chunk in &mut self.chunks {
            fs::rename(&chunk.tmp, &chunk.path).map_err(|e| io_error("renaming", &chunk.tmp, e))?;
            chunk.renamed = true;
        }
        let first_path = &self.chunks[0].path;
        sync_parent(first_path).map_err(|e| io_error("syncing the directory of", first_path, e))?;
        if let Some(progress) = &self.progress {
            progress.ended(true);
        }
        Ok(())
    }

    fn finalise_first(&self, first: &mut DumpFile) {
        first.block_size_bytes = 0;
        first.server_crc = self.crc.to_crc();
        if let Some(bytes) = self.spec.original_bytes.as_ref().map(|b| b.load(Ordering::Relaxed)) {
            if bytes > 0 {
                first.original_size_kb = bytes.div_ceil(1024);
            }
        }
    }

    /// Applies `on_failure` after an error and records the outcome.
    fn record_failure(&mut self, error: &ChunkerError) {
        self.fail();
        self.handle.set(ChunkerOutcome {
            chunks: match self.spec.on_failure {
                OnFailure::Remove => Vec::new(),
                OnFailure::KeepPartial => self.chunks.iter().map(|c| c.path.clone()).collect(),
            },
            data_bytes: self.chunks.iter().map(|c| c.data_bytes).sum(),
            server_crc: self.crc.to_crc(),
            complete: false,
            error: Some(error.to_string()),
        });
    }

    /// Cleans up after a failure: best effort, since the first error is what is reported.
    fn fail(&mut self) {
        if let Some(progress) = &self.progress {
            progress.ended(false);
        }
        self.state = State::Failed;
        self.current = None;
        match self.spec.on_failure {
            OnFailure::Remove => {
                for chunk in &self.chunks {
                    let _ = fs::remove_file(chunk.current());
                }
            }
            OnFailure::KeepPartial => {
                // Cut the last chunk back to the writes that completed (xfer-dest-holding
                // ftruncates to chunk_offset), then rename_tmp_holding(…, complete=0).
                if let Some(last) = self.chunks.last() {
                    if let Ok(f) = OpenOptions::new().write(true).open(last.current()) {
                        let _ = f.set_len(HOLDING_HEADER_BYTES as u64 + last.data_bytes);
                    }
                }
                if self.crc_from_disk {
                    self.crc = self.stored_crc();
                }
                for i in 0..self.chunks.len() {
                    let mut h = self.chunk_header(i);
                    h.continuation_filename =
                        self.chunks.get(i + 1).map(|c| c.path.display().to_string()).unwrap_or_default();
                    if i == 0 {
                        self.finalise_first(&mut h);
                    }
                    h.is_partial = true;
                    h.block_size_bytes = 0;
                    let chunk = &self.chunks[i];
                    let _ = write_header_at(chunk.current(), &h);
                    if !chunk.renamed && fs::rename(&chunk.tmp, &chunk.path).is_ok() {
                        self.chunks[i].renamed = true;
                    }
                }
            }
        }
        if let Some(chunk) = self.chunks.first() {
            let _ = sync_parent(&chunk.path);
        }
    }
}

impl ChunkerSink {
    /// The CRC of the data stored in the chunks, read back (after a late write failure).
    /// A chunk that cannot be read counts as empty: the dump is partial either way.
    fn stored_crc(&self) -> Crc32c {
        let mut crc = Crc32c::new();
        let mut block = vec![0u8; READ_BACK_BYTES];
        for chunk in &self.chunks {
            let Ok(f) = File::open(chunk.current()) else { continue };
            let mut at = HOLDING_HEADER_BYTES as u64;
            let end = at + chunk.data_bytes;
            while at < end {
                let n = ((end - at) as usize).min(block.len());
                if f.read_exact_at(&mut block[..n], at).is_err() {
                    break;
                }
                crc.update(&block[..n]);
                at += n as u64;
            }
        }
        crc
    }
}

/// Writes `header` into the first 32 KiB of `path`, durably.
fn write_header_at(path: &Path, header: &DumpFile) -> Result<(), ChunkerError> {
    let mut block = [0u8; HOLDING_HEADER_BYTES];
    write_header_into(header, &mut block)
        .map_err(|source| ChunkerError::Header { path: path.to_path_buf(), source })?;
    let file = OpenOptions::new().write(true).open(path).map_err(|e| io_error("opening", path, e))?;
    file.write_all_at(&block, 0).map_err(|e| io_error("rewriting the header of", path, e))?;
    file.sync_data().map_err(|e| io_error("syncing", path, e))
}

impl Sink for ChunkerSink {
    fn consume(&mut self, frame: PoolBuf) -> Result<(), String> {
        if self.state != State::Writing {
            return Err("holding disk: the dump already ended".into());
        }
        let started = Instant::now();
        let bytes = frame.bytes();
        self.stats.bytes_in += bytes.len() as u64;
        let result = self.take(bytes);
        self.stats.busy += started.elapsed();
        result.map_err(|e| {
            self.record_failure(&e);
            e.to_string()
        })
    }

    fn finish(&mut self) -> Result<(), String> {
        if self.state != State::Writing {
            return Err("holding disk: the dump already ended".into());
        }
        let started = Instant::now();
        let result = self.complete();
        self.stats.busy += started.elapsed();
        match result {
            Ok(()) => {
                self.state = State::Finished;
                self.handle.set(ChunkerOutcome {
                    chunks: self.chunks.iter().map(|c| c.path.clone()).collect(),
                    data_bytes: self.chunks.iter().map(|c| c.data_bytes).sum(),
                    server_crc: self.crc.to_crc(),
                    complete: true,
                    error: None,
                });
                Ok(())
            }
            Err(e) => {
                self.record_failure(&e);
                Err(e.to_string())
            }
        }
    }

    fn stats(&self) -> StageStats {
        self.stats.clone()
    }

    fn abort(&mut self, reason: &str) {
        let _ = ChunkerSink::abort(self, reason);
    }
}

impl Drop for ChunkerSink {
    /// A sink dropped before `finish` (a pipeline stage failed) leaves no dump that looks
    /// complete.
    fn drop(&mut self) {
        if self.state == State::Writing {
            self.abort("the pipeline stopped before the end of the dump");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::test_support::{pattern, TempDir};
    use crate::format::header::parse_header;
    use crate::holding::HoldingReader;
    use crate::pipeline::pool::{Budget, BufferPool};
    use std::io::Read;
    use std::process::Command;

    const K32: usize = 32 * 1024;

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

    fn header() -> DumpFile {
        let mut h = DumpFile::new_file("20240506070809", "client.example", "/home/a:b", 1, "GNUTAR");
        h.compressed = true;
        h.compression_suffix = ".gz".into();
        h.recover_cmd = "/bin/tar -xpGf - ...".into();
        h.uncompress_cmd = "/bin/gzip -dc |".into();
        h
    }

    fn spec(dir: &Path, chunk: u64) -> ChunkerSpec {
        ChunkerSpec::new(dir, "20240506070809", header(), chunk)
    }

    /// Feeds `data` in frames whose sizes cycle through `sizes`.
    fn feed(sink: &mut ChunkerSink, data: &[u8], sizes: &[usize]) -> Result<(), String> {
        let largest = sizes.iter().copied().max().unwrap();
        let pool = pool(largest);
        let mut at = 0;
        let mut i = 0;
        while at < data.len() {
            let n = sizes[i % sizes.len()].min(data.len() - at);
            let mut b = pool.take().0;
            b.space()[..n].copy_from_slice(&data[at..at + n]);
            b.len = n;
            sink.consume(b)?;
            at += n;
            i += 1;
        }
        Ok(())
    }

    fn raw_header(path: &Path) -> DumpFile {
        let mut block = vec![0u8; K32];
        File::open(path).unwrap().read_exact(&mut block).unwrap();
        parse_header(&block).unwrap()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn chunks_have_amandas_layout() {
        let dir = TempDir::new("chunker-layout");
        // 128 KiB chunks: 32 KiB header + 96 KiB data each.
        let mut s = spec(dir.path(), 4 * K32 as u64);
        let orig = Arc::new(AtomicU64::new(1_000_000));
        s.original_bytes = Some(orig);
        let first = s.first_chunk_path();
        let (mut sink, handle) = ChunkerSink::new(s).unwrap();
        let data = pattern(250_000, 1);
        feed(&mut sink, &data, &[7_001, 65_536, 3, 100_000]).unwrap();
        // Until the dump completes only .tmp names exist.
        let run = dir.path().join("20240506070809");
        assert!(names(&run).iter().all(|n| n.ends_with(".tmp")), "{:?}", names(&run));
        sink.finish().unwrap();

        assert_eq!(
            names(&run),
            ["client.example._home_a_b.1", "client.example._home_a_b.1.1", "client.example._home_a_b.1.2"]
        );
        assert_eq!(first, run.join("client.example._home_a_b.1"));
        let sizes: Vec<u64> = names(&run).iter().map(|n| fs::metadata(run.join(n)).unwrap().len()).collect();
        assert_eq!(sizes, [4 * K32 as u64, 4 * K32 as u64, (K32 + 250_000 - 2 * 3 * K32) as u64]);

        let h0 = raw_header(&first);
        let h1 = raw_header(&run.join("client.example._home_a_b.1.1"));
        let h2 = raw_header(&run.join("client.example._home_a_b.1.2"));
        assert_eq!(
            (h0.file_type, h1.file_type, h2.file_type),
            (FileType::File, FileType::ContFile, FileType::ContFile)
        );
        assert_eq!(h0.continuation_filename, run.join("client.example._home_a_b.1.1").display().to_string());
        assert_eq!(h1.continuation_filename, run.join("client.example._home_a_b.1.2").display().to_string());
        assert_eq!(h2.continuation_filename, "");
        assert_eq!(h0.server_crc, Crc { crc: crate::format::crc::crc32c(&data), size: 250_000 });
        assert_eq!(h0.original_size_kb, 977);
        assert!(!h0.is_partial && !h1.is_partial && !h2.is_partial);
        assert_eq!(
            (h1.disk.as_str(), h1.dump_level, h1.compression_suffix.as_str()),
            ("/home/a:b", 1, ".gz")
        );
        // The first header was re-parsed by the final rewrite (no bs=), the others keep bs=32k.
        let text0 = String::from_utf8_lossy(&fs::read(&first).unwrap()[..K32]).into_owned();
        let text1 =
            String::from_utf8_lossy(&fs::read(run.join("client.example._home_a_b.1.1")).unwrap()[..K32])
                .into_owned();
        assert!(text0.contains("dd if=<tape> skip=1 |"), "{text0}");
        assert!(text1.contains("dd if=<tape> bs=32k skip=1 |"), "{text1}");

        let mut back = Vec::new();
        HoldingReader::open(&first).unwrap().read_to_end(&mut back).unwrap();
        assert!(back == data);
        let outcome = handle.outcome().unwrap();
        assert!(outcome.complete);
        assert_eq!(outcome.chunks.len(), 3);
        assert_eq!(outcome.data_bytes, 250_000);
    }

    #[test]
    fn a_dump_ending_on_a_chunk_boundary_has_no_empty_chunk_and_an_empty_dump_has_one_header() {
        let dir = TempDir::new("chunker-boundary");
        let s = spec(dir.path(), 4 * K32 as u64);
        let first = s.first_chunk_path();
        let (mut sink, _) = ChunkerSink::new(s).unwrap();
        feed(&mut sink, &pattern(6 * K32, 2), &[K32 * 3]).unwrap();
        sink.finish().unwrap();
        let run = first.parent().unwrap();
        assert_eq!(names(run).len(), 2);
        assert_eq!(raw_header(&run.join("client.example._home_a_b.1.1")).continuation_filename, "");

        let dir = TempDir::new("chunker-empty");
        let s = spec(dir.path(), 4 * K32 as u64);
        let first = s.first_chunk_path();
        let (mut sink, handle) = ChunkerSink::new(s).unwrap();
        sink.finish().unwrap();
        assert_eq!(fs::metadata(&first).unwrap().len(), K32 as u64);
        assert_eq!(raw_header(&first).server_crc, Crc { crc: 0, size: 0 });
        assert_eq!(handle.outcome().unwrap().data_bytes, 0);
    }

    /// (file, offset, length) of every write.
    type WriteLog = Vec<(PathBuf, u64, usize)>;

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<WriteLog>>);
    struct RecFile {
        inner: Box<dyn SequentialFile>,
        path: PathBuf,
        offset: u64,
        log: Recorder,
    }
    impl SequentialFileFactory for Recorder {
        fn create(&self, path: &Path) -> io::Result<Box<dyn SequentialFile>> {
            Ok(Box::new(RecFile {
                inner: StdFileFactory.create(path)?,
                path: path.into(),
                offset: 0,
                log: self.clone(),
            }))
        }
    }
    impl SequentialFile for RecFile {
        fn write_block(&mut self, block: &[u8]) -> io::Result<()> {
            self.log.0.lock().unwrap().push((self.path.clone(), self.offset, block.len()));
            self.offset += block.len() as u64;
            self.inner.write_block(block)
        }
        fn finish(self: Box<Self>) -> io::Result<()> {
            self.inner.finish()
        }
    }

    #[test]
    fn frames_of_any_size_reach_the_writer_in_order_split_only_at_chunk_ends() {
        let dir = TempDir::new("chunker-frames");
        // 1 MiB chunks: 32 KiB header + 992 KiB data.
        let s = spec(dir.path(), 1 << 20);
        let first = s.first_chunk_path();
        let rec = Recorder::default();
        let (mut sink, _) = ChunkerSink::with_files(s, Box::new(rec.clone())).unwrap();
        let data = pattern(3_000_017, 3);
        feed(&mut sink, &data, &[1, 4095, 32_769, 262_144, 77_777, 5]).unwrap();
        sink.finish().unwrap();
        let log = rec.0.lock().unwrap().clone();
        let mut per_file: std::collections::BTreeMap<PathBuf, u64> = Default::default();
        for (i, (path, offset, len)) in log.iter().enumerate() {
            let next = per_file.entry(path.clone()).or_insert(0);
            assert_eq!(*offset, *next, "write {i} to {} out of order", path.display());
            *next += *len as u64;
            assert!(offset + *len as u64 <= 1 << 20, "write {i} crosses the chunk end");
        }
        // Two full chunks (header included) and the rest in a third.
        assert_eq!(per_file.len(), 3, "{per_file:?}");
        assert_eq!(per_file.values().filter(|&&n| n == 1 << 20).count(), 2, "{per_file:?}");
        let mut back = Vec::new();
        HoldingReader::open(&first).unwrap().read_to_end(&mut back).unwrap();
        assert!(back == data);
    }

    #[test]
    fn a_dump_cut_short_is_removed_or_marked_partial() {
        // KeepPartial: every header says PARTIAL=YES, names are final, data readable.
        let dir = TempDir::new("chunker-partial");
        let mut s = spec(dir.path(), 4 * K32 as u64);
        s.on_failure = OnFailure::KeepPartial;
        let first = s.first_chunk_path();
        let (mut sink, handle) = ChunkerSink::new(s).unwrap();
        let data = pattern(200_000, 5);
        feed(&mut sink, &data, &[10_000]).unwrap();
        let e = sink.abort("client went away");
        assert!(e.to_string().contains("cut short: client went away"), "{e}");
        drop(sink);
        let run = first.parent().unwrap();
        let all = names(run);
        assert_eq!(all.len(), 3, "{all:?}");
        for n in &all {
            assert!(raw_header(&run.join(n)).is_partial, "{n}");
        }
        let mut back = Vec::new();
        HoldingReader::open(&first).unwrap().read_to_end(&mut back).unwrap();
        // Every byte received is kept, and the CRC is the stored bytes' (Amanda's amflush
        // compares them).
        assert!(back == data);
        let o = handle.outcome().unwrap();
        assert!(!o.complete && o.chunks.len() == 3);
        assert_eq!(
            raw_header(&first).server_crc,
            Crc { crc: crate::format::crc::crc32c(&data), size: 200_000 }
        );
        assert_eq!(o.server_crc, raw_header(&first).server_crc);

        // Remove (default), by dropping the sink unfinished: nothing is left.
        let dir = TempDir::new("chunker-remove");
        let s = spec(dir.path(), 4 * K32 as u64);
        let first = s.first_chunk_path();
        let (mut sink, handle) = ChunkerSink::new(s).unwrap();
        feed(&mut sink, &data, &[10_000]).unwrap();
        drop(sink);
        assert!(names(first.parent().unwrap()).is_empty());
        let o = handle.outcome().unwrap();
        assert!(!o.complete && o.chunks.is_empty() && o.error.unwrap().contains("pipeline stopped"));
    }

    #[test]
    fn a_failed_dump_never_removes_an_older_file_of_the_same_name() {
        let dir = TempDir::new("chunker-same-name");
        let s = spec(dir.path(), 4 * K32 as u64);
        let first = s.first_chunk_path();
        fs::create_dir_all(first.parent().unwrap()).unwrap();
        fs::write(&first, b"an older dump").unwrap();
        let (mut sink, _) = ChunkerSink::new(s).unwrap();
        feed(&mut sink, &pattern(50_000, 11), &[10_000]).unwrap();
        drop(sink);
        assert_eq!(fs::read(&first).unwrap(), b"an older dump");
        assert_eq!(names(first.parent().unwrap()), ["client.example._home_a_b.1"]);
    }

    #[test]
    fn a_finished_dump_can_be_discarded_when_the_pipeline_failed_after_all() {
        let dir = TempDir::new("chunker-discard");
        let s = spec(dir.path(), 4 * K32 as u64);
        let first = s.first_chunk_path();
        let (mut sink, handle) = ChunkerSink::new(s).unwrap();
        feed(&mut sink, &pattern(100_000, 6), &[30_000]).unwrap();
        sink.finish().unwrap();
        handle.discard(OnFailure::KeepPartial, "source failed").unwrap();
        assert!(raw_header(&first).is_partial);
        assert!(raw_header(&first.with_extension("1.1")).is_partial);
        handle.discard(OnFailure::Remove, "again").unwrap(); // no longer complete: no-op
        assert!(first.exists());
    }

    /// Accepts `budget` bytes, then one short write (half of the request), then fails as
    /// a device that ran out of room mid-write does.
    struct ShortWrites(Arc<AtomicU64>);
    struct ShortFile(File, Arc<AtomicU64>);
    impl SequentialFileFactory for ShortWrites {
        fn create(&self, path: &Path) -> io::Result<Box<dyn SequentialFile>> {
            Ok(Box::new(ShortFile(File::create(path)?, self.0.clone())))
        }
    }
    impl SequentialFile for ShortFile {
        fn write_block(&mut self, block: &[u8]) -> io::Result<()> {
            let left = self.1.load(Ordering::Relaxed);
            if left >= block.len() as u64 {
                self.1.fetch_sub(block.len() as u64, Ordering::Relaxed);
                return self.0.write_all(block);
            }
            self.0.write_all(&block[..block.len() / 2])?;
            Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write whole buffer"))
        }
        fn finish(self: Box<Self>) -> io::Result<()> {
            self.0.sync_data()
        }
    }

    #[test]
    fn a_short_write_fails_the_dump_naming_the_chunk_and_cuts_it_back() {
        let dir = TempDir::new("chunker-short");
        let mut s = spec(dir.path(), 4 * K32 as u64);
        s.on_failure = OnFailure::KeepPartial;
        let first = s.first_chunk_path();
        // 96 KiB of data per chunk; frames of 50,000 bytes are written as 50,000, 48,304
        // (chunk 1 full), then 1,696 and 50,000 into chunk 2: two headers and those
        // 150,000 bytes pass, the next write is short.
        let budget = Arc::new(AtomicU64::new(2 * K32 as u64 + 150_000));
        let (mut sink, handle) = ChunkerSink::with_files(s, Box::new(ShortWrites(budget))).unwrap();
        let data = pattern(400_000, 7);
        let e = feed(&mut sink, &data, &[50_000]).unwrap_err();
        let second = first.with_extension("1.1");
        assert!(
            e.contains(&format!("writing {}.tmp: failed to write whole buffer", second.display())),
            "{e}"
        );
        // A failed sink refuses more data.
        assert!(sink.finish().is_err());
        drop(sink);
        let stored = 150_000u64;
        let second_data = stored - 3 * K32 as u64;
        assert_eq!(
            fs::metadata(&second).unwrap().len(),
            K32 as u64 + second_data,
            "cut back to whole writes"
        );
        assert!(raw_header(&first).is_partial && raw_header(&second).is_partial);
        let mut back = Vec::new();
        HoldingReader::open(&first).unwrap().read_to_end(&mut back).unwrap();
        assert!(back[..] == data[..stored as usize]);
        let o = handle.outcome().unwrap();
        assert_eq!(o.data_bytes, stored);
        assert_eq!(
            raw_header(&first).server_crc,
            Crc { crc: crate::format::crc::crc32c(&back), size: stored }
        );
        assert!(o.error.unwrap().contains("failed to write whole buffer"));
    }

    /// A 2 MiB tmpfs, unmounted when dropped (also when the test fails).
    struct Tmpfs(TempDir);
    impl Tmpfs {
        fn mount(tag: &str) -> Tmpfs {
            let dir = TempDir::new(tag);
            let out = Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
                .arg(dir.path())
                .output()
                .expect("run mount");
            assert!(
                out.status.success(),
                "mounting a tmpfs on {} failed (the test needs root): {}",
                dir.path().display(),
                String::from_utf8_lossy(&out.stderr)
            );
            Tmpfs(dir)
        }
    }
    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0.path()).status();
        }
    }

    #[test]
    fn a_full_holding_disk_fails_the_dump_cleanly_and_leaves_other_dumps_alone() {
        for on_failure in [OnFailure::Remove, OnFailure::KeepPartial] {
            let fs_dir = Tmpfs::mount("chunker-enospc");
            let holding = fs_dir.0.path();
            // An earlier dump on the same holding disk.
            let earlier_dir = holding.join("20240101000000");
            fs::create_dir(&earlier_dir).unwrap();
            let earlier = earlier_dir.join("other.host._etc.0");
            let earlier_bytes = pattern(300_000, 8);
            fs::write(&earlier, &earlier_bytes).unwrap();

            let mut s = spec(holding, 512 * 1024);
            s.on_failure = on_failure;
            let first = s.first_chunk_path();
            let (mut sink, handle) = ChunkerSink::new(s).unwrap();
            let e = feed(&mut sink, &pattern(4 << 20, 9), &[1 << 20]).unwrap_err();
            assert!(e.starts_with("holding disk full: writing "), "{e}");
            assert!(
                e.contains("client.example._home_a_b.1") && e.contains(".tmp: No space left on device"),
                "{e}"
            );
            drop(sink);

            assert_eq!(fs::read(&earlier).unwrap(), earlier_bytes, "an earlier dump was touched");
            let run = first.parent().unwrap();
            let left = names(run);
            let o = handle.outcome().unwrap();
            assert!(!o.complete);
            match on_failure {
                OnFailure::Remove => assert!(left.is_empty(), "{left:?}"),
                OnFailure::KeepPartial => {
                    assert!(!left.is_empty() && left.iter().all(|n| !n.ends_with(".tmp")), "{left:?}");
                    for n in &left {
                        let p = run.join(n);
                        assert!(raw_header(&p).is_partial, "{n}");
                        assert_eq!((fs::metadata(&p).unwrap().len() - K32 as u64) % K32 as u64, 0);
                    }
                    let mut back = Vec::new();
                    HoldingReader::open(&first).unwrap().read_to_end(&mut back).unwrap();
                    assert_eq!(back.len() as u64, o.data_bytes);
                    assert_eq!(raw_header(&first).server_crc.size, o.data_bytes);
                    assert!(back[..] == pattern(4 << 20, 9)[..back.len()]);
                }
            }
        }
    }

    #[test]
    fn bad_settings_are_refused_before_writing() {
        let dir = TempDir::new("chunker-settings");
        let e = ChunkerSink::new(spec(dir.path(), 40_000)).err().unwrap();
        assert!(e.to_string().contains("chunksize of 40000 bytes"), "{e}");
        let e = ChunkerSink::new(spec(dir.path(), K32 as u64)).err().unwrap();
        assert!(e.to_string().contains("at least 65536"), "{e}");
        assert!(names(dir.path()).is_empty());
    }
}
