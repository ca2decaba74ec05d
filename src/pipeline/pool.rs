//! The buffer pool: every byte of block data a pipeline holds, allocated once at start.
//!
//! # The budget
//!
//! A pipeline's pool holds exactly [`Budget::total_buffers`] buffers of
//! [`Budget::buffer_bytes`] each, the sum of one named term per consumer:
//!
//! | term | buffers | why |
//! |---|---|---|
//! | `source_read_depth` | reads in flight from the source | keeps the source's I/O queue full |
//! | `compress_workers × frames_in_flight` | one input and one output frame per worker slot | a worker owns its input until its output is sealed |
//! | `encrypt_depth` | frames waiting for the reorder step | absorbs workers finishing out of order |
//! | `holding_writes_in_flight` | chunker writes queued to the kernel | O_DIRECT writes are asynchronous |
//! | `taper_blocks` | `device_output_buffer_size / block_size` | the taper starts a part only with this much ready (streaming) |
//! | `+ 1` | | one spare so a stage holding its last buffer can still receive |
//!
//! The sinks own their write buffers, also allocated once when they start and listed
//! beside the budget by `ambench --verbose`: each queued file writer (holding chunks,
//! vtape files) `STAGE_BUFFERS` x 1 MiB (`device::file_writer`), the follower
//! `FOLLOW_READ_DEPTH + 2` x 1 MiB (`pipeline::follow`), the taper one staging block (and
//! its `device_output_buffer_size` pre-buffer when the device streams), an io_uring source
//! `READ_AHEAD + 1` x 1 MiB; the two terms above are then 0 in the pipeline's own pool.
//!
//! Nothing else allocates block memory after the pool is built: a stage takes a
//! [`PoolBuf`] from the pool, fills it, sends it on a bounded channel, and the last
//! holder's drop returns it. When the device is slow, the channels fill, the pool runs dry,
//! and [`BufferPool::take`] blocks the source: memory stays flat whatever the dump size.

use super::uring::buf::AlignedBuf;
use crossbeam_channel::{bounded, Receiver, Sender};
use std::time::{Duration, Instant};

/// The named terms of a pipeline's buffer budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Bytes per buffer: a frame of input plus the largest expansion of a frame by
    /// compression and sealing, rounded up to pages.
    pub buffer_bytes: usize,
    pub source_read_depth: usize,
    pub compress_workers: usize,
    /// Frames a worker may hold at once (its input and its output).
    pub frames_in_flight: usize,
    pub encrypt_depth: usize,
    pub holding_writes_in_flight: usize,
    pub taper_blocks: usize,
}

impl Budget {
    pub fn total_buffers(&self) -> usize {
        self.source_read_depth
            + self.compress_workers * self.frames_in_flight
            + self.encrypt_depth
            + self.holding_writes_in_flight
            + self.taper_blocks
            + 1
    }

    pub fn total_bytes(&self) -> usize {
        self.total_buffers() * self.buffer_bytes
    }

    /// The budget as `name=value` terms, for `ambench --verbose`.
    pub fn describe(&self) -> String {
        format!(
            "buffer_bytes={} source_read_depth={} compress_workers={} x frames_in_flight={} encrypt_depth={} holding_writes_in_flight={} taper_blocks={} +1 => {} buffers, {} bytes",
            self.buffer_bytes,
            self.source_read_depth,
            self.compress_workers,
            self.frames_in_flight,
            self.encrypt_depth,
            self.holding_writes_in_flight,
            self.taper_blocks,
            self.total_buffers(),
            self.total_bytes()
        )
    }
}

/// A fixed set of aligned buffers shared by a pipeline's stages.
#[derive(Clone)]
pub struct BufferPool {
    free_rx: Receiver<AlignedBuf>,
    free_tx: Sender<AlignedBuf>,
    buffer_bytes: usize,
    count: usize,
}

impl BufferPool {
    /// Allocates every buffer of `budget` now.
    pub fn new(budget: &Budget) -> BufferPool {
        let count = budget.total_buffers();
        let (free_tx, free_rx) = bounded(count);
        for _ in 0..count {
            free_tx.send(AlignedBuf::new(budget.buffer_bytes)).expect("pool channel has room for all");
        }
        BufferPool { free_rx, free_tx, buffer_bytes: budget.buffer_bytes, count }
    }

    /// Takes a buffer, waiting until one is free; returns it with the time spent waiting
    /// (the caller's "blocked on output" when the pipeline downstream is full).
    pub fn take(&self) -> (PoolBuf, Duration) {
        let t = Instant::now();
        let data = self.free_rx.recv().expect("the pool outlives its buffers");
        (PoolBuf { data: Some(data), len: 0, seq: 0, home: self.free_tx.clone() }, t.elapsed())
    }

    pub fn buffer_bytes(&self) -> usize {
        self.buffer_bytes
    }

    pub fn capacity(&self) -> usize {
        self.count
    }

    /// Buffers currently free (for tests and statistics).
    /// Registers every buffer of the pool with `ring` (fixed reads and writes); the pool
    /// must be idle (all buffers free) and outlive the ring's registration. Returns
    /// whether the kernel took them (see [`super::uring::ring::Ring::register_buffers`]).
    pub fn register_with(&self, ring: &mut super::uring::ring::Ring<PoolBuf>) -> bool {
        let all: Vec<PoolBuf> = (0..self.count).map(|_| self.take().0).collect();
        // The buffers go back to the pool when `all` is dropped.
        ring.register_buffers(all.iter().map(|b| b.aligned()))
    }

    pub fn free(&self) -> usize {
        self.free_rx.len()
    }
}

/// A buffer on loan from the pool: `len` bytes of it are valid, `seq` orders frames.
/// Dropping it returns it to the pool (no allocation, no free).
pub struct PoolBuf {
    data: Option<AlignedBuf>,
    pub len: usize,
    pub seq: u64,
    home: Sender<AlignedBuf>,
}

impl PoolBuf {
    /// The whole buffer, for filling.
    pub fn space(&mut self) -> &mut [u8] {
        self.data.as_deref_mut().expect("buffer present until drop")
    }

    /// The valid bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data.as_deref().expect("buffer present until drop")[..self.len]
    }

    pub fn capacity(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.len())
    }

    /// The underlying aligned buffer (for O_DIRECT / registered I/O).
    pub fn aligned(&self) -> &AlignedBuf {
        self.data.as_ref().expect("buffer present until drop")
    }

    pub fn aligned_mut(&mut self) -> &mut AlignedBuf {
        self.data.as_mut().expect("buffer present until drop")
    }
}

impl Drop for PoolBuf {
    fn drop(&mut self) {
        if let Some(d) = self.data.take() {
            // The pool may already be gone when a pipeline is torn down; then the buffer
            // is simply freed.
            let _ = self.home.send(d);
        }
    }
}

/// Pool buffers go to the io_uring writer and reader as they are, and come back when the
/// I/O completes.
impl super::uring::ring::IoBuf for PoolBuf {
    fn aligned(&self) -> &AlignedBuf {
        PoolBuf::aligned(self)
    }
    fn aligned_mut(&mut self) -> &mut AlignedBuf {
        PoolBuf::aligned_mut(self)
    }
    fn len(&self) -> usize {
        self.len
    }
    fn set_len(&mut self, n: usize) {
        self.len = n;
    }
}

impl std::fmt::Debug for PoolBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PoolBuf(seq {}, {} of {} bytes)", self.seq, self.len, self.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Budget {
        Budget {
            buffer_bytes: 8192,
            source_read_depth: 1,
            compress_workers: 2,
            frames_in_flight: 2,
            encrypt_depth: 1,
            holding_writes_in_flight: 1,
            taper_blocks: 2,
        }
    }

    #[test]
    fn budget_is_the_sum_of_its_terms() {
        let b = small();
        assert_eq!(b.total_buffers(), 1 + 4 + 1 + 1 + 2 + 1);
        assert_eq!(b.total_bytes(), 10 * 8192);
        assert!(b.describe().contains("=> 10 buffers"));
    }

    #[test]
    fn buffers_come_back_and_the_pool_blocks_when_empty() {
        let pool = BufferPool::new(&small());
        let held: Vec<PoolBuf> = (0..pool.capacity()).map(|_| pool.take().0).collect();
        assert_eq!(pool.free(), 0);
        let p2 = pool.clone();
        let waiter = std::thread::spawn(move || p2.take().0.capacity());
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "take() must wait while every buffer is out");
        drop(held);
        assert_eq!(waiter.join().unwrap(), 8192);
        assert_eq!(pool.free(), pool.capacity());
    }
}
