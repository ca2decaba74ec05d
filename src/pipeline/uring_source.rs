//! A pipeline [`Source`] that reads a file or a stream (pipe, socket) through io_uring,
//! several reads ahead of the pipeline.
//!
//! The pipeline's source stage fills its own frame buffers (`Source::fill`), so the bytes
//! read into this source's buffers are copied once into the frame — the same one copy a
//! plain `read(2)` makes from the page cache — while the disk (or the socket) is kept busy
//! as the pipeline works on earlier frames. Files are read through the page cache, not
//! O_DIRECT: a source is usually data that is already cached (a benchmark corpus, files
//! just written), and O_DIRECT would send every read to the disk that the holding disk
//! and the vtape are writing to (measured: "none" straight to a vtape from a warm 256 MiB
//! file, 0.12 s buffered against 0.23 s O_DIRECT).
//! Memory: [`READ_AHEAD`] + 1 buffers of [`READ_BYTES`], registered with the ring once; a
//! read started past the end of a file comes back empty and its buffer is dropped, so the
//! last few reads of a file may allocate a replacement (never more than the read-ahead).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::run::Source;
use super::uring::file::{FileIoError, OwnedBuf, ReadOptions, SequentialReader};
use super::uring::ring::{IoBuf, Ring};
use crate::device::file_writer::into_io_error;

/// Bytes per read: large reads keep a disk streaming.
pub const READ_BYTES: usize = 1 << 20;

/// Reads in flight ahead of the pipeline.
pub const READ_AHEAD: usize = 4;

/// See the module documentation.
pub struct UringSource {
    reader: SequentialReader<OwnedBuf, Box<Ring<OwnedBuf>>>,
    free: Vec<OwnedBuf>,
    current: Option<OwnedBuf>,
    /// Bytes of `current` already handed out.
    taken: usize,
    name: PathBuf,
}

impl UringSource {
    /// Reads the regular file `path`.
    pub fn open(path: &Path) -> Result<UringSource, FileIoError> {
        let (ring, free) = ring_and_buffers(path)?;
        let reader = SequentialReader::open(ring, path, ReadOptions { direct: false })?;
        Ok(UringSource { reader, free, current: None, taken: 0, name: path.to_path_buf() })
    }

    /// Reads a pipe, socket or other stream until its end; `name` is for messages.
    pub fn from_stream(fd: OwnedFd, name: &str) -> Result<UringSource, FileIoError> {
        let (ring, free) = ring_and_buffers(Path::new(name))?;
        let reader = SequentialReader::from_stream(ring, fd, name)?;
        Ok(UringSource { reader, free, current: None, taken: 0, name: PathBuf::from(name) })
    }
}

fn ring_and_buffers(path: &Path) -> Result<(Box<Ring<OwnedBuf>>, Vec<OwnedBuf>), FileIoError> {
    let mut ring = Box::new(
        Ring::new(READ_AHEAD).map_err(|source| FileIoError::Queue { path: path.to_path_buf(), source })?,
    );
    let free: Vec<OwnedBuf> = (0..=READ_AHEAD).map(|_| OwnedBuf::new(READ_BYTES)).collect();
    ring.register_buffers(free.iter().map(|b| b.aligned()));
    Ok((ring, free))
}

impl Source for UringSource {
    fn fill(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(cur) = &self.current {
                let rest = &cur.bytes()[self.taken..];
                if !rest.is_empty() {
                    let n = rest.len().min(out.len());
                    out[..n].copy_from_slice(&rest[..n]);
                    self.taken += n;
                    return Ok(n);
                }
            }
            if let Some(done) = self.current.take() {
                self.free.push(done);
            }
            let free = &mut self.free;
            match self.reader.next(|| free.pop().unwrap_or_else(|| OwnedBuf::new(READ_BYTES))) {
                Ok(Some(buf)) => {
                    self.current = Some(buf);
                    self.taken = 0;
                }
                Ok(None) => return Ok(0),
                Err(e) => {
                    let e = into_io_error(e);
                    return Err(std::io::Error::new(e.kind(), format!("{}: {e}", self.name.display())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::test_support::{pattern, TempDir};

    fn drain(src: &mut UringSource, chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = src.fill(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn reads_a_file_of_any_length_in_order() {
        let dir = TempDir::new("uring-source");
        for len in [0, 1, 4096, READ_BYTES - 1, READ_BYTES, 5 * READ_BYTES + 12_345] {
            let path = dir.path().join(format!("f{len}"));
            let data = pattern(len, len as u64);
            std::fs::write(&path, &data).unwrap();
            // Frame-sized and odd-sized consumers both see every byte once, in order.
            for chunk in [READ_BYTES, 100_003] {
                let mut src = UringSource::open(&path).unwrap();
                assert!(drain(&mut src, chunk) == data, "length {len}, chunk {chunk}");
            }
        }
    }

    #[test]
    fn reads_a_pipe_to_its_end() {
        let data = pattern(3 * READ_BYTES + 777, 9);
        let (rx, tx) = nix::unistd::pipe().unwrap();
        let writer = {
            let data = data.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                std::fs::File::from(tx).write_all(&data).unwrap();
            })
        };
        let mut src = UringSource::from_stream(rx, "pipe").unwrap();
        let got = drain(&mut src, 65_536);
        writer.join().unwrap();
        assert!(got == data);
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = UringSource::open(Path::new("/nonexistent/amrs-source")).err().unwrap();
        assert!(e.to_string().contains("/nonexistent/amrs-source"), "{e}");
    }
}
