//! The queued writer of one file for file-backed devices (`file:` vtapes) and the holding
//! chunker: blocks are gathered into large aligned buffers that go to the disk with O_DIRECT
//! through io_uring, several in flight, so the caller never waits for the disk between
//! blocks.
//!
//! # Why a device keeps its own buffers
//!
//! [`Device::write_block`](super::Device::write_block) lends a block only for the call,
//! but a queued write needs its memory until the kernel is done with it. The block is
//! therefore copied into a staging buffer of [`STAGE_BYTES`] (rounded to whole device
//! blocks) — one `memcpy`, at memory speed — and a full staging buffer is submitted while
//! the next one fills. Blocking writes from the caller's buffer were measured instead:
//! with 32 KiB blocks every O_DIRECT write waits for the disk (0.87 s against 0.64 s
//! buffered for 256 MiB), and buffered writes pay the page cache and a long `fdatasync`.
//!
//! # Rules
//!
//! * The header (the first `header.len()` bytes) is written and waited for when the file
//!   is created, so a volume too full for a header is known at once and the caller can
//!   remove the file (a file without a complete header would stop every reader).
//! * Data is written in file order (the ring's rule 1), O_DIRECT while aligned, the tail
//!   through the page cache (rule 3 of [`crate::pipeline::uring::file`]).
//! * [`FileWriter::finish`] waits for every write, then `fdatasync`s the file and fsyncs
//!   its directory: the file is durable when it returns.
//! * After an error the writer stops; [`FileIoError::lowest_offset`] tells how much of the
//!   file is known to be written, so the device can cut it back to whole blocks.
//! * Memory: [`STAGE_BUFFERS`] buffers, allocated once per device and handed from file to
//!   file ([`StageBuffers`]); a writer that fails loses the buffers it had in flight and
//!   the next file allocates replacements.

use std::path::{Path, PathBuf};

use crate::pipeline::uring::file::{FileIoError, OwnedBuf, SequentialWriter, WriteOptions};
use crate::pipeline::uring::ring::{IoBuf, Ring};

/// Bytes per queued write: large writes keep the disk streaming, and 1 MiB is where this
/// machine's O_DIRECT throughput levels off (PERFORMANCE.md).
pub const STAGE_BYTES: usize = 1 << 20;

/// Staging buffers per device: one filling, the rest in flight.
pub const STAGE_BUFFERS: usize = 5;

/// A device's staging buffers while no file is being written.
#[derive(Default)]
pub struct StageBuffers {
    buffers: Vec<OwnedBuf>,
    stage_bytes: usize,
}

impl std::fmt::Debug for StageBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StageBuffers({} × {} bytes)", self.buffers.len(), self.stage_bytes)
    }
}

impl StageBuffers {
    /// Bytes of one staging buffer for `block_bytes` blocks: [`STAGE_BYTES`] rounded down
    /// to whole blocks, at least one block.
    pub fn stage_bytes_for(block_bytes: usize) -> usize {
        (STAGE_BYTES / block_bytes).max(1) * block_bytes
    }

    /// Takes the buffers for a file of `block_bytes` blocks, allocating what is missing.
    fn take(&mut self, block_bytes: usize, header_bytes: usize) -> Vec<OwnedBuf> {
        let stage = Self::stage_bytes_for(block_bytes).max(header_bytes);
        if stage != self.stage_bytes {
            self.buffers.clear();
            self.stage_bytes = stage;
        }
        while self.buffers.len() < STAGE_BUFFERS {
            self.buffers.push(OwnedBuf::new(stage));
        }
        std::mem::take(&mut self.buffers)
    }
}

/// One volume file being written (see the module rules).
pub struct FileWriter {
    // Declared first so it is dropped (waiting for writes in flight and unregistering the
    // buffers) before the buffers below are.
    writer: SequentialWriter<OwnedBuf, Box<Ring<OwnedBuf>>>,
    free: Vec<OwnedBuf>,
    current: Option<OwnedBuf>,
    filled: usize,
    stage_bytes: usize,
    path: PathBuf,
    /// Where the first failed write started, once one has.
    failed_at: Option<u64>,
    /// Buffers submitted and not yet back: (address, file offset of their first byte).
    in_flight: Vec<(usize, u64)>,
}

/// Puts buffers whose writes completed back on the free list.
fn take_back(
    free: &mut Vec<OwnedBuf>,
    in_flight: &mut Vec<(usize, u64)>,
    done: impl Iterator<Item = OwnedBuf>,
) {
    for buf in done {
        let addr = buf.aligned().as_ptr() as usize;
        in_flight.retain(|&(a, _)| a != addr);
        free.push(buf);
    }
}

impl std::fmt::Debug for FileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileWriter({}, {} bytes queued)", self.path.display(), self.writer.position())
    }
}

impl FileWriter {
    /// Creates `path` (`mode` before the umask; with `create_new` it must not exist,
    /// otherwise it is truncated), writes `header` (if not empty) and waits for it.
    /// Returns the writer, or the error (the buffers are back in `stage`).
    pub fn create(
        path: &Path,
        mode: u32,
        create_new: bool,
        header: &[u8],
        block_bytes: usize,
        stage: &mut StageBuffers,
    ) -> Result<FileWriter, FileIoError> {
        let mut buffers = stage.take(block_bytes, header.len());
        let stage_bytes = stage.stage_bytes;
        let queue_err = |source| FileIoError::Queue { path: path.to_path_buf(), source };
        let mut ring = Box::new(Ring::new(STAGE_BUFFERS - 1).map_err(queue_err)?);
        ring.register_buffers(buffers.iter().map(|b| b.aligned()));
        let opts = WriteOptions { create_new, direct: true, mode };
        let mut writer = match SequentialWriter::create(ring, path, opts) {
            Ok(w) => w,
            Err(e) => {
                stage.buffers = buffers;
                return Err(e);
            }
        };
        if !header.is_empty() {
            let mut first = buffers.pop().expect("STAGE_BUFFERS > 0");
            first.space()[..header.len()].copy_from_slice(header);
            let result = writer.write_header(first, header.len()).map(|done| buffers.extend(done));
            let result = result.and_then(|()| writer.flush().map(|done| buffers.extend(done)));
            if let Err(e) = result {
                drop(writer);
                stage.buffers = buffers;
                return Err(e);
            }
        }
        let current = buffers.pop();
        Ok(FileWriter {
            writer,
            free: buffers,
            current,
            filled: 0,
            stage_bytes,
            path: path.to_path_buf(),
            failed_at: None,
            in_flight: Vec::with_capacity(STAGE_BUFFERS),
        })
    }

    /// Appends `data`, submitting every staging buffer that fills.
    pub fn write(&mut self, mut data: &[u8]) -> Result<(), FileIoError> {
        while !data.is_empty() {
            let buf = self.current.as_mut().expect("a staging buffer is always at hand");
            let n = (self.stage_bytes - self.filled).min(data.len());
            buf.space()[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            data = &data[n..];
            if self.filled == self.stage_bytes {
                self.submit_current()?;
            }
        }
        Ok(())
    }

    fn submit_current(&mut self) -> Result<(), FileIoError> {
        let result = self.submit_current_inner();
        if let Err(e) = &result {
            self.note_failure(e);
        }
        result
    }

    fn submit_current_inner(&mut self) -> Result<(), FileIoError> {
        let buf = self.current.take().expect("a staging buffer is always at hand");
        let len = std::mem::take(&mut self.filled);
        self.in_flight.push((buf.aligned().as_ptr() as usize, self.writer.position()));
        let done = self.writer.submit(buf, len)?;
        take_back(&mut self.free, &mut self.in_flight, done);
        // The writer waits for a write to complete when its ring is full, and the ring is
        // one shorter than the buffers, so one is free now.
        self.current = self.free.pop();
        if self.current.is_none() {
            take_back(&mut self.free, &mut self.in_flight, self.writer.flush()?);
            self.current = self.free.pop();
        }
        Ok(())
    }

    /// Records a failure: waits for the writes still in flight (one of them may fail too,
    /// at a lower offset), so that what is known to be in the file is exact.
    fn note_failure(&mut self, e: &FileIoError) {
        let (written, done) = self.writer.settle();
        take_back(&mut self.free, &mut self.in_flight, done);
        let at = written.min(e.lowest_offset());
        self.failed_at = Some(self.failed_at.map_or(at, |f| f.min(at)));
    }

    /// Bytes at the start of the file whose writes have all completed (not durable until
    /// [`finish`](Self::finish)): what a reader following the file may read.
    pub fn completed_bytes(&self) -> u64 {
        self.in_flight.iter().map(|&(_, offset)| offset).min().unwrap_or_else(|| self.writer.position())
    }

    /// Writes what is staged and waits for every write (not durable yet: see
    /// [`finish`](Self::finish)). Further writes may follow, but a staged tail that was not
    /// a whole number of direct-I/O units leaves the file on the page cache.
    pub fn flush(&mut self) -> Result<(), FileIoError> {
        if self.filled > 0 {
            self.submit_current()?;
        }
        let result = match self.writer.flush() {
            Ok(done) => {
                take_back(&mut self.free, &mut self.in_flight, done);
                Ok(())
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            self.note_failure(e);
        }
        result
    }

    /// Writes what is staged, waits for every write and makes the file durable; the
    /// buffers go back to `stage`.
    pub fn finish(mut self, stage: &mut StageBuffers) -> Result<(), FileIoError> {
        if self.filled > 0 {
            self.submit_current()?;
        }
        self.free.extend(self.writer.flush()?);
        let FileWriter { writer, free, current, .. } = self;
        let result = writer.finish().map(drop);
        stage.buffers = free;
        stage.buffers.extend(current);
        result
    }

    /// Bytes handed to [`write`](Self::write) and the header, staged or written.
    pub fn position(&self) -> u64 {
        self.writer.position() + self.filled as u64
    }

    /// Bytes accepted but not yet known to be on disk (staged or in flight): what a
    /// free-space reading taken now does not count yet.
    pub fn pending_bytes(&self) -> u64 {
        self.position().saturating_sub(self.writer.stats().bytes)
    }

    /// After a failed [`write`](Self::write): the bytes at the start of the file known to
    /// be written (the start of the failed write). Before any failure: [`position`].
    ///
    /// [`position`]: Self::position
    pub fn confirmed_bytes(&self) -> u64 {
        self.failed_at.unwrap_or_else(|| self.position())
    }
}

/// A writer's error as an `io::Error` for callers that speak `io` (the chunker's file
/// seam): the OS error where there is one (so ENOSPC stays ENOSPC), the message otherwise.
pub fn into_io_error(error: FileIoError) -> std::io::Error {
    match error {
        FileIoError::NoSpace { .. } => std::io::Error::from_raw_os_error(nix::libc::ENOSPC),
        FileIoError::Write { source, .. }
        | FileIoError::Read { source, .. }
        | FileIoError::Sync { source, .. }
        | FileIoError::Open { source, .. }
        | FileIoError::Queue { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    }
}
