//! Page-aligned, fixed-size byte buffers: the memory of the data path's buffer pool.
#![allow(unsafe_code)]
//!
//! O_DIRECT reads and writes need buffers aligned to the device's logical block size and
//! io_uring registered buffers are pinned pages, so pool buffers are allocated here,
//! aligned to [`BUFFER_ALIGN_BYTES`], once, when a pipeline starts. Everything else sees
//! them as `&[u8]` / `&mut [u8]` through `Deref`.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

/// Alignment of every pool buffer: a page, which satisfies O_DIRECT on every Linux
/// filesystem we write (logical block sizes of 512 B or 4 KiB).
pub const BUFFER_ALIGN_BYTES: usize = 4096;

/// A heap buffer of a fixed length, aligned to [`BUFFER_ALIGN_BYTES`].
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively (like a Box<[u8]>); moving it to
// another thread moves that ownership.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared references only give out `&[u8]`, which is Sync.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// Allocates `len` zeroed bytes (`len` > 0, rounded up to a whole number of pages).
    pub fn new(len: usize) -> AlignedBuf {
        assert!(len > 0, "an empty buffer is never useful");
        let len = len.div_ceil(BUFFER_ALIGN_BYTES) * BUFFER_ALIGN_BYTES;
        let layout = Layout::from_size_align(len, BUFFER_ALIGN_BYTES).expect("buffer layout");
        // SAFETY: the layout has a non-zero size (len > 0 checked above).
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address, for registering the buffer with io_uring.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: ptr points to `len` initialised (zeroed at allocation) bytes owned by
        // self, alive for as long as the borrow of self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref, and the exclusive borrow of self makes this the only
        // reference to the bytes.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.len, BUFFER_ALIGN_BYTES).expect("buffer layout");
        // SAFETY: ptr was allocated in `new` with exactly this layout and is freed once.
        unsafe { dealloc(self.ptr.as_ptr(), layout) }
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedBuf({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_zeroed_and_writable() {
        let mut b = AlignedBuf::new(10_000);
        assert_eq!(b.len(), 12_288);
        assert_eq!(b.as_ptr() as usize % BUFFER_ALIGN_BYTES, 0);
        assert!(b.iter().all(|x| *x == 0));
        b[12_287] = 7;
        assert_eq!(b[12_287], 7);
        let moved = std::thread::spawn(move || b[12_287]).join().unwrap();
        assert_eq!(moved, 7);
    }
}
