//! Holding-disk files: reading a dump's chain of chunks (the chunker that writes them
//! arrives with the data path).
//!
//! Layout (Amanda 3.5, `server-src/holding.c`, `xfer-src/source-holding.c`):
//! - a dump is `<dir>/<timestamp>/<host>.<sanitised disk>.<level>`, continued in
//!   `….1`, `….2`, …; every chunk starts with a 32 KiB header, the first of type FILE,
//!   the others CONT_FILE; each header but the last names the next chunk's full path in
//!   `CONT_FILENAME=`;
//! - a chunk still being written ends in `.tmp`; a dump cut short has `PARTIAL=YES`.
//!
//! The reader follows the chain and yields the data of every chunk with the headers
//! skipped. A chain that loops, names a missing chunk, or has a chunk whose header is
//! not a CONT_FILE of the same dump is an error naming the chunk.

use crate::format::header::{parse_header, DumpFile, FileType, DISK_BLOCK_BYTES};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HoldingError {
    #[error("{path}: {msg}")]
    Chunk { path: String, msg: String },
}

fn chunk_err(path: &Path, msg: impl Into<String>) -> HoldingError {
    HoldingError::Chunk { path: path.display().to_string(), msg: msg.into() }
}

/// Reads the 32 KiB header at the start of a holding chunk.
pub fn read_chunk_header(path: &Path) -> Result<DumpFile, HoldingError> {
    let mut f = File::open(path).map_err(|e| chunk_err(path, e.to_string()))?;
    let mut block = vec![0u8; DISK_BLOCK_BYTES];
    let mut got = 0;
    while got < block.len() {
        match f.read(&mut block[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(chunk_err(path, e.to_string())),
        }
    }
    if got < DISK_BLOCK_BYTES {
        return Err(chunk_err(path, format!("header is truncated (got {got} bytes of {DISK_BLOCK_BYTES})")));
    }
    parse_header(&block).map_err(|e| chunk_err(path, e.to_string()))
}

/// The header of `path` if it is the first chunk of a holding-disk dump (Amanda's
/// `Amanda::Holding::get_header`, used to tell a holding file from a device name).
pub fn holding_header(path: &Path) -> Option<DumpFile> {
    if !path.is_file() {
        return None;
    }
    read_chunk_header(path).ok().filter(|h| h.file_type == FileType::File)
}

/// A dump's chain of chunks, checked one by one: each chunk after the first must be a
/// CONT_FILE of the same dump, exist, and not loop back.
pub struct ChunkChain {
    header: DumpFile,
    next: Option<PathBuf>,
    seen: Vec<PathBuf>,
}

impl ChunkChain {
    /// Reads the first chunk's header (which must be a FILE header).
    pub fn open(first: &Path) -> Result<ChunkChain, HoldingError> {
        let header = read_chunk_header(first)?;
        if header.file_type != FileType::File {
            return Err(chunk_err(
                first,
                format!("not the first chunk of a dump (header type {})", header.file_type),
            ));
        }
        Ok(ChunkChain { header, next: Some(first.to_path_buf()), seen: Vec::new() })
    }

    /// The first chunk's header.
    pub fn header(&self) -> &DumpFile {
        &self.header
    }

    /// The next chunk, checked; `None` after the last.
    pub fn next_chunk(&mut self) -> Result<Option<PathBuf>, HoldingError> {
        let Some(path) = self.next.take() else { return Ok(None) };
        let first = self.seen.is_empty();
        if self.seen.contains(&path) {
            return Err(chunk_err(&path, "CONT_FILENAME chain loops back to this chunk"));
        }
        if !first && !path.exists() {
            return Err(chunk_err(&path, "missing chunk named by CONT_FILENAME"));
        }
        let h = read_chunk_header(&path)?;
        if !first {
            let same = h.host_or_label == self.header.host_or_label
                && h.disk == self.header.disk
                && h.datestamp == self.header.datestamp
                && h.dump_level == self.header.dump_level;
            if h.file_type != FileType::ContFile || !same {
                return Err(chunk_err(
                    &path,
                    format!(
                        "expected a CONT_FILE chunk of {}:{} level {} from {}",
                        self.header.host_or_label,
                        self.header.disk,
                        self.header.dump_level,
                        self.header.datestamp
                    ),
                ));
            }
        }
        self.next = (!h.continuation_filename.is_empty()).then(|| PathBuf::from(&h.continuation_filename));
        self.seen.push(path.clone());
        Ok(Some(path))
    }

    /// The chunks returned so far, in order.
    pub fn chunks(&self) -> &[PathBuf] {
        &self.seen
    }
}

/// Reads a dump's data across its chunks.
pub struct HoldingReader {
    chain: ChunkChain,
    current: Option<(PathBuf, File)>,
}

impl HoldingReader {
    /// Opens the first chunk of a dump.
    pub fn open(first: &Path) -> Result<HoldingReader, HoldingError> {
        let mut r = HoldingReader { chain: ChunkChain::open(first)?, current: None };
        r.enter()?;
        Ok(r)
    }

    /// The first chunk's header.
    pub fn header(&self) -> &DumpFile {
        self.chain.header()
    }

    /// Opens the next chunk past its header; false after the last.
    fn enter(&mut self) -> Result<bool, HoldingError> {
        let Some(path) = self.chain.next_chunk()? else { return Ok(false) };
        let mut f = File::open(&path).map_err(|e| chunk_err(&path, e.to_string()))?;
        let mut skip = vec![0u8; DISK_BLOCK_BYTES];
        f.read_exact(&mut skip).map_err(|e| chunk_err(&path, e.to_string()))?;
        self.current = Some((path, f));
        Ok(true)
    }

    /// Reads dump data into `buf`; 0 at the end of the last chunk.
    pub fn read_data(&mut self, buf: &mut [u8]) -> Result<usize, HoldingError> {
        loop {
            let Some((path, f)) = self.current.as_mut() else { return Ok(0) };
            match f.read(buf) {
                Ok(0) => {
                    self.current = None;
                    if !self.enter()? {
                        return Ok(0);
                    }
                }
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(chunk_err(path, e.to_string())),
            }
        }
    }

    /// The chunks read so far, in order.
    pub fn chunks(&self) -> &[PathBuf] {
        self.chain.chunks()
    }
}

impl Read for HoldingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.read_data(buf).map_err(|e| std::io::Error::other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::header::build_header;

    fn write_chunk(path: &Path, mut h: DumpFile, next: Option<&Path>, data: &[u8]) {
        h.continuation_filename = next.map(|p| p.display().to_string()).unwrap_or_default();
        let mut bytes = build_header(&h, DISK_BLOCK_BYTES).unwrap();
        bytes.extend_from_slice(data);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn follows_the_chain_and_checks_it() {
        let dir = std::env::temp_dir().join(format!("amrs-holding-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = DumpFile::new_file("20261122030943", "localhost", "/fixture/raw", 1, "APPLICATION");
        let mut cont = first.clone();
        cont.file_type = FileType::ContFile;
        let (a, b, c) = (dir.join("h.1"), dir.join("h.1.1"), dir.join("h.1.2"));
        write_chunk(&a, first.clone(), Some(&b), &[1u8; 1000]);
        write_chunk(&b, cont.clone(), Some(&c), &[2u8; 70000]);
        write_chunk(&c, cont.clone(), None, &[3u8; 5]);
        assert!(holding_header(&a).is_some());
        assert!(holding_header(&b).is_none(), "a CONT_FILE chunk is not a dump");
        let mut r = HoldingReader::open(&a).unwrap();
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(all.len(), 71005);
        assert_eq!((all[0], all[1000], all[71004]), (1, 2, 3));

        // A loop and a missing chunk are named.
        write_chunk(&c, cont.clone(), Some(&b), &[3u8; 5]);
        let mut r = HoldingReader::open(&a).unwrap();
        let e = r.read_to_end(&mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("h.1.1: CONT_FILENAME chain loops"), "{e}");
        std::fs::remove_file(&b).unwrap();
        let mut r = HoldingReader::open(&a).unwrap();
        let e = r.read_to_end(&mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("h.1.1: missing chunk"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
