//! The data path's I/O queue: io_uring submissions and completions, registered buffers, and
//! the blocking helper-thread engine that stands in for io_uring where the kernel has none.
//! This is the only code that hands buffer memory to the kernel.
#![allow(unsafe_code)]
//!
//! # I/O rules
//!
//! 1. **A buffer given to the queue belongs to the queue until its [`Completion`] comes
//!    back.** The kernel may read or write it until then, so nothing else may. The queue
//!    takes the address once, at submission (`aligned()` for a write, `aligned_mut()` for a
//!    read), and calls no method of the buffer until the completion has been reaped.
//! 2. **The file outlives its operations.** Each operation holds an `Arc<File>` until it
//!    completes, so the descriptor number cannot be closed and reused under it.
//! 3. **Nothing is freed under the kernel.** Dropping the queue (or [`Ring::quiesce`])
//!    first waits for every operation. If the kernel can no longer be waited on, the
//!    buffers still in flight are leaked, never freed.
//! 4. **At most `depth` operations are in flight**, and the completion queue is twice the
//!    submission queue, so no completion is ever dropped and a push always finds room.
//! 5. **Registered buffers** ([`Ring::register_buffers`]) are pinned pages and count
//!    against `RLIMIT_MEMLOCK` unless the process has `CAP_IPC_LOCK`; a refusal is not an
//!    error: the queue keeps using plain `Read`/`Write` and records a notice. An operation
//!    uses `ReadFixed`/`WriteFixed` only when its whole buffer lies inside one registered
//!    region, found by address, so the caller never passes indexes around.
//! 6. **Without io_uring** (`AMRS_NO_URING=1`, `kernel.io_uring_disabled = 2`, or
//!    `io_uring_setup` refused) one helper thread runs the operations in submission order
//!    with `pwrite`/`pread` (`write`/`read` for streams) and sends completions back over a
//!    channel: the same interface, results and ordering guarantees, one operation at a
//!    time at the disk.
//! 7. **Notices, not prints.** Anything the operator should hear about (no io_uring,
//!    registration refused, O_DIRECT refused) is queued once per cause and handed out by
//!    [`Ring::take_notices`]; this layer never prints.
//! 8. **No allocation per block.** Slots, the free list and the caller's completion
//!    vector are reused; only setup, registration and error paths allocate.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};
use io_uring::{opcode, types, IoUring};
use nix::libc;

use super::buf::{AlignedBuf, BUFFER_ALIGN_BYTES};

/// An owned I/O buffer: an [`AlignedBuf`] plus the count of valid bytes in it. The queue
/// takes buffers by value so that a buffer provably lives until its operation completes.
///
/// `aligned`/`aligned_mut` must return a buffer owned by `self` (the usual case: a field).
/// The pool's `PoolBuf` implements this by delegating to its own methods and `len` field.
pub trait IoBuf: Send + 'static {
    fn aligned(&self) -> &AlignedBuf;
    fn aligned_mut(&mut self) -> &mut AlignedBuf;
    /// Valid bytes (what a write writes; what a read filled).
    fn len(&self) -> usize;
    fn set_len(&mut self, n: usize);

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the buffer can hold.
    fn capacity(&self) -> usize {
        self.aligned().len()
    }
}

/// Which engine runs a [`Ring`]'s operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// io_uring, up to `depth` operations in the kernel at once.
    Uring,
    /// Blocking `pread`/`pwrite` on one helper thread, in submission order.
    Blocking,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Read,
    Write,
}

/// One operation as the caller asked for it; returned unchanged with its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpSpec {
    pub kind: OpKind,
    /// Byte offset in the file, or `None` for a pipe or socket (the current position).
    pub offset: Option<u64>,
    /// First byte of the buffer that the operation reads from or fills.
    pub start: usize,
    /// Bytes to transfer, from `start`.
    pub len: usize,
    /// The caller's own tag (a sequence number, say).
    pub tag: u64,
}

/// A finished operation: its buffer back, and the byte count or the error.
#[derive(Debug)]
pub struct Completion<B> {
    pub op: OpSpec,
    pub buf: B,
    pub result: io::Result<usize>,
    /// Whether the operation used a registered buffer (`ReadFixed`/`WriteFixed`).
    pub fixed: bool,
}

/// The environment variable that forces the blocking engine (for tests and for kernels
/// where io_uring misbehaves).
pub const NO_URING_ENV: &str = "AMRS_NO_URING";

/// One registered region: the buffer's address range and its index in the kernel's table.
#[derive(Clone, Copy, Debug)]
struct Region {
    addr: usize,
    len: usize,
    index: u16,
}

/// An operation the queue owns until it completes (rules 1 and 2).
struct Pending<B> {
    op: OpSpec,
    buf: B,
    file: Arc<File>,
    fixed: bool,
}

struct UringEngine<B> {
    ring: IoUring,
    /// Operations in the kernel, by `user_data`; `free` lists the empty slots.
    slots: Vec<Option<Pending<B>>>,
    free: Vec<usize>,
}

struct BlockingEngine<B> {
    /// `None` once dropping: closing the channel stops the worker.
    jobs: Option<Sender<Pending<B>>>,
    done: Receiver<Completion<B>>,
    worker: Option<JoinHandle<()>>,
}

enum EngineState<B> {
    /// Boxed: the ring's state is several times the size of the fallback's.
    Uring(Box<UringEngine<B>>),
    Blocking(BlockingEngine<B>),
}

/// An I/O queue of at most `depth` operations in flight, on io_uring or its fallback.
///
/// One user at a time: a [`SequentialWriter`](super::file::SequentialWriter) or
/// [`SequentialReader`](super::file::SequentialReader) borrows it mutably, and the next
/// one can reuse it (and its registered buffers) for the next file.
pub struct Ring<B: IoBuf> {
    engine: EngineState<B>,
    depth: usize,
    in_flight: usize,
    /// Registered regions sorted by address.
    regions: Vec<Region>,
    notices: Vec<String>,
    /// Keys of the notices already queued, so each cause is reported once.
    said: Vec<String>,
}

impl<B: IoBuf> Ring<B> {
    /// A queue of `depth` operations (at least 1) on io_uring, or on the blocking engine
    /// when `AMRS_NO_URING` is set (to anything but `0` or empty), when
    /// `/proc/sys/kernel/io_uring_disabled` is 2, or when `io_uring_setup` fails. The
    /// reason for a fallback is queued as a notice. Fails only if the helper thread of the
    /// fallback cannot be started.
    pub fn new(depth: usize) -> io::Result<Ring<B>> {
        if let Some(v) = std::env::var_os(NO_URING_ENV) {
            if !v.is_empty() && v != "0" {
                let why = format!("io_uring not used ({NO_URING_ENV} is set)");
                return Ring::blocking_with_notice(depth, why);
            }
        }
        if std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").is_ok_and(|s| s.trim() == "2") {
            let why = "io_uring is disabled on this system (kernel.io_uring_disabled = 2)".to_string();
            return Ring::blocking_with_notice(depth, why);
        }
        let depth = depth.max(1);
        // The submission queue holds `depth` (rounded up to a power of two by the kernel);
        // the completion queue is twice that by default (rule 4).
        let entries = u32::try_from(depth).unwrap_or(u32::MAX).min(4096);
        match IoUring::new(entries) {
            Ok(ring) => {
                let depth = depth.min(ring.params().sq_entries() as usize);
                Ok(Ring {
                    engine: EngineState::Uring(Box::new(UringEngine {
                        ring,
                        slots: (0..depth).map(|_| None).collect(),
                        free: (0..depth).rev().collect(),
                    })),
                    depth,
                    in_flight: 0,
                    regions: Vec::new(),
                    notices: Vec::new(),
                    said: Vec::new(),
                })
            }
            Err(e) => {
                let why = format!("io_uring unavailable ({e})");
                Ring::blocking_with_notice(depth, why)
            }
        }
    }

    /// A queue on the blocking engine whatever the kernel offers (tests, and callers that
    /// know io_uring is unwanted). Queues no notice.
    pub fn blocking(depth: usize) -> io::Result<Ring<B>> {
        let depth = depth.max(1);
        // Both channels hold `depth`: the ring never has more than that outstanding, so
        // neither side ever blocks on a full channel.
        let (jobs_tx, jobs_rx) = bounded::<Pending<B>>(depth);
        let (done_tx, done_rx) = bounded::<Completion<B>>(depth);
        let worker = std::thread::Builder::new()
            .name("amrs-io".into())
            .spawn(move || blocking_worker(jobs_rx, done_tx))?;
        Ok(Ring {
            engine: EngineState::Blocking(BlockingEngine {
                jobs: Some(jobs_tx),
                done: done_rx,
                worker: Some(worker),
            }),
            depth,
            in_flight: 0,
            regions: Vec::new(),
            notices: Vec::new(),
            said: Vec::new(),
        })
    }

    fn blocking_with_notice(depth: usize, why: String) -> io::Result<Ring<B>> {
        let mut ring = Ring::blocking(depth)?;
        ring.note_once("engine", format!("{why}; using blocking pread/pwrite on a helper thread"));
        Ok(ring)
    }

    pub fn engine(&self) -> Engine {
        match self.engine {
            EngineState::Uring(_) => Engine::Uring,
            EngineState::Blocking(_) => Engine::Blocking,
        }
    }

    /// Most operations in flight at once.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Operations submitted and not yet returned by [`Ring::wait`].
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Queues `text` unless a notice with the same `key` was queued before.
    pub fn note_once(&mut self, key: &str, text: String) {
        if !self.said.iter().any(|k| k == key) {
            self.said.push(key.to_string());
            self.notices.push(text);
        }
    }

    /// The notices queued since the last call (rule 7).
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    /// Registers `bufs` with the kernel so that operations on them use `ReadFixed` and
    /// `WriteFixed` (pinned once instead of on every operation). Returns whether they are
    /// registered; a refusal (typically `RLIMIT_MEMLOCK`, see rule 5) queues a notice and
    /// leaves the queue on plain reads and writes. A second call replaces the first set.
    /// On the blocking engine there is nothing to register and this returns `false`.
    ///
    /// The buffers must stay allocated while the ring holds the registration (the pool's
    /// buffers live as long as the pipeline, which outlives its rings). Should one be freed
    /// earlier, the kernel keeps its pages pinned: a buffer later allocated at the same
    /// address then reads or writes those orphaned pages — wrong data, never memory that
    /// Rust code uses.
    ///
    /// Panics if operations are in flight.
    pub fn register_buffers<'a, I>(&mut self, bufs: I) -> bool
    where
        I: IntoIterator<Item = &'a AlignedBuf>,
    {
        assert_eq!(self.in_flight, 0, "register buffers only on an idle ring");
        let EngineState::Uring(u) = &mut self.engine else {
            return false;
        };
        if !self.regions.is_empty() {
            // Ignored on failure: the new registration below reports the problem.
            let _ = u.ring.submitter().unregister_buffers();
            self.regions.clear();
        }
        let iovecs: Vec<libc::iovec> = bufs
            .into_iter()
            .map(|b| libc::iovec { iov_base: b.as_ptr() as *mut libc::c_void, iov_len: b.len() })
            .collect();
        if iovecs.is_empty() {
            return false;
        }
        let bytes: usize = iovecs.iter().map(|v| v.iov_len).sum();
        let result = if iovecs.len() > usize::from(u16::MAX) + 1 {
            Err(io::Error::new(io::ErrorKind::InvalidInput, "more buffers than buffer indexes"))
        } else {
            // SAFETY: every iovec describes a live AlignedBuf (borrowed for this call):
            // `len` bytes at a page-aligned address. The kernel pins those pages and keeps
            // its own reference to them until unregistration or ring teardown, so it never
            // touches memory that was returned to the allocator; the contract above on
            // buffer lifetime is about correctness, not memory safety.
            unsafe { u.ring.submitter().register_buffers(&iovecs) }
        };
        match result {
            Ok(()) => {
                self.regions = iovecs
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Region { addr: v.iov_base as usize, len: v.iov_len, index: i as u16 })
                    .collect();
                self.regions.sort_by_key(|r| r.addr);
                true
            }
            Err(e) => {
                let limit = memlock_limit().map_or_else(
                    || "unknown".to_string(),
                    |l| l.map_or("unlimited".into(), |b| format!("{} KiB", b / 1024)),
                );
                self.note_once(
                    "register",
                    format!(
                        "io_uring: registering {} buffers ({} KiB) refused: {e} (RLIMIT_MEMLOCK {limit}); \
                         using unregistered reads and writes",
                        iovecs.len(),
                        bytes / 1024
                    ),
                );
                false
            }
        }
    }

    /// Number of registered buffers (0 when none or refused).
    pub fn registered(&self) -> usize {
        self.regions.len()
    }

    /// The registered index of `buf`, if `buf` lies inside a registered region.
    pub fn registered_index(&self, buf: &AlignedBuf) -> Option<u16> {
        self.region_of(buf.as_ptr() as usize, buf.len())
    }

    fn region_of(&self, addr: usize, len: usize) -> Option<u16> {
        let after = self.regions.partition_point(|r| r.addr <= addr);
        let r = self.regions.get(after.checked_sub(1)?)?;
        (addr + len <= r.addr + r.len).then_some(r.index)
    }

    /// Starts `op` on `file` with `buf`, which the queue owns until [`Ring::wait`] returns
    /// it. Panics if `depth` operations are already in flight or if `op` does not fit in
    /// `buf` (caller bugs). An error means io_uring itself failed; the buffer stays queued
    /// and comes back from `wait` (or is dropped with the ring).
    pub fn submit(&mut self, file: &Arc<File>, op: OpSpec, mut buf: B) -> io::Result<()> {
        assert!(self.in_flight < self.depth, "ring full: wait for a completion first");
        // Address and size come from one borrow of the buffer, the one the kernel will use
        // (shared for a write, which the kernel only reads; exclusive for a read).
        let (base, cap) = match op.kind {
            OpKind::Write => {
                let a = buf.aligned();
                (a.as_ptr().cast_mut(), a.len())
            }
            OpKind::Read => {
                let a = buf.aligned_mut();
                (a.as_mut_ptr(), a.len())
            }
        };
        assert!(op.start <= cap && op.len <= cap - op.start, "operation outside its buffer");
        // The kernel caps one transfer at MAX_RW_COUNT (2 GiB - 4 KiB) anyway: a larger one
        // would simply come back short.
        let len = u32::try_from(op.len).unwrap_or(u32::MAX);
        let fixed_index = self.region_of(base as usize, cap);
        match &mut self.engine {
            EngineState::Uring(u) => {
                let fd = types::Fd(file.as_raw_fd());
                // io_uring reads "offset -1" as "the current position" (pipes, sockets).
                let offset = op.offset.unwrap_or(u64::MAX);
                let ptr = base.wrapping_add(op.start);
                let entry = match (op.kind, fixed_index) {
                    (OpKind::Write, Some(i)) => {
                        opcode::WriteFixed::new(fd, ptr, len, i).offset(offset).build()
                    }
                    (OpKind::Write, None) => opcode::Write::new(fd, ptr, len).offset(offset).build(),
                    (OpKind::Read, Some(i)) => opcode::ReadFixed::new(fd, ptr, len, i).offset(offset).build(),
                    (OpKind::Read, None) => opcode::Read::new(fd, ptr, len).offset(offset).build(),
                };
                let slot = u.free.pop().expect("a free slot whenever in_flight < depth");
                let entry = entry.user_data(slot as u64);
                // SAFETY: the entry points at `len` bytes from `start` inside the AlignedBuf
                // that `buf` lent us above (bounds checked against that same borrow). `buf`
                // moves into `slots[slot]` right below and stays there, untouched, until the
                // completion with this user_data is reaped (rule 1); moving `buf` does not
                // move its heap memory. The file is kept alive in the same slot (rule 2). For
                // a fixed op the whole buffer lies inside registered region `i`.
                let pushed = unsafe { u.ring.submission().push(&entry) };
                pushed.expect("the submission queue has room: in_flight < depth <= sq entries");
                u.slots[slot] =
                    Some(Pending { op, buf, file: Arc::clone(file), fixed: fixed_index.is_some() });
                self.in_flight += 1;
                match u.ring.submit() {
                    Ok(_) => Ok(()),
                    // Not submitted yet; the entry stays in the queue and the next enter
                    // (in `wait`) submits it.
                    Err(e) if retryable(&e) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            EngineState::Blocking(b) => {
                let jobs = b.jobs.as_ref().expect("jobs channel open until drop");
                let pending = Pending { op, buf, file: Arc::clone(file), fixed: false };
                match jobs.send(pending) {
                    Ok(()) => {
                        self.in_flight += 1;
                        Ok(())
                    }
                    // Only if the worker died (a panic in a buffer's methods).
                    Err(_) => Err(io::Error::other("the I/O helper thread has stopped")),
                }
            }
        }
    }

    /// Waits until at least `min` operations (capped at those in flight) have completed,
    /// appending them and any others already finished to `out`. Returns how many were
    /// appended. `wait(0, …)` only collects what is ready.
    pub fn wait(&mut self, min: usize, out: &mut Vec<Completion<B>>) -> io::Result<usize> {
        let min = min.min(self.in_flight);
        let mut got = 0;
        loop {
            got += self.reap(out);
            if got >= min {
                return Ok(got);
            }
            match &mut self.engine {
                EngineState::Uring(u) => match u.ring.submit_and_wait(1) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                },
                EngineState::Blocking(b) => match b.done.recv() {
                    Ok(c) => {
                        self.in_flight -= 1;
                        got += 1;
                        out.push(c);
                    }
                    Err(_) => return Err(io::Error::other("the I/O helper thread has stopped")),
                },
            }
        }
    }

    /// Moves every finished operation to `out` without blocking.
    fn reap(&mut self, out: &mut Vec<Completion<B>>) -> usize {
        let mut got = 0;
        match &mut self.engine {
            EngineState::Uring(u) => {
                for cqe in u.ring.completion() {
                    let slot = cqe.user_data() as usize;
                    let p = u.slots[slot].take().expect("a completion for an occupied slot");
                    u.free.push(slot);
                    let res = cqe.result();
                    let result =
                        if res < 0 { Err(io::Error::from_raw_os_error(-res)) } else { Ok(res as usize) };
                    out.push(Completion { op: p.op, buf: p.buf, result, fixed: p.fixed });
                    got += 1;
                }
            }
            EngineState::Blocking(b) => {
                while let Ok(c) = b.done.try_recv() {
                    out.push(c);
                    got += 1;
                }
            }
        }
        self.in_flight -= got;
        got
    }

    /// Waits for every operation in flight and drops their buffers (which, for pool
    /// buffers, returns them to the pool). Used when a user of the ring stops early.
    pub fn quiesce(&mut self) -> io::Result<()> {
        if self.in_flight == 0 {
            return Ok(());
        }
        let mut scratch = Vec::with_capacity(self.in_flight);
        while self.in_flight > 0 {
            self.wait(1, &mut scratch)?;
            scratch.clear();
        }
        Ok(())
    }
}

impl<B: IoBuf> Drop for Ring<B> {
    fn drop(&mut self) {
        if self.quiesce().is_err() {
            // Rule 3: the kernel can no longer be waited on; leak what it may still use.
            if let EngineState::Uring(u) = &mut self.engine {
                for p in u.slots.iter_mut().filter_map(Option::take) {
                    std::mem::forget(p.buf);
                }
            }
        }
        if let EngineState::Blocking(b) = &mut self.engine {
            // Closing the job channel ends the worker's loop; anything it still held was
            // finished by the quiesce above.
            b.jobs = None;
            if let Some(w) = b.worker.take() {
                let _ = w.join();
            }
        }
    }
}

fn retryable(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY))
}

/// The blocking engine: one operation at a time, in submission order (rule 6).
fn blocking_worker<B: IoBuf>(jobs: Receiver<Pending<B>>, done: Sender<Completion<B>>) {
    for mut p in jobs.iter() {
        let result = run_blocking(&p.file, &p.op, &mut p.buf);
        // A closed channel means the ring is being dropped: keep draining the jobs.
        let _ = done.send(Completion { op: p.op, buf: p.buf, result, fixed: false });
    }
}

fn run_blocking<B: IoBuf>(file: &File, op: &OpSpec, buf: &mut B) -> io::Result<usize> {
    let range = op.start..op.start + op.len;
    loop {
        let r = match (op.kind, op.offset) {
            (OpKind::Write, Some(at)) => file.write_at(&buf.aligned()[range.clone()], at),
            (OpKind::Write, None) => (&mut &*file).write(&buf.aligned()[range.clone()]),
            (OpKind::Read, Some(at)) => file.read_at(&mut buf.aligned_mut()[range.clone()], at),
            (OpKind::Read, None) => (&mut &*file).read(&mut buf.aligned_mut()[range.clone()]),
        };
        match r {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Direct-I/O alignment of an open file, as `statx(STATX_DIOALIGN)` reports it (Linux
/// 6.1+). `Ok(None)`: the kernel or filesystem does not say. A reported alignment of 0
/// means the file does not support direct I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DioAlign {
    /// Required alignment of buffer addresses.
    pub mem: u32,
    /// Required alignment of file offsets and lengths (the logical block size).
    pub offset: u32,
}

pub fn dio_alignment(file: &File) -> io::Result<Option<DioAlign>> {
    // SAFETY: statx is plain old data; all-zero is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a valid open descriptor, an empty NUL-terminated path with AT_EMPTY_PATH
    // (meaning "this descriptor"), and a pointer to a statx we own for the call.
    let rc = unsafe {
        libc::statx(file.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH, libc::STATX_DIOALIGN, &mut stx)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if stx.stx_mask & libc::STATX_DIOALIGN == 0 {
        return Ok(None);
    }
    Ok(Some(DioAlign { mem: stx.stx_dio_mem_align, offset: stx.stx_dio_offset_align }))
}

/// Whether a buffer from the pool meets a direct-I/O memory alignment.
pub fn pool_meets(align: DioAlign) -> bool {
    (align.mem as usize) <= BUFFER_ALIGN_BYTES
}

/// `RLIMIT_MEMLOCK`'s soft limit in bytes: `Some(None)` when unlimited, `None` if unknown.
pub fn memlock_limit() -> Option<Option<u64>> {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct we own for the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut rl) };
    if rc != 0 {
        return None;
    }
    Some((rl.rlim_cur != libc::RLIM_INFINITY).then_some(rl.rlim_cur))
}

/// Lowers `RLIMIT_MEMLOCK` (soft and hard) for this process: tests that play the backup
/// user. Process-wide, so only for a child process of its own.
#[cfg(test)]
pub(crate) fn set_memlock_limit(bytes: u64) -> io::Result<()> {
    let rl = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
    // SAFETY: setrlimit reads one rlimit from a struct we own for the call.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rl) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::file::OwnedBuf;
    use super::*;
    use std::os::fd::OwnedFd;

    fn pipe_pair() -> (Arc<File>, File) {
        let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
        (Arc::new(File::from(r)), File::from(w))
    }

    #[test]
    fn completions_come_back_out_of_order_with_depth_in_flight() {
        let mut ring: Ring<OwnedBuf> = Ring::new(8).unwrap();
        assert_eq!(ring.engine(), Engine::Uring, "this test needs io_uring: {:?}", ring.take_notices());
        let pipes: Vec<_> = (0..8).map(|_| pipe_pair()).collect();
        for (i, (r, _)) in pipes.iter().enumerate() {
            let op = OpSpec { kind: OpKind::Read, offset: None, start: 0, len: 4096, tag: i as u64 };
            ring.submit(r, op, OwnedBuf::new(4096)).unwrap();
        }
        assert_eq!(ring.in_flight(), 8);
        let mut out = Vec::new();
        assert_eq!(ring.wait(0, &mut out).unwrap(), 0, "nothing written yet");
        // Feed the pipes last to first: the reads finish in that order.
        for (i, (_, w)) in pipes.iter().enumerate().rev() {
            (&mut &*w).write_all(&[i as u8; 3]).unwrap();
            ring.wait(1, &mut out).unwrap();
            let c = out.pop().unwrap();
            assert_eq!(c.op.tag, i as u64);
            assert_eq!(c.result.unwrap(), 3);
            assert_eq!(&c.buf.aligned()[..3], &[i as u8; 3]);
        }
        assert_eq!(ring.in_flight(), 0);
    }

    #[test]
    fn the_fallback_completes_in_submission_order() {
        let mut ring: Ring<OwnedBuf> = Ring::blocking(4).unwrap();
        let f = Arc::new(File::open("/dev/zero").unwrap());
        for tag in 0..4 {
            let op = OpSpec { kind: OpKind::Read, offset: None, start: 0, len: 100, tag };
            ring.submit(&f, op, OwnedBuf::new(100)).unwrap();
        }
        let mut out = Vec::new();
        ring.wait(4, &mut out).unwrap();
        let tags: Vec<u64> = out.iter().map(|c| c.op.tag).collect();
        assert_eq!(tags, [0, 1, 2, 3]);
        assert!(out.iter().all(|c| *c.result.as_ref().unwrap() == 100));
    }

    #[test]
    fn a_write_on_a_read_only_file_fails_with_its_errno() {
        for mut ring in [Ring::<OwnedBuf>::new(2).unwrap(), Ring::blocking(2).unwrap()] {
            let f = Arc::new(File::open("/dev/null").unwrap());
            let op = OpSpec { kind: OpKind::Write, offset: Some(0), start: 0, len: 10, tag: 7 };
            ring.submit(&f, op, OwnedBuf::from_slice(&[1; 10])).unwrap();
            let mut out = Vec::new();
            ring.wait(1, &mut out).unwrap();
            assert_eq!(out[0].result.as_ref().unwrap_err().raw_os_error(), Some(libc::EBADF));
            assert_eq!(out[0].op.tag, 7);
        }
    }

    #[test]
    fn dropping_a_busy_ring_waits_for_its_operations() {
        let mut ring: Ring<OwnedBuf> = Ring::new(2).unwrap();
        let (r, w) = pipe_pair();
        let op = OpSpec { kind: OpKind::Read, offset: None, start: 0, len: 10, tag: 0 };
        ring.submit(&r, op, OwnedBuf::new(10)).unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            (&mut &w).write_all(b"x").unwrap();
        });
        drop(ring); // returns only once the read has completed
        writer.join().unwrap();
    }

    #[test]
    fn memlock_limit_reads() {
        assert!(memlock_limit().is_some());
    }
}
