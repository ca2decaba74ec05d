//! Sequential file I/O for the data path on top of [`Ring`]: a writer that fills a file from
//! start to end with several writes in flight (O_DIRECT where the filesystem takes it) and
//! makes it durable, a reader that streams a file or a pipe into buffers in order, and the
//! errors the chunker reports. Safe code only; the kernel-facing part is `ring.rs`.
//!
//! # I/O rules
//!
//! 1. **File order.** Offsets are assigned in submission order: each block goes right
//!    after the one before, whatever order the kernel finishes them in, so the file is
//!    written start to end with no holes and reads come back in file order.
//! 2. **O_DIRECT when the filesystem takes it.** Files are opened with `O_DIRECT`. If the
//!    open is refused (`EINVAL`: ramfs, some FUSE filesystems), if `statx` says the file
//!    has no direct I/O, or if the first direct write or read is refused, the file carries
//!    on through the page cache and one notice per filesystem goes to the ring. Until the
//!    first direct operation has succeeded it is the only one in flight, so a refusal never
//!    has more than one operation to redo.
//! 3. **Alignment and the tail.** Direct I/O needs offsets and lengths in multiples of the
//!    logical block size (`statx` `STATX_DIOALIGN`, 4096 when the kernel does not say)
//!    and page-aligned memory (every [`AlignedBuf`] is). The first block whose length is
//!    not a multiple (normally the last, partial one) is written after the direct writes
//!    before it have completed and `O_DIRECT` has been cleared on the descriptor with
//!    `fcntl(F_SETFL)`; it and anything after it go through the page cache. The file
//!    holds exactly the bytes given.
//! 4. **Errors stop the writer.** A short write is continued from where it stopped (a
//!    disk that is filling up answers the continuation with `ENOSPC`); a write of 0 bytes
//!    or any error stops the writer, and is reported with the path and the offset of the
//!    failed write (the lowest one when several fail together). `ENOSPC` and `EDQUOT`
//!    are [`FileIoError::NoSpace`], so the chunker can report a full disk cleanly.
//! 5. **Durable means** every write completed, then `fdatasync` of the file, then `fsync`
//!    of its directory (the new name). [`SequentialWriter::finish`] does all three, so
//!    they count in the caller's timing. O_DIRECT bypasses the page cache but not the
//!    file's metadata or the disk's cache, so the syncs are needed either way.
//! 6. **Early stops wait.** A writer or reader dropped with operations in flight waits for
//!    them ([`Ring::quiesce`]) before its file closes; their buffers are then dropped
//!    (for pool buffers: returned to the pool).
//! 7. **Reads.** Full buffers, except the last. End of file is a read returning fewer
//!    bytes than asked because the file ends there: with O_DIRECT a short count that is not
//!    a block multiple, otherwise a read of 0 bytes. A short read that is not the end is
//!    continued. Buffers read past the end are dropped, not returned. Streams (pipes,
//!    sockets) have no offsets: one read in flight at a time, and each buffer is filled
//!    until it is full or the stream ends.
//! 8. **No allocation per block.** Completed buffers come back through a reused vector;
//!    paths and notices are built only at open and on errors.

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::DerefMut;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::vec::Drain;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::libc;

use super::buf::AlignedBuf;
use super::ring::{dio_alignment, pool_meets, Completion, OpKind, OpSpec};
pub use super::ring::{Engine, IoBuf, Ring};

/// Block size assumed for direct I/O when `statx` does not report one: a multiple of
/// every logical block size in use (512 and 4096).
const DEFAULT_DIO_ALIGN: u64 = 4096;

/// Why a file operation failed; every variant names the file, and the I/O ones the offset.
#[derive(Debug, thiserror::Error)]
pub enum FileIoError {
    #[error("{}: cannot open: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    /// The disk (or the user's quota) is full.
    #[error("{}: no space left on device (writing at offset {offset})", path.display())]
    NoSpace { path: PathBuf, offset: u64 },
    #[error("{}: write at offset {offset}: {source}", path.display())]
    Write { path: PathBuf, offset: u64, source: io::Error },
    /// The kernel accepted none of the bytes of a write and gave no error.
    #[error("{}: short write at offset {offset}: 0 of {len} bytes written", path.display())]
    ShortWrite { path: PathBuf, offset: u64, len: usize },
    #[error("{}: read at offset {offset}: {source}", path.display())]
    Read { path: PathBuf, offset: u64, source: io::Error },
    #[error("{}: {what}: {source}", path.display())]
    Sync { path: PathBuf, what: &'static str, source: io::Error },
    /// The I/O queue itself failed (io_uring_enter, or the helper thread died).
    #[error("{}: I/O queue: {source}", path.display())]
    Queue { path: PathBuf, source: io::Error },
    /// Called again after an error was reported.
    #[error("{}: stopped after an earlier error", path.display())]
    Stopped { path: PathBuf },
}

impl FileIoError {
    /// The offset of the failed operation: every byte before it was written (or read).
    /// 0 when the error concerns no offset.
    pub fn lowest_offset(&self) -> u64 {
        match self {
            FileIoError::NoSpace { offset, .. }
            | FileIoError::Write { offset, .. }
            | FileIoError::ShortWrite { offset, .. }
            | FileIoError::Read { offset, .. } => *offset,
            _ => 0,
        }
    }
}

/// A buffer of its own (not from a pool): headers, tests, tools.
pub struct OwnedBuf {
    data: AlignedBuf,
    len: usize,
}

impl OwnedBuf {
    /// An empty buffer of at least `capacity` bytes (rounded up to pages).
    pub fn new(capacity: usize) -> OwnedBuf {
        OwnedBuf { data: AlignedBuf::new(capacity.max(1)), len: 0 }
    }

    /// A buffer holding a copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> OwnedBuf {
        let mut b = OwnedBuf::new(bytes.len());
        b.data[..bytes.len()].copy_from_slice(bytes);
        b.len = bytes.len();
        b
    }

    /// The valid bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }

    /// The whole buffer, for filling.
    pub fn space(&mut self) -> &mut [u8] {
        &mut self.data
    }
}

impl IoBuf for OwnedBuf {
    fn aligned(&self) -> &AlignedBuf {
        &self.data
    }
    fn aligned_mut(&mut self) -> &mut AlignedBuf {
        &mut self.data
    }
    fn len(&self) -> usize {
        self.len
    }
    fn set_len(&mut self, n: usize) {
        assert!(n <= self.data.len(), "length beyond the buffer");
        self.len = n;
    }
}

impl std::fmt::Debug for OwnedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OwnedBuf({} of {} bytes)", self.len, self.data.len())
    }
}

/// How [`SequentialWriter::create`] opens its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// Fail if the file exists (`O_EXCL`); otherwise create it or truncate it.
    pub create_new: bool,
    /// Try O_DIRECT (rule 2). `false` writes through the page cache.
    pub direct: bool,
    /// Permission bits of a new file.
    pub mode: u32,
}

impl Default for WriteOptions {
    fn default() -> WriteOptions {
        WriteOptions { create_new: false, direct: true, mode: 0o600 }
    }
}

/// What a finished writer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteStats {
    /// Bytes written (the file's length).
    pub bytes: u64,
    /// Blocks submitted (continuations of short writes not counted).
    pub writes: u64,
    /// Whether any write went out with O_DIRECT.
    pub direct: bool,
    /// Bytes written with O_DIRECT (the rest went through the page cache).
    pub direct_bytes: u64,
    /// Whether any write used a registered buffer.
    pub registered: bool,
    pub engine: Engine,
    /// Most writes in flight at once.
    pub max_in_flight: usize,
    /// Time spent in `fdatasync` of the file and `fsync` of its directory.
    pub sync: Duration,
}

/// The state of O_DIRECT on a descriptor (rule 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direct {
    /// Through the page cache.
    Off,
    /// Opened with O_DIRECT, no direct operation has succeeded yet: one in flight.
    Probing,
    /// Direct operations work.
    On,
}

/// Writes one file from start to end with up to the ring's depth of writes in flight.
///
/// ```text
/// let mut w = SequentialWriter::create(&mut ring, path, WriteOptions::default())?;
/// w.write_header(header, 32768)?;              // optional, first
/// for block in blocks { for done in w.submit(block, n)? { /* back to the pool */ } }
/// let stats = w.finish()?;                     // all written, fdatasync, fsync(dir)
/// ```
pub struct SequentialWriter<B: IoBuf, R: DerefMut<Target = Ring<B>>> {
    ring: R,
    file: Arc<File>,
    path: PathBuf,
    dev: u64,
    direct: Direct,
    align: u64,
    next_offset: u64,
    /// Buffers whose writes completed, handed back by the next `submit`/`flush`.
    done: Vec<B>,
    scratch: Vec<Completion<B>>,
    stopped: bool,
    /// The lowest offset of a write that failed, once one has.
    lowest_failure: Option<u64>,
    stats: WriteStats,
    /// Test hook: pretend the filesystem refused the first direct write with EINVAL.
    #[cfg(test)]
    refuse_first_direct_write: bool,
}

impl<B: IoBuf, R: DerefMut<Target = Ring<B>>> SequentialWriter<B, R> {
    /// Opens `path` for writing on `ring` (which must not be used by anyone else meanwhile;
    /// anything a forgotten earlier user left in flight is waited for first).
    pub fn create(
        mut ring: R,
        path: impl AsRef<Path>,
        opts: WriteOptions,
    ) -> Result<SequentialWriter<B, R>, FileIoError> {
        let path = path.as_ref().to_path_buf();
        if let Err(source) = ring.quiesce() {
            return Err(FileIoError::Queue { path, source });
        }
        let (file, refused) = open_for_write(&path, &opts)?;
        let dev = file.metadata().map(|m| m.dev()).unwrap_or(0);
        let depth = ring.depth();
        let engine = ring.engine();
        let mut w = SequentialWriter {
            ring,
            file: Arc::new(file),
            path,
            dev,
            direct: Direct::Off,
            align: DEFAULT_DIO_ALIGN,
            next_offset: 0,
            done: Vec::with_capacity(depth + 1),
            scratch: Vec::with_capacity(depth),
            stopped: false,
            lowest_failure: None,
            stats: WriteStats {
                bytes: 0,
                writes: 0,
                direct: false,
                direct_bytes: 0,
                registered: false,
                engine,
                max_in_flight: 0,
                sync: Duration::ZERO,
            },
            #[cfg(test)]
            refuse_first_direct_write: false,
        };
        if opts.direct {
            match refused {
                Some(why) => w.note_no_direct(&why),
                None => match direct_alignment(&w.file) {
                    Ok(align) => {
                        w.align = align;
                        w.direct = Direct::Probing;
                    }
                    Err(why) => {
                        if let Err(source) = clear_direct(&w.file) {
                            return Err(FileIoError::Open { path: w.path.clone(), source });
                        }
                        w.note_no_direct(&why);
                    }
                },
            }
        }
        Ok(w)
    }

    /// Writes `buf` (its first `len` bytes, normally a whole block of a 32 KiB header) at
    /// offset 0. Must come before any [`submit`](Self::submit).
    pub fn write_header(&mut self, buf: B, len: usize) -> Result<Drain<'_, B>, FileIoError> {
        assert!(self.next_offset == 0 && self.stats.writes == 0, "the header goes first");
        self.submit(buf, len)
    }

    /// Queues the first `len` bytes of `buf` as the next block of the file and returns the
    /// buffers whose writes have completed meanwhile (give them back to the pool). Waits
    /// only when the ring is full, or around the O_DIRECT probe and tail (rules 2, 3).
    pub fn submit(&mut self, mut buf: B, len: usize) -> Result<Drain<'_, B>, FileIoError> {
        self.check_running()?;
        assert!(len <= buf.capacity(), "block longer than its buffer");
        buf.set_len(len);
        if len == 0 {
            self.done.push(buf);
            return Ok(self.done.drain(..));
        }
        self.collect(0)?;
        if self.direct != Direct::Off && len as u64 % self.align != 0 {
            // Rule 3: the tail (or any unaligned block) and what follows go buffered.
            self.drain_all()?;
            self.leave_direct(None)?;
        }
        if self.direct == Direct::Probing {
            // Rule 2: one write in flight until a direct write has succeeded.
            self.drain_all()?;
        }
        while self.ring.in_flight() >= self.ring.depth() {
            self.collect(1)?;
        }
        let op = OpSpec { kind: OpKind::Write, offset: Some(self.next_offset), start: 0, len, tag: 0 };
        self.start(op, buf)?;
        self.next_offset += len as u64;
        self.stats.writes += 1;
        Ok(self.done.drain(..))
    }

    /// Waits for every write in flight and returns all the buffers.
    pub fn flush(&mut self) -> Result<Drain<'_, B>, FileIoError> {
        self.check_running()?;
        self.drain_all()?;
        Ok(self.done.drain(..))
    }

    /// Waits for every write, then makes the file durable (rule 5) and returns what was
    /// done. Buffers still held are dropped; call [`flush`](Self::flush) first to get
    /// them back.
    pub fn finish(mut self) -> Result<WriteStats, FileIoError> {
        self.check_running()?;
        self.drain_all()?;
        self.done.clear();
        let t = Instant::now();
        if let Err(source) = self.file.sync_data() {
            return Err(FileIoError::Sync { path: self.path.clone(), what: "fdatasync", source });
        }
        if let Err(source) = sync_parent(&self.path) {
            return Err(FileIoError::Sync {
                path: self.path.clone(),
                what: "fsync of its directory",
                source,
            });
        }
        self.stats.sync = t.elapsed();
        Ok(self.stats)
    }

    /// Where the next block goes (bytes submitted so far).
    pub fn position(&self) -> u64 {
        self.next_offset
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the descriptor is (still) in O_DIRECT mode.
    pub fn is_direct(&self) -> bool {
        self.direct != Direct::Off
    }

    /// The statistics so far.
    pub fn stats(&self) -> WriteStats {
        self.stats
    }

    fn check_running(&self) -> Result<(), FileIoError> {
        if self.stopped {
            return Err(FileIoError::Stopped { path: self.path.clone() });
        }
        Ok(())
    }

    fn start(&mut self, op: OpSpec, buf: B) -> Result<(), FileIoError> {
        if let Err(source) = self.ring.submit(&self.file, op, buf) {
            self.stopped = true;
            return Err(FileIoError::Queue { path: self.path.clone(), source });
        }
        self.stats.max_in_flight = self.stats.max_in_flight.max(self.ring.in_flight());
        Ok(())
    }

    fn drain_all(&mut self) -> Result<(), FileIoError> {
        while self.ring.in_flight() > 0 {
            self.collect(1)?;
        }
        Ok(())
    }

    /// Takes at least `min` completions from the ring and handles them; the first error
    /// (lowest offset) stops the writer.
    fn collect(&mut self, min: usize) -> Result<(), FileIoError> {
        let mut batch = std::mem::take(&mut self.scratch);
        let waited = self.ring.wait(min, &mut batch);
        let mut failure: Option<FileIoError> = None;
        for c in batch.drain(..) {
            if let Err(e) = self.complete(c) {
                if failure.as_ref().is_none_or(|f| e.lowest_offset() < f.lowest_offset()) {
                    failure = Some(e);
                }
            }
        }
        self.scratch = batch;
        if let Err(source) = waited {
            failure.get_or_insert(FileIoError::Queue { path: self.path.clone(), source });
        }
        match failure {
            Some(e) => {
                self.stopped = true;
                let at = e.lowest_offset();
                self.lowest_failure = Some(self.lowest_failure.map_or(at, |f| f.min(at)));
                Err(e)
            }
            None => Ok(()),
        }
    }

    /// After an error: waits for every write still in flight (some may fail too, after
    /// the first error was reported) and returns how many bytes at the start of the file
    /// are written — the offset of the lowest failed write — and every buffer back.
    pub fn settle(&mut self) -> (u64, Drain<'_, B>) {
        while self.ring.in_flight() > 0 {
            if let Err(FileIoError::Queue { .. }) = self.collect(1) {
                // The queue itself failed: nothing more will come back.
                self.lowest_failure = Some(0);
                break;
            }
        }
        (self.lowest_failure.unwrap_or(self.next_offset), self.done.drain(..))
    }

    fn complete(&mut self, c: Completion<B>) -> Result<(), FileIoError> {
        let Completion { op, buf, result, fixed } = c;
        let offset = op.offset.unwrap_or(0);
        #[cfg(test)]
        let result = self.injected(result);
        self.stats.registered |= fixed;
        match result {
            Ok(n) if n > 0 => {
                self.stats.bytes += n as u64;
                if self.direct != Direct::Off {
                    self.direct = Direct::On;
                    self.stats.direct = true;
                    self.stats.direct_bytes += n as u64;
                }
                if n < op.len {
                    // Rule 4: continue a short write; the next answer tells why it was short.
                    let rest = OpSpec {
                        offset: Some(offset + n as u64),
                        start: op.start + n,
                        len: op.len - n,
                        ..op
                    };
                    return self.start(rest, buf);
                }
                self.done.push(buf);
                Ok(())
            }
            Ok(_) => {
                self.done.push(buf);
                Err(FileIoError::ShortWrite { path: self.path.clone(), offset, len: op.len })
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && self.direct == Direct::Probing => {
                // Rule 2: the filesystem opened O_DIRECT but refuses direct writes.
                self.leave_direct(Some(&e))?;
                self.start(op, buf)
            }
            Err(e) => {
                self.done.push(buf);
                Err(match e.raw_os_error() {
                    Some(libc::ENOSPC | libc::EDQUOT) => {
                        FileIoError::NoSpace { path: self.path.clone(), offset }
                    }
                    _ => FileIoError::Write { path: self.path.clone(), offset, source: e },
                })
            }
        }
    }

    /// Clears O_DIRECT on the descriptor (nothing may be in flight). `refusal` is the
    /// filesystem's error when it refused direct I/O, `None` for the tail (rule 3).
    fn leave_direct(&mut self, refusal: Option<&io::Error>) -> Result<(), FileIoError> {
        debug_assert_eq!(self.ring.in_flight(), 0);
        if let Err(e) = clear_direct(&self.file) {
            self.stopped = true;
            return Err(FileIoError::Write { path: self.path.clone(), offset: self.next_offset, source: e });
        }
        self.direct = Direct::Off;
        if let Some(e) = refusal {
            self.note_no_direct(&e.to_string());
        }
        Ok(())
    }

    fn note_no_direct(&mut self, why: &str) {
        let text = format!(
            "O_DIRECT refused on {} ({why}); using the page cache on this filesystem",
            self.path.display()
        );
        self.ring.note_once(&format!("odirect:{}", self.dev), text);
    }

    /// Test hook: the probe write's success turned into the EINVAL some filesystems give.
    #[cfg(test)]
    fn injected(&mut self, result: io::Result<usize>) -> io::Result<usize> {
        if self.refuse_first_direct_write && self.direct == Direct::Probing && result.is_ok() {
            self.refuse_first_direct_write = false;
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        result
    }
}

impl<B: IoBuf, R: DerefMut<Target = Ring<B>>> Drop for SequentialWriter<B, R> {
    fn drop(&mut self) {
        // Rule 6; the ring leaks what it cannot wait for.
        let _ = self.ring.quiesce();
    }
}

/// Opens for writing, with O_DIRECT first when asked. Returns the file and, when O_DIRECT
/// was refused at open, the reason.
fn open_for_write(path: &Path, opts: &WriteOptions) -> Result<(File, Option<String>), FileIoError> {
    let mut oo = OpenOptions::new();
    oo.write(true).mode(opts.mode);
    if opts.create_new {
        oo.create_new(true);
    } else {
        oo.create(true).truncate(true);
    }
    let open_err = |source| FileIoError::Open { path: path.to_path_buf(), source };
    let mut refused = None;
    if opts.direct {
        match oo.clone().custom_flags(libc::O_DIRECT).open(path) {
            Ok(f) => return Ok((f, None)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => refused = Some(e.to_string()),
            Err(e) => return Err(open_err(e)),
        }
    }
    match oo.open(path) {
        Ok(f) => Ok((f, refused)),
        Err(e) if refused.is_some() && opts.create_new && e.kind() == io::ErrorKind::AlreadyExists => {
            // The kernel creates the file before it checks O_DIRECT, so the refused
            // O_EXCL open above left it behind, empty: it is ours.
            OpenOptions::new().write(true).truncate(true).open(path).map(|f| (f, refused)).map_err(open_err)
        }
        Err(e) => Err(open_err(e)),
    }
}

/// The block size for direct I/O on `file`, or why it has none (rules 2, 3).
fn direct_alignment(file: &File) -> Result<u64, String> {
    match dio_alignment(file) {
        Ok(Some(a)) if a.offset == 0 => Err("the filesystem has no direct I/O for this file".into()),
        Ok(Some(a)) if !pool_meets(a) => Err(format!("direct I/O needs {}-byte aligned memory", a.mem)),
        Ok(Some(a)) => Ok(u64::from(a.offset).max(512)),
        Ok(None) | Err(_) => Ok(DEFAULT_DIO_ALIGN),
    }
}

fn clear_direct(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags.difference(OFlag::O_DIRECT)))?;
    Ok(())
}

/// `fsync` of the directory holding `path`, so that the file's name is durable too.
fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// How [`SequentialReader::open`] opens its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Try O_DIRECT (rule 2). `false` reads through the page cache (with readahead).
    pub direct: bool,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions { direct: true }
    }
}

/// What a reader did so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadStats {
    /// Bytes delivered.
    pub bytes: u64,
    /// Read operations completed (continuations and the end-of-file probe included).
    pub reads: u64,
    /// Whether any read went out with O_DIRECT.
    pub direct: bool,
    /// Whether any read used a registered buffer.
    pub registered: bool,
    pub engine: Engine,
    /// Most reads in flight at once.
    pub max_in_flight: usize,
}

/// A finished read waiting for its turn to be delivered.
struct Held<B> {
    buf: B,
    filled: usize,
}

/// Reads a file (or a stream) from start to end into buffers, up to the ring's depth of
/// reads in flight, delivering full buffers in file order (rule 7).
///
/// ```text
/// let mut r = SequentialReader::open(&mut ring, path, ReadOptions::default())?;
/// while let Some(buf) = r.next(|| pool.take().0)? { /* buf.len() bytes, in order */ }
/// ```
pub struct SequentialReader<B: IoBuf, R: DerefMut<Target = Ring<B>>> {
    ring: R,
    file: Arc<File>,
    path: PathBuf,
    dev: u64,
    stream: bool,
    direct: Direct,
    align: u64,
    /// File size at open: reads are not started past it unless the file turns out longer.
    size_hint: u64,
    /// Offset (for a stream: bytes asked so far) of the next new read.
    next_offset: u64,
    next_seq: u64,
    deliver_seq: u64,
    /// Bytes delivered, i.e. the offset the next delivered buffer starts at.
    delivered: u64,
    /// Buffers the reader owns: in flight or held for delivery (at most `window`).
    owned: usize,
    window: usize,
    /// Finished reads by `seq % window`.
    held: Vec<Option<Held<B>>>,
    eof: Option<u64>,
    scratch: Vec<Completion<B>>,
    stopped: bool,
    stats: ReadStats,
}

impl<B: IoBuf, R: DerefMut<Target = Ring<B>>> SequentialReader<B, R> {
    /// Opens the regular file `path` for reading on `ring`.
    pub fn open(
        mut ring: R,
        path: impl AsRef<Path>,
        opts: ReadOptions,
    ) -> Result<SequentialReader<B, R>, FileIoError> {
        let path = path.as_ref().to_path_buf();
        if let Err(source) = ring.quiesce() {
            return Err(FileIoError::Queue { path, source });
        }
        let open_err = |source| FileIoError::Open { path: path.clone(), source };
        let mut refused = None;
        let mut file = None;
        if opts.direct {
            match OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(&path) {
                Ok(f) => file = Some(f),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => refused = Some(e.to_string()),
                Err(e) => return Err(open_err(e)),
            }
        }
        let opened_direct = file.is_some();
        let file = match file {
            Some(f) => f,
            None => File::open(&path).map_err(open_err)?,
        };
        let meta = file.metadata().map_err(open_err)?;
        let mut r = SequentialReader::new(ring, file, path, false);
        r.dev = meta.dev();
        r.size_hint = meta.len();
        if opened_direct {
            match direct_alignment(&r.file) {
                Ok(align) => {
                    r.align = align;
                    r.direct = Direct::Probing;
                }
                Err(why) => {
                    if let Err(source) = clear_direct(&r.file) {
                        return Err(FileIoError::Open { path: r.path.clone(), source });
                    }
                    r.note_no_direct(&why);
                }
            }
        } else if let Some(why) = refused {
            r.note_no_direct(&why);
        }
        Ok(r)
    }

    /// Reads a pipe, socket or other stream until its end, through `ring` (io_uring reads
    /// at the current position, or `read(2)` on the fallback). `name` is for messages.
    pub fn from_stream(
        mut ring: R,
        fd: impl Into<OwnedFd>,
        name: impl Into<PathBuf>,
    ) -> Result<SequentialReader<B, R>, FileIoError> {
        let path = name.into();
        if let Err(source) = ring.quiesce() {
            return Err(FileIoError::Queue { path, source });
        }
        Ok(SequentialReader::new(ring, File::from(fd.into()), path, true))
    }

    fn new(ring: R, file: File, path: PathBuf, stream: bool) -> SequentialReader<B, R> {
        // A stream has no offsets, so two reads in flight could complete in either order.
        let window = if stream { 1 } else { ring.depth() };
        let engine = ring.engine();
        SequentialReader {
            ring,
            file: Arc::new(file),
            path,
            dev: 0,
            stream,
            direct: Direct::Off,
            align: DEFAULT_DIO_ALIGN,
            size_hint: 0,
            next_offset: 0,
            next_seq: 0,
            deliver_seq: 0,
            delivered: 0,
            owned: 0,
            window,
            held: (0..window).map(|_| None).collect(),
            eof: None,
            scratch: Vec::with_capacity(window),
            stopped: false,
            stats: ReadStats {
                bytes: 0,
                reads: 0,
                direct: false,
                registered: false,
                engine,
                max_in_flight: 0,
            },
        }
    }

    /// The next buffer of the file in order (`len()` valid bytes), or `None` at the end.
    /// `supply` is called for each empty buffer the reader wants to start a read into
    /// (e.g. `|| pool.take().0`); its capacity should be a multiple of the block size.
    pub fn next(&mut self, mut supply: impl FnMut() -> B) -> Result<Option<B>, FileIoError> {
        if self.stopped {
            return Err(FileIoError::Stopped { path: self.path.clone() });
        }
        loop {
            let slot = (self.deliver_seq % self.window as u64) as usize;
            if let Some(Held { mut buf, filled }) = self.held[slot].take() {
                self.deliver_seq += 1;
                self.owned -= 1;
                if filled == 0 {
                    // Read past the end: dropped (rule 7); the end is reached.
                    continue;
                }
                buf.set_len(filled);
                self.delivered += filled as u64;
                self.stats.bytes += filled as u64;
                return Ok(Some(buf));
            }
            if self.eof.is_some_and(|end| self.delivered >= end) {
                // Done; the reads started past the end come back and are dropped.
                if let Err(source) = self.ring.quiesce() {
                    self.stopped = true;
                    return Err(FileIoError::Queue { path: self.path.clone(), source });
                }
                return Ok(None);
            }
            self.top_up(&mut supply)?;
            // Whatever is due next is in flight (it is neither held nor past the end).
            assert!(self.ring.in_flight() > 0, "reader waiting with nothing in flight");
            self.collect()?;
        }
    }

    /// Whether the reader reads with O_DIRECT (so far).
    pub fn is_direct(&self) -> bool {
        self.direct != Direct::Off
    }

    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts reads into fresh buffers while there is room and the end is not known.
    fn top_up(&mut self, supply: &mut impl FnMut() -> B) -> Result<(), FileIoError> {
        while self.owned < self.window && self.eof.is_none() {
            if self.direct == Direct::Probing && self.owned > 0 {
                break; // rule 2
            }
            // Past the size seen at open, read only to find the end (or more data).
            if !self.stream && self.next_offset >= self.size_hint && self.owned > 0 {
                break;
            }
            let buf = supply();
            let mut len = buf.capacity();
            if self.direct != Direct::Off {
                len -= len % self.align as usize;
                assert!(len > 0, "buffer smaller than the direct-I/O block size");
            }
            let offset = if self.stream { None } else { Some(self.next_offset) };
            let op = OpSpec { kind: OpKind::Read, offset, start: 0, len, tag: self.next_seq };
            self.start(op, buf)?;
            self.next_offset += len as u64;
            self.next_seq += 1;
            self.owned += 1;
        }
        Ok(())
    }

    fn start(&mut self, op: OpSpec, buf: B) -> Result<(), FileIoError> {
        if let Err(source) = self.ring.submit(&self.file, op, buf) {
            self.stopped = true;
            return Err(FileIoError::Queue { path: self.path.clone(), source });
        }
        self.stats.max_in_flight = self.stats.max_in_flight.max(self.ring.in_flight());
        Ok(())
    }

    fn collect(&mut self) -> Result<(), FileIoError> {
        let mut batch = std::mem::take(&mut self.scratch);
        let waited = self.ring.wait(1, &mut batch);
        let mut failure: Option<FileIoError> = None;
        for c in batch.drain(..) {
            if let Err(e) = self.complete(c) {
                if failure.as_ref().is_none_or(|f| e.lowest_offset() < f.lowest_offset()) {
                    failure = Some(e);
                }
            }
        }
        self.scratch = batch;
        if let Err(source) = waited {
            failure.get_or_insert(FileIoError::Queue { path: self.path.clone(), source });
        }
        match failure {
            Some(e) => {
                self.stopped = true;
                Err(e)
            }
            None => Ok(()),
        }
    }

    fn complete(&mut self, c: Completion<B>) -> Result<(), FileIoError> {
        let Completion { op, buf, result, fixed } = c;
        self.stats.reads += 1;
        self.stats.registered |= fixed;
        // Where this read started, for messages and the end of file; a stream has one read
        // in flight, so the bytes delivered plus those already in this buffer.
        let offset = op.offset.unwrap_or(self.delivered + op.start as u64);
        match result {
            Ok(n) => {
                if self.direct == Direct::Probing {
                    self.direct = Direct::On;
                }
                self.stats.direct |= self.direct == Direct::On;
                let filled = op.start + n;
                let at_end = n == 0 || (self.direct == Direct::On && n as u64 % self.align != 0);
                if n < op.len && !at_end {
                    let rest = OpSpec {
                        offset: op.offset.map(|o| o + n as u64),
                        start: filled,
                        len: op.len - n,
                        ..op
                    };
                    return self.start(rest, buf);
                }
                if at_end {
                    let end = offset + n as u64;
                    self.eof = Some(self.eof.map_or(end, |e| e.min(end)));
                }
                let slot = (op.tag % self.window as u64) as usize;
                self.held[slot] = Some(Held { buf, filled });
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && self.direct == Direct::Probing => {
                // Rule 2: opened with O_DIRECT, but direct reads are refused.
                if let Err(source) = clear_direct(&self.file) {
                    return Err(FileIoError::Read { path: self.path.clone(), offset, source });
                }
                self.direct = Direct::Off;
                self.note_no_direct(&e.to_string());
                self.start(op, buf)
            }
            Err(source) => {
                drop(buf);
                self.owned -= 1;
                Err(FileIoError::Read { path: self.path.clone(), offset, source })
            }
        }
    }

    fn note_no_direct(&mut self, why: &str) {
        let text = format!(
            "O_DIRECT refused on {} ({why}); using the page cache on this filesystem",
            self.path.display()
        );
        self.ring.note_once(&format!("odirect:{}", self.dev), text);
    }
}

impl<B: IoBuf, R: DerefMut<Target = Ring<B>>> Drop for SequentialReader<B, R> {
    fn drop(&mut self) {
        let _ = self.ring.quiesce();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use nix::sys::statfs::{statfs, TMPFS_MAGIC};

    /// ramfs's `f_type` (linux/magic.h), which nix does not name.
    const RAMFS_MAGIC: u64 = 0x8584_58f6;

    const KIB: usize = 1 << 10;
    const MIB: usize = 1 << 20;
    const SIZES: [usize; 6] = [0, 1, 4095, 4096, 32 * KIB + 1, 10 * MIB + 123];

    /// Bytes that differ from block to block, so a misplaced block shows.
    fn pattern(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// A directory removed (with its contents) on drop.
    struct TestDir(PathBuf);

    impl TestDir {
        fn new_in(base: &Path, what: &str) -> TestDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = base.join(format!("amrs-uring-{}-{what}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            TestDir(p)
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn is_memory_fs(p: &Path) -> bool {
        statfs(p)
            .is_ok_and(|s| s.filesystem_type() == TMPFS_MAGIC || s.filesystem_type().0 as u64 == RAMFS_MAGIC)
    }

    /// A directory on a real disk (not /tmp, which may be tmpfs).
    fn disk_dir(what: &str) -> TestDir {
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        for base in [Path::new("/var/tmp"), target.as_path()] {
            if base.is_dir() && !is_memory_fs(base) {
                return TestDir::new_in(base, what);
            }
        }
        panic!("no disk-backed directory for the tests (/var/tmp and target/ are in memory)");
    }

    /// A filesystem mounted for one test and unmounted on drop, even when the test fails.
    struct Mounted {
        dir: TestDir,
    }

    impl Mounted {
        fn new(fstype: &str, options: Option<&str>, what: &str) -> Option<Mounted> {
            if !nix::unistd::geteuid().is_root() {
                return None;
            }
            let dir = TestDir::new_in(Path::new("/var/tmp"), what);
            let mut cmd = Command::new("mount");
            cmd.args(["-t", fstype]);
            if let Some(o) = options {
                cmd.args(["-o", o]);
            }
            let ok = cmd.arg(fstype).arg(&dir.0).output().is_ok_and(|o| o.status.success());
            ok.then_some(Mounted { dir })
        }

        fn path(&self) -> &Path {
            &self.dir.0
        }
    }

    impl Drop for Mounted {
        fn drop(&mut self) {
            let clean = Command::new("umount").arg(&self.dir.0).status().is_ok_and(|s| s.success());
            if !clean {
                let _ = Command::new("umount").arg("-l").arg(&self.dir.0).status();
            }
        }
    }

    /// Writes `data` in blocks of `block` bytes, recycling buffers as the pool does: from
    /// `free` (allocating only when `free` is empty and `grow`), back into `free`.
    fn write_with(
        ring: &mut Ring<OwnedBuf>,
        path: &Path,
        data: &[u8],
        blocks: &mut dyn Iterator<Item = usize>,
        free: &mut Vec<OwnedBuf>,
        opts: WriteOptions,
        grow: bool,
    ) -> Result<WriteStats, FileIoError> {
        let mut w = SequentialWriter::create(ring, path, opts)?;
        let mut at = 0;
        while at < data.len() {
            let n = blocks.next().unwrap().min(data.len() - at);
            if free.is_empty() && !grow {
                free.extend(w.flush()?);
            }
            let mut b = free.pop().unwrap_or_else(|| OwnedBuf::new(n));
            b.space()[..n].copy_from_slice(&data[at..at + n]);
            free.extend(w.submit(b, n)?);
            at += n;
        }
        free.extend(w.flush()?);
        w.finish()
    }

    fn write_all(
        ring: &mut Ring<OwnedBuf>,
        path: &Path,
        data: &[u8],
        block: usize,
    ) -> Result<WriteStats, FileIoError> {
        let mut free = Vec::new();
        let mut blocks = std::iter::repeat(block);
        write_with(ring, path, data, &mut blocks, &mut free, WriteOptions::default(), true)
    }

    fn read_with(
        ring: &mut Ring<OwnedBuf>,
        path: &Path,
        free: &mut Vec<OwnedBuf>,
        cap: usize,
        opts: ReadOptions,
    ) -> Result<(Vec<u8>, ReadStats), FileIoError> {
        let mut r = SequentialReader::open(ring, path, opts)?;
        let mut out = Vec::new();
        let mut last = false;
        while let Some(b) = r.next(|| free.pop().unwrap_or_else(|| OwnedBuf::new(cap)))? {
            assert!(!last, "only the last buffer may be partial");
            assert!(!b.is_empty(), "no empty buffer is delivered");
            last = b.len() < cap - cap % 4096;
            out.extend_from_slice(b.bytes());
            free.push(b);
        }
        assert!(r.next(|| OwnedBuf::new(cap))?.is_none(), "the end stays the end");
        Ok((out, r.stats()))
    }

    fn read_all(ring: &mut Ring<OwnedBuf>, path: &Path, cap: usize) -> (Vec<u8>, ReadStats) {
        read_with(ring, path, &mut Vec::new(), cap, ReadOptions::default()).unwrap()
    }

    /// Bytes a writer of `block`-sized blocks sends with O_DIRECT on a 512/4096-byte block
    /// device: every block up to the first that is not a multiple of 4096.
    fn expected_direct_bytes(size: usize, block: usize) -> u64 {
        let mut n = 0;
        let mut left = size;
        while left > 0 {
            let b = left.min(block);
            if b % 4096 != 0 {
                break;
            }
            n += b;
            left -= b;
        }
        n as u64
    }

    /// Every size of SIZES written and read back in 1 MiB buffers; `direct`: whether the
    /// filesystem is expected to take O_DIRECT (None: don't check).
    fn round_trips(ring: &mut Ring<OwnedBuf>, dir: &Path, direct: Option<bool>) {
        for (i, &size) in SIZES.iter().enumerate() {
            let data = pattern(size, i as u64 + 1);
            let path = dir.join(format!("rt-{size}"));
            let st = write_all(ring, &path, &data, MIB).unwrap();
            assert_eq!(st.bytes, size as u64);
            assert_eq!(st.writes, size.div_ceil(MIB) as u64);
            assert_eq!(st.engine, ring.engine());
            assert!(std::fs::read(&path).unwrap() == data, "{size} bytes written differ");
            if let Some(d) = direct {
                let want = if d { expected_direct_bytes(size, MIB) } else { 0 };
                assert_eq!(st.direct_bytes, want, "{size} bytes: O_DIRECT bytes");
                assert_eq!(st.direct, want > 0);
            }
            let (back, rs) = read_all(ring, &path, MIB);
            assert!(back == data, "{size} bytes read back differ");
            assert_eq!(rs.bytes, size as u64);
            if let Some(d) = direct {
                assert_eq!(rs.direct, d, "{size} bytes: O_DIRECT read");
            }
        }
    }

    fn uring_ring(depth: usize) -> Ring<OwnedBuf> {
        Ring::new(depth).unwrap()
    }

    #[test]
    fn round_trips_on_disk_with_o_direct() {
        let dir = disk_dir("disk");
        let mut ring = uring_ring(8);
        let probe = File::create(dir.0.join("probe")).unwrap();
        eprintln!("engine {:?}, statx DIOALIGN on the test disk: {:?}", ring.engine(), dio_alignment(&probe));
        round_trips(&mut ring, &dir.0, Some(true));
        assert!(ring.take_notices().iter().all(|n| !n.contains("O_DIRECT")));
    }

    #[test]
    fn round_trips_on_disk_without_io_uring() {
        let dir = disk_dir("blocking");
        let mut ring = Ring::blocking(8).unwrap();
        assert_eq!(ring.engine(), Engine::Blocking);
        round_trips(&mut ring, &dir.0, Some(true));
    }

    #[test]
    fn round_trips_on_tmpfs() {
        let shm = Path::new("/dev/shm");
        if !shm.is_dir() || !is_memory_fs(shm) {
            panic!("this test needs a tmpfs at /dev/shm");
        }
        let dir = TestDir::new_in(shm, "tmpfs");
        let probe = File::create(dir.0.join("probe")).unwrap();
        eprintln!("statx DIOALIGN on tmpfs: {:?}", dio_alignment(&probe));
        for mut ring in [uring_ring(8), Ring::blocking(8).unwrap()] {
            // Linux 6.6+ opens tmpfs files with O_DIRECT (and copies through the page
            // cache); older kernels refuse: the bytes must be the same either way.
            round_trips(&mut ring, &dir.0, None);
        }
    }

    #[test]
    fn round_trips_where_o_direct_is_refused() {
        // ramfs refuses O_DIRECT at open (EINVAL), after creating the file.
        let Some(m) = Mounted::new("ramfs", None, "ramfs") else {
            panic!("this test mounts a ramfs: run it as root (the test command does)");
        };
        for mut ring in [uring_ring(8), Ring::blocking(8).unwrap()] {
            round_trips(&mut ring, m.path(), Some(false));
            let notices = ring.take_notices();
            let odirect: Vec<_> = notices.iter().filter(|n| n.contains("O_DIRECT refused")).collect();
            assert_eq!(odirect.len(), 1, "one notice per filesystem: {notices:?}");

            // create_new: the refused O_DIRECT open leaves the file; it is still ours.
            let p = m.path().join("new");
            let _ = std::fs::remove_file(&p);
            let opts = WriteOptions { create_new: true, ..WriteOptions::default() };
            let mut w = SequentialWriter::create(&mut ring, &p, opts).unwrap();
            assert!(!w.is_direct());
            drop(w.submit(OwnedBuf::from_slice(b"hello"), 5).unwrap());
            w.finish().unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), b"hello");
            assert!(ring.take_notices().is_empty(), "said once already");
        }
    }

    #[test]
    fn refused_first_direct_write_falls_back() {
        let dir = disk_dir("einval");
        let mut ring = uring_ring(4);
        let data = pattern(3 * MIB + 5, 9);
        let path = dir.0.join("f");
        let mut w = SequentialWriter::create(&mut ring, &path, WriteOptions::default()).unwrap();
        assert!(w.is_direct());
        w.refuse_first_direct_write = true;
        for chunk in data.chunks(MIB) {
            drop(w.submit(OwnedBuf::from_slice(chunk), chunk.len()).unwrap());
        }
        assert!(!w.is_direct());
        let st = w.finish().unwrap();
        assert!(!st.direct);
        assert_eq!(st.bytes, data.len() as u64);
        assert!(std::fs::read(&path).unwrap() == data);
        let notices = ring.take_notices();
        assert!(
            notices.iter().any(|n| n.contains("O_DIRECT refused") && n.contains("Invalid argument")),
            "{notices:?}"
        );
    }

    #[test]
    fn many_writes_in_flight_and_odd_blocks() {
        let dir = disk_dir("inflight");
        for mut ring in [uring_ring(8), Ring::blocking(8).unwrap()] {
            // 128 KiB blocks, queue depth 8: 80 writes, up to 8 in the kernel at once.
            let data = pattern(10 * MIB, 3);
            let path = dir.0.join("qd8");
            let st = write_all(&mut ring, &path, &data, 128 * KIB).unwrap();
            assert_eq!(st.writes, 80);
            assert!(st.direct && st.direct_bytes == data.len() as u64);
            assert!((1..=8).contains(&st.max_in_flight), "{st:?}");
            eprintln!("{:?}: max writes in flight {}", ring.engine(), st.max_in_flight);
            let (back, rs) = read_all(&mut ring, &path, 128 * KIB);
            assert!(back == data);
            assert!(rs.max_in_flight <= 8);

            // An unaligned block in the middle: direct before it, page cache from it on.
            let sizes = [MIB, 1000, MIB, 4096, 7];
            let data = pattern(sizes.iter().sum(), 4);
            let path = dir.0.join("odd");
            let mut blocks = sizes.into_iter();
            let mut free = Vec::new();
            let st =
                write_with(&mut ring, &path, &data, &mut blocks, &mut free, WriteOptions::default(), true)
                    .unwrap();
            assert_eq!(st.direct_bytes, MIB as u64);
            assert!(std::fs::read(&path).unwrap() == data);
            // Reading with buffers that are not a multiple of the block size: the reader
            // reads whole blocks into them.
            let (back, _) = read_all(&mut ring, &path, 5000);
            assert!(back == data);
        }
    }

    #[test]
    fn header_then_data() {
        let dir = disk_dir("header");
        let mut ring = uring_ring(4);
        let header = pattern(32 * KIB, 5);
        let data = pattern(3 * MIB + 7, 6);
        let path = dir.0.join("chunk");
        let opts = WriteOptions { create_new: true, ..WriteOptions::default() };
        let mut w = SequentialWriter::create(&mut ring, &path, opts).unwrap();
        drop(w.write_header(OwnedBuf::from_slice(&header), header.len()).unwrap());
        assert_eq!(w.position(), 32 * KIB as u64);
        for chunk in data.chunks(MIB) {
            drop(w.submit(OwnedBuf::from_slice(chunk), chunk.len()).unwrap());
        }
        let st = w.finish().unwrap();
        assert_eq!(st.bytes, (header.len() + data.len()) as u64);
        assert_eq!(st.direct_bytes, (32 * KIB + 3 * MIB) as u64);
        let file = std::fs::read(&path).unwrap();
        assert!(file[..32 * KIB] == header[..] && file[32 * KIB..] == data[..]);

        // create_new refuses an existing file and leaves it alone.
        let e = SequentialWriter::create(&mut ring, &path, opts).err().unwrap();
        match &e {
            FileIoError::Open { path: p, source } => {
                assert_eq!(p, &path);
                assert_eq!(source.kind(), io::ErrorKind::AlreadyExists);
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("chunk: cannot open"));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), st.bytes);
    }

    #[test]
    fn disk_full_is_no_space_on_dev_full() {
        for mut ring in [uring_ring(4), Ring::blocking(4).unwrap()] {
            let path = Path::new("/dev/full");
            let mut w = SequentialWriter::create(&mut ring, path, WriteOptions::default()).unwrap();
            let mut result = Ok(());
            for _ in 0..8 {
                if let Err(e) = w.submit(OwnedBuf::from_slice(&[7u8; 65536]), 65536) {
                    result = Err(e);
                    break;
                }
            }
            let e = match result {
                Err(e) => e,
                Ok(()) => w.flush().expect_err("writing /dev/full fails"),
            };
            assert!(matches!(&e, FileIoError::NoSpace { path: p, offset: 0 } if p == path), "{e:?}");
            assert_eq!(e.to_string(), "/dev/full: no space left on device (writing at offset 0)");
            assert!(matches!(w.submit(OwnedBuf::new(1), 1), Err(FileIoError::Stopped { .. })));
            assert!(matches!(w.finish(), Err(FileIoError::Stopped { .. })));
        }
    }

    #[test]
    fn disk_full_is_no_space_on_a_full_tmpfs() {
        let Some(m) = Mounted::new("tmpfs", Some("size=1m"), "enospc") else {
            panic!("this test mounts a 1 MiB tmpfs: run it as root (the test command does)");
        };
        for mut ring in [uring_ring(4), Ring::blocking(4).unwrap()] {
            let path = m.path().join("big");
            let data = pattern(3 * MIB, 8);
            let e = write_all(&mut ring, &path, &data, 256 * KIB).expect_err("3 MiB do not fit in 1 MiB");
            match &e {
                FileIoError::NoSpace { path: p, offset } => {
                    assert_eq!(p, &path);
                    assert!(*offset <= MIB as u64, "{e}");
                }
                other => panic!("{other:?}"),
            }
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn read_errors_name_the_file_and_offset() {
        let dir = disk_dir("readerr");
        let mut ring = uring_ring(4);
        let e = read_with(&mut ring, &dir.0, &mut Vec::new(), 4096, ReadOptions::default()).err().unwrap();
        assert!(
            matches!(&e, FileIoError::Read { path, offset: 0, source } if path == &dir.0 && source.raw_os_error() == Some(libc::EISDIR)),
            "{e:?}"
        );
        let missing = dir.0.join("missing");
        let e = read_with(&mut ring, &missing, &mut Vec::new(), 4096, ReadOptions::default()).err().unwrap();
        assert!(matches!(&e, FileIoError::Open { path, .. } if path == &missing));
    }

    #[test]
    fn buffered_writes_and_reads_when_asked() {
        let dir = disk_dir("buffered");
        let mut ring = uring_ring(4);
        let data = pattern(2 * MIB + 1, 10);
        let path = dir.0.join("f");
        let mut blocks = std::iter::repeat(MIB);
        let opts = WriteOptions { direct: false, ..WriteOptions::default() };
        let st = write_with(&mut ring, &path, &data, &mut blocks, &mut Vec::new(), opts, true).unwrap();
        assert!(!st.direct);
        let (back, rs) =
            read_with(&mut ring, &path, &mut Vec::new(), MIB, ReadOptions { direct: false }).unwrap();
        assert!(back == data && !rs.direct);
    }

    #[test]
    fn streams_from_a_pipe() {
        for mut ring in [uring_ring(4), Ring::blocking(4).unwrap()] {
            let data = pattern(5 * MIB + 17, 11);
            let (rx, tx) = nix::unistd::pipe().unwrap();
            let mut tx = File::from(tx);
            let feed = data.clone();
            let feeder = std::thread::spawn(move || {
                use std::io::Write;
                for piece in feed.chunks(100_003) {
                    tx.write_all(piece).unwrap();
                }
            });
            let mut r = SequentialReader::from_stream(&mut ring, rx, "pipe:source").unwrap();
            let mut out = Vec::new();
            let mut lens = Vec::new();
            while let Some(b) = r.next(|| OwnedBuf::new(MIB)).unwrap() {
                lens.push(b.len());
                out.extend_from_slice(b.bytes());
            }
            feeder.join().unwrap();
            assert!(out == data);
            assert_eq!(lens, [MIB, MIB, MIB, MIB, MIB, 17], "full buffers but the last");
            assert_eq!(r.stats().max_in_flight, 1);
        }
    }

    #[test]
    fn registered_and_unregistered_buffers() {
        let dir = disk_dir("registered");
        let data = pattern(10 * MIB + 123, 12);
        for register in [true, false] {
            let mut ring = uring_ring(4);
            // depth + 1 buffers of 1 MiB: 5 MiB, within even an 8 MiB RLIMIT_MEMLOCK.
            let mut free: Vec<OwnedBuf> = (0..5).map(|_| OwnedBuf::new(MIB)).collect();
            let uring = ring.engine() == Engine::Uring;
            if register {
                let ok = ring.register_buffers(free.iter().map(|b| b.aligned()));
                assert_eq!(ok, uring, "{:?}", ring.take_notices());
                let mut idx: Vec<_> = free.iter().map(|b| ring.registered_index(b.aligned())).collect();
                if uring {
                    idx.sort();
                    assert_eq!(idx, [Some(0), Some(1), Some(2), Some(3), Some(4)]);
                    assert_eq!(ring.registered_index(OwnedBuf::new(4096).aligned()), None);
                }
            }
            let path = dir.0.join(format!("reg-{register}"));
            let mut blocks = std::iter::repeat(MIB);
            let st =
                write_with(&mut ring, &path, &data, &mut blocks, &mut free, WriteOptions::default(), false)
                    .unwrap();
            assert_eq!(st.registered, register && uring);
            assert_eq!(free.len(), 5, "every buffer came back");
            assert!(std::fs::read(&path).unwrap() == data);
            let (back, rs) = read_with(&mut ring, &path, &mut free, MIB, ReadOptions::default()).unwrap();
            assert!(back == data);
            assert_eq!(rs.registered, register && uring);
        }
    }

    /// Runs one test of this binary in a child process (with `envs`, as `uid`) and returns
    /// its output; `None` when the child cannot be started as `uid` (e.g. the binary lies in
    /// a directory that user cannot reach).
    fn run_child_test(name: &str, envs: &[(&str, OsString)], uid: Option<u32>) -> Option<String> {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = Command::new(exe);
        cmd.args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"]).env_remove(NO_URING);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        if let Some(u) = uid {
            cmd.uid(u).gid(u);
        }
        let out = match cmd.output() {
            Ok(out) => out,
            Err(e) if uid.is_some() && e.kind() == io::ErrorKind::PermissionDenied => return None,
            Err(e) => panic!("cannot run the child test {name}: {e}"),
        };
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && text.contains("1 passed"), "child test {name} failed:\n{text}");
        Some(text)
    }

    const CHILD_DIR: &str = "AMRS_TEST_CHILD_DIR";

    #[test]
    fn no_uring_environment_variable_selects_the_fallback() {
        let dir = disk_dir("env");
        let text = run_child_test(
            "pipeline::uring::file::tests::child_under_no_uring",
            &[(NO_URING, "1".into()), (CHILD_DIR, dir.0.clone().into())],
            None,
        )
        .unwrap();
        assert!(text.contains("child ran under AMRS_NO_URING"), "{text}");
    }

    const NO_URING: &str = super::super::ring::NO_URING_ENV;

    /// Runs only as the child of the test above (ignored in a normal run, where it has
    /// nothing to check).
    #[test]
    #[ignore = "run by run_child_test as a child process"]
    fn child_under_no_uring() {
        let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
        if std::env::var_os(NO_URING).is_none() {
            return;
        }
        let mut ring: Ring<OwnedBuf> = Ring::new(8).unwrap();
        assert_eq!(ring.engine(), Engine::Blocking);
        let notices = ring.take_notices();
        assert!(notices.len() == 1 && notices[0].contains("AMRS_NO_URING"), "{notices:?}");
        round_trips(&mut ring, Path::new(&dir), Some(true));
        println!("child ran under AMRS_NO_URING");
    }

    #[test]
    fn registration_refused_under_memlock_limit() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test runs a child as another user: run it as root (the test command does)"
        );
        let dir = disk_dir("memlock");
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o777)).unwrap();
        let text = run_child_test(
            "pipeline::uring::file::tests::child_as_backup_user",
            &[(CHILD_DIR, dir.0.clone().into())],
            Some(65534),
        );
        let Some(text) = text else {
            panic!("this test binary cannot be run as nobody (is the target directory readable by all?)");
        };
        assert!(
            text.contains("child registered within the limit") || text.contains("child skipped"),
            "{text}"
        );
        eprintln!("{}", text.lines().find(|l| l.contains("child ")).unwrap_or(""));
    }

    /// Runs only as the child of the test above, as `nobody` with an 8 MiB memlock limit
    /// (the backup user's), where registering 16 MiB must be refused.
    #[test]
    #[ignore = "run by run_child_test as a child process"]
    fn child_as_backup_user() {
        let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
        if std::env::var_os(NO_URING).is_some() || nix::unistd::geteuid().is_root() {
            return;
        }
        super::super::ring::set_memlock_limit(8 * MIB as u64).unwrap();
        let mut ring: Ring<OwnedBuf> = Ring::new(4).unwrap();
        if ring.engine() != Engine::Uring {
            println!("child skipped: no io_uring for this user");
            return;
        }
        let big: Vec<OwnedBuf> = (0..16).map(|_| OwnedBuf::new(MIB)).collect();
        assert!(!ring.register_buffers(big.iter().map(|b| b.aligned())));
        let notices = ring.take_notices();
        assert!(notices.len() == 1 && notices[0].contains("RLIMIT_MEMLOCK 8192 KiB"), "{notices:?}");
        assert_eq!(ring.registered(), 0);
        // Unregistered I/O still works.
        let path = Path::new(&dir).join("after-refusal");
        let data = pattern(3 * MIB + 1, 13);
        let mut free = big;
        let mut blocks = std::iter::repeat(MIB);
        let st = write_with(&mut ring, &path, &data, &mut blocks, &mut free, WriteOptions::default(), false)
            .unwrap();
        assert!(!st.registered);
        assert!(std::fs::read(&path).unwrap() == data);
        // A set that fits is accepted.
        free.truncate(4);
        assert!(ring.register_buffers(free.iter().map(|b| b.aligned())));
        let st = write_with(&mut ring, &path, &data, &mut blocks, &mut free, WriteOptions::default(), false)
            .unwrap();
        assert!(st.registered);
        println!("child registered within the limit");
    }

    /// Throughput of a 1 GiB sequential write with 1 MiB buffers (a measurement, not a
    /// test): `cargo test --release -- --ignored --nocapture throughput`. Directory:
    /// `AMRS_BENCH_DIR`, else /var/tmp. Includes fdatasync and the directory fsync.
    #[test]
    #[ignore]
    fn throughput_1gib_sequential_write() {
        let base =
            std::env::var_os("AMRS_BENCH_DIR").map_or_else(|| PathBuf::from("/var/tmp"), PathBuf::from);
        let dir = TestDir::new_in(&base, "bench");
        let total = 1024 * MIB;
        let block = pattern(MIB, 14);
        let mb_s = |bytes: u64, d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
        for (direct, depth, register) in
            [(true, 4, true), (true, 8, true), (true, 8, false), (false, 4, true), (false, 8, true)]
        {
            let mut ring: Ring<OwnedBuf> = Ring::new(depth).unwrap();
            let mut free: Vec<OwnedBuf> = (0..=depth).map(|_| OwnedBuf::from_slice(&block)).collect();
            if register {
                ring.register_buffers(free.iter().map(|b| b.aligned()));
            }
            let path = dir.0.join("big");
            let t = Instant::now();
            let mut w = SequentialWriter::create(
                &mut ring,
                &path,
                WriteOptions { direct, ..WriteOptions::default() },
            )
            .unwrap();
            for _ in 0..total / MIB {
                if free.is_empty() {
                    free.extend(w.flush().unwrap());
                }
                let b = free.pop().unwrap();
                free.extend(w.submit(b, MIB).unwrap());
            }
            free.extend(w.flush().unwrap());
            let st = w.finish().unwrap();
            let d = t.elapsed();
            println!(
                "amrs write 1 GiB, {} qd {depth}{}: {:.0} MB/s ({:.2} s, of which sync {:.3} s; {:?}, max in flight {})",
                if st.direct { "O_DIRECT" } else { "buffered+fdatasync" },
                if st.registered { " registered" } else { "" },
                mb_s(st.bytes, d),
                d.as_secs_f64(),
                st.sync.as_secs_f64(),
                st.engine,
                st.max_in_flight,
            );
            std::fs::remove_file(&path).unwrap();
        }
        for (label, flag) in [("dd oflag=direct", "oflag=direct"), ("dd conv=fsync", "conv=fsync")] {
            let path = dir.0.join("dd");
            let out = Command::new("dd")
                .arg("if=/dev/zero")
                .arg(format!("of={}", path.display()))
                .args(["bs=1M", "count=1024", flag])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stderr);
            println!("{label}: {}", text.lines().last().unwrap_or(""));
            let _ = std::fs::remove_file(&path);
        }
    }
}
