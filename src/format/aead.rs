//! The built-in authenticated encryption stream ("amaead"): format, keys, seal/open.
//!
//! # Byte layout
//!
//! ```text
//! stream  = header segment* final-segment
//! header  = 32 bytes:
//!   0..8    magic            "AMAEAD\0\x01"
//!   8       version          1
//!   9       algorithm        1 = AES-256-GCM
//!   10..12  reserved         0, 0
//!   12..16  max_segment      u32 big-endian: the most plaintext bytes in one segment
//!                            (1 ..= 16 MiB)
//!   16..24  key_id           first 8 bytes of SHA-256("amaead key id\0" || key):
//!                            identifies the key without revealing it
//!   24..31  nonce_prefix     7 random bytes, fresh for every stream
//!   31      reserved         0
//! segment = u32 big-endian L (16 ..= max_segment + 16), then L bytes:
//!           AES-256-GCM ciphertext of the segment's plaintext followed by the 16-byte tag
//! ```
//!
//! Segment `i` (counting from 0) is sealed with the nonce
//! `nonce_prefix (7) || i as u32 big-endian (4) || last (1)`, where `last` is 1 for the
//! final segment and 0 otherwise, and with the 32 header bytes as associated data. This is
//! the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): a segment moved to
//! another position, dropped from the end, taken from another stream or altered fails
//! authentication, and so does a stream cut after a non-final segment (no segment opens
//! with `last` = 1). A writer always ends with a final segment, empty if need be.
//! Segments may be shorter than `max_segment` anywhere, so the data path seals each
//! compressed frame as one segment, in parallel, with no re-chunking copy.
//!
//! Limits: at most 2^32 segments per stream; one key may seal any number of streams
//! because every stream draws a new 56-bit random nonce prefix (collision chance after
//! 2^20 streams is about 2^-17; rotate keys long before 2^20 dumps).
//!
//! # Key file
//!
//! 32 random bytes written as 64 hexadecimal characters, optionally followed by a newline.
//! A key file readable or writable by anyone but its owner is refused.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::rand::{SecureRandom, SystemRandom};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub const MAGIC: [u8; 8] = *b"AMAEAD\0\x01";
pub const VERSION: u8 = 1;
pub const ALGORITHM_AES_256_GCM: u8 = 1;
pub const HEADER_BYTES: usize = 32;
pub const TAG_BYTES: usize = 16;
/// The length prefix of every segment.
pub const LENGTH_BYTES: usize = 4;
/// Bytes a segment adds to its plaintext on the wire.
pub const SEGMENT_OVERHEAD_BYTES: usize = LENGTH_BYTES + TAG_BYTES;
/// The largest segment a stream may declare (bounds a reader's buffer).
pub const MAX_SEGMENT_LIMIT_BYTES: usize = 16 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AeadError {
    #[error("not an amaead stream (bad magic)")]
    BadMagic,
    #[error("amaead stream version {0} is not supported (this program reads version 1)")]
    BadVersion(u8),
    #[error("amaead stream uses unknown algorithm {0}")]
    BadAlgorithm(u8),
    #[error("amaead stream declares a segment size of {0} bytes (at most 16 MiB allowed)")]
    BadSegmentSize(u32),
    #[error("wrong key: the stream was sealed with key id {stream}, the key file has key id {key}")]
    WrongKey { stream: String, key: String },
    #[error("segment {segment} fails authentication (altered, reordered, or from another stream)")]
    Authentication { segment: u32 },
    #[error("stream truncated in segment {segment}")]
    TruncatedSegment { segment: u32 },
    #[error("stream truncated after segment {segment}: the final segment is missing")]
    MissingFinal { segment: u32 },
    #[error("segment {segment} declares {len} bytes (between 16 and {max} expected)")]
    BadSegmentLength { segment: u32, len: u32, max: usize },
    #[error("data after the final segment ({segment})")]
    TrailingData { segment: u32 },
    #[error("stream truncated in its header")]
    TruncatedHeader,
    #[error("too many segments in one stream")]
    TooManySegments,
    #[error("key file {path}: {msg}")]
    KeyFile { path: String, msg: String },
    #[error("{0}")]
    Io(String),
}

impl From<std::io::Error> for AeadError {
    fn from(e: std::io::Error) -> Self {
        AeadError::Io(e.to_string())
    }
}

/// A 256-bit key.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(id {})", hex(&self.id()))
    }
}

fn random(buf: &mut [u8]) -> Result<(), AeadError> {
    SystemRandom::new().fill(buf).map_err(|_| AeadError::Io("the system's random source failed".into()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Key {
    pub fn from_bytes(bytes: [u8; 32]) -> Key {
        Key(bytes)
    }

    /// A fresh random key.
    pub fn generate() -> Result<Key, AeadError> {
        let mut k = [0u8; 32];
        random(&mut k)?;
        Ok(Key(k))
    }

    /// The key id: the first 8 bytes of SHA-256("amaead key id\0" || key).
    pub fn id(&self) -> [u8; 8] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(b"amaead key id\0");
        ctx.update(&self.0);
        let d = ctx.finish();
        let mut id = [0u8; 8];
        id.copy_from_slice(&d.as_ref()[..8]);
        id
    }

    /// The key file text: 64 hexadecimal characters and a newline.
    pub fn to_hex_line(&self) -> String {
        format!("{}\n", hex(&self.0))
    }

    /// Parses key file text (64 hex characters, optional trailing newline).
    pub fn parse(text: &str) -> Result<Key, String> {
        let t = text.strip_suffix('\n').unwrap_or(text);
        let t = t.strip_suffix('\r').unwrap_or(t);
        if t.len() != 64 {
            return Err(format!("expected 64 hexadecimal characters, found {}", t.len()));
        }
        let mut k = [0u8; 32];
        for (i, chunk) in t.as_bytes().chunks(2).enumerate() {
            let s = std::str::from_utf8(chunk).map_err(|_| "not hexadecimal".to_string())?;
            k[i] = u8::from_str_radix(s, 16).map_err(|_| format!("not hexadecimal: \"{s}\""))?;
        }
        Ok(Key(k))
    }

    /// Reads a key file, refusing one that anyone but its owner may read or write.
    pub fn load(path: &Path) -> Result<Key, AeadError> {
        let err = |msg: String| AeadError::KeyFile { path: path.display().to_string(), msg };
        let md = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        if md.mode() & 0o077 != 0 {
            return Err(err(format!(
                "permissions {:04o} let others use it; only its owner may (chmod 600)",
                md.mode() & 0o7777
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Key::parse(&text).map_err(err)
    }
}

/// The decoded 32-byte stream header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamHeader {
    pub max_segment_bytes: u32,
    pub key_id: [u8; 8],
    pub nonce_prefix: [u8; 7],
}

impl StreamHeader {
    /// A header for a new stream under `key` with a fresh random nonce prefix.
    pub fn new(key: &Key, max_segment_bytes: u32) -> Result<StreamHeader, AeadError> {
        if max_segment_bytes == 0 || max_segment_bytes as usize > MAX_SEGMENT_LIMIT_BYTES {
            return Err(AeadError::BadSegmentSize(max_segment_bytes));
        }
        let mut nonce_prefix = [0u8; 7];
        random(&mut nonce_prefix)?;
        Ok(StreamHeader { max_segment_bytes, key_id: key.id(), nonce_prefix })
    }

    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut h = [0u8; HEADER_BYTES];
        h[..8].copy_from_slice(&MAGIC);
        h[8] = VERSION;
        h[9] = ALGORITHM_AES_256_GCM;
        h[12..16].copy_from_slice(&self.max_segment_bytes.to_be_bytes());
        h[16..24].copy_from_slice(&self.key_id);
        h[24..31].copy_from_slice(&self.nonce_prefix);
        h
    }

    pub fn decode(h: &[u8]) -> Result<StreamHeader, AeadError> {
        if h.len() < HEADER_BYTES {
            return Err(AeadError::TruncatedHeader);
        }
        if h[..8] != MAGIC {
            return Err(AeadError::BadMagic);
        }
        if h[8] != VERSION {
            return Err(AeadError::BadVersion(h[8]));
        }
        if h[9] != ALGORITHM_AES_256_GCM {
            return Err(AeadError::BadAlgorithm(h[9]));
        }
        let max = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        if max == 0 || max as usize > MAX_SEGMENT_LIMIT_BYTES {
            return Err(AeadError::BadSegmentSize(max));
        }
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&h[16..24]);
        let mut nonce_prefix = [0u8; 7];
        nonce_prefix.copy_from_slice(&h[24..31]);
        Ok(StreamHeader { max_segment_bytes: max, key_id, nonce_prefix })
    }
}

/// Seals and opens the segments of one stream. Shareable between worker threads
/// (`&self` only): the data path seals frames in parallel, each with its own counter.
pub struct SegmentCipher {
    cipher: LessSafeKey,
    header: StreamHeader,
    aad: [u8; HEADER_BYTES],
}

impl SegmentCipher {
    /// For sealing or opening the stream whose header is `header`; checks the key id.
    pub fn new(key: &Key, header: StreamHeader) -> Result<SegmentCipher, AeadError> {
        if key.id() != header.key_id {
            return Err(AeadError::WrongKey { stream: hex(&header.key_id), key: hex(&key.id()) });
        }
        let unbound = UnboundKey::new(&AES_256_GCM, &key.0).expect("a 32-byte key suits AES-256-GCM");
        Ok(SegmentCipher { cipher: LessSafeKey::new(unbound), header, aad: header.encode() })
    }

    pub fn header(&self) -> &StreamHeader {
        &self.header
    }

    fn nonce(&self, counter: u32, last: bool) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..7].copy_from_slice(&self.header.nonce_prefix);
        n[7..11].copy_from_slice(&counter.to_be_bytes());
        n[11] = u8::from(last);
        n
    }

    /// Seals in place the segment whose plaintext sits at
    /// `buf[LENGTH_BYTES .. LENGTH_BYTES + plain_len]`, writing the length prefix before
    /// it and the tag after it. Returns the segment's wire length
    /// (`plain_len + SEGMENT_OVERHEAD_BYTES`). Allocates nothing.
    pub fn seal_in_place(&self, counter: u32, last: bool, buf: &mut [u8], plain_len: usize) -> usize {
        assert!(
            plain_len <= self.header.max_segment_bytes as usize,
            "segment larger than the stream's maximum"
        );
        let wire = plain_len + SEGMENT_OVERHEAD_BYTES;
        assert!(buf.len() >= wire, "segment buffer too small");
        let nonce = self.nonce(counter, last);
        let body = &mut buf[LENGTH_BYTES..LENGTH_BYTES + plain_len];
        // The nonce is unique: a fresh random prefix per stream and the segment counter.
        let tag = self
            .cipher
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&self.aad), body)
            .expect("AES-GCM seals any length below its 64 GiB limit");
        buf[LENGTH_BYTES + plain_len..wire].copy_from_slice(tag.as_ref());
        buf[..LENGTH_BYTES].copy_from_slice(&((plain_len + TAG_BYTES) as u32).to_be_bytes());
        wire
    }

    /// Opens in place a segment body (`ciphertext || tag`, without the length prefix);
    /// returns the plaintext length. Nothing is usable from a segment that fails.
    pub fn open_in_place(&self, counter: u32, last: bool, body: &mut [u8]) -> Result<usize, AeadError> {
        if body.len() < TAG_BYTES {
            return Err(AeadError::TruncatedSegment { segment: counter });
        }
        let plain_len = body.len() - TAG_BYTES;
        let nonce = self.nonce(counter, last);
        self.cipher
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(&self.aad), body)
            .map_err(|_| AeadError::Authentication { segment: counter })?;
        Ok(plain_len)
    }
}

/// Encrypts a byte stream into an amaead stream (the `amaead` filter; single thread).
pub struct Encryptor<W: Write> {
    out: W,
    cipher: SegmentCipher,
    buf: Vec<u8>,
    fill: usize,
    counter: u32,
}

impl<W: Write> Encryptor<W> {
    pub fn new(key: &Key, max_segment_bytes: u32, mut out: W) -> Result<Encryptor<W>, AeadError> {
        let header = StreamHeader::new(key, max_segment_bytes)?;
        out.write_all(&header.encode())?;
        let cipher = SegmentCipher::new(key, header)?;
        let buf = vec![0u8; max_segment_bytes as usize + SEGMENT_OVERHEAD_BYTES];
        Ok(Encryptor { out, cipher, buf, fill: 0, counter: 0 })
    }

    fn flush_segment(&mut self, last: bool) -> Result<(), AeadError> {
        let wire = self.cipher.seal_in_place(self.counter, last, &mut self.buf, self.fill);
        self.out.write_all(&self.buf[..wire])?;
        self.counter = self.counter.checked_add(1).ok_or(AeadError::TooManySegments)?;
        self.fill = 0;
        Ok(())
    }

    pub fn write_bytes(&mut self, mut data: &[u8]) -> Result<(), AeadError> {
        let max = self.cipher.header.max_segment_bytes as usize;
        while !data.is_empty() {
            if self.fill == max {
                self.flush_segment(false)?;
            }
            let n = (max - self.fill).min(data.len());
            self.buf[LENGTH_BYTES + self.fill..LENGTH_BYTES + self.fill + n].copy_from_slice(&data[..n]);
            self.fill += n;
            data = &data[n..];
        }
        Ok(())
    }

    /// Seals the final segment and returns the output.
    pub fn finish(mut self) -> Result<W, AeadError> {
        self.flush_segment(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Decrypts an amaead stream, verifying each segment before handing out its bytes.
pub struct Decryptor<R: Read> {
    input: R,
    cipher: SegmentCipher,
    /// Holds the current segment; a one-segment look-ahead decides `last`.
    seg: Vec<u8>,
    plain: std::ops::Range<usize>,
    counter: u32,
    pending_len: Option<u32>,
    done: bool,
}

/// Reads exactly `buf.len()` bytes unless the input ends; returns the count.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl<R: Read> Decryptor<R> {
    /// Reads the header and checks the key.
    pub fn new(key: &Key, mut input: R) -> Result<Decryptor<R>, AeadError> {
        let mut h = [0u8; HEADER_BYTES];
        if read_full(&mut input, &mut h)? < HEADER_BYTES {
            return Err(AeadError::TruncatedHeader);
        }
        let header = StreamHeader::decode(&h)?;
        let cipher = SegmentCipher::new(key, header)?;
        let seg = vec![0u8; header.max_segment_bytes as usize + TAG_BYTES];
        let mut d = Decryptor { input, cipher, seg, plain: 0..0, counter: 0, pending_len: None, done: false };
        d.pending_len = d.read_len()?;
        if d.pending_len.is_none() {
            return Err(AeadError::MissingFinal { segment: 0 });
        }
        Ok(d)
    }

    /// Reads the next length prefix; None at a clean end of input.
    fn read_len(&mut self) -> Result<Option<u32>, AeadError> {
        let mut l = [0u8; LENGTH_BYTES];
        match read_full(&mut self.input, &mut l)? {
            0 => Ok(None),
            LENGTH_BYTES => Ok(Some(u32::from_be_bytes(l))),
            _ => Err(AeadError::TruncatedSegment { segment: self.counter }),
        }
    }

    /// Decrypts the next segment into the internal buffer; false at the end.
    fn next_segment(&mut self) -> Result<bool, AeadError> {
        if self.done {
            return Ok(false);
        }
        let Some(len) = self.pending_len else { return Ok(false) };
        let max = self.cipher.header.max_segment_bytes as usize + TAG_BYTES;
        if (len as usize) < TAG_BYTES || len as usize > max {
            return Err(AeadError::BadSegmentLength { segment: self.counter, len, max: max - TAG_BYTES });
        }
        let body_len = len as usize;
        if read_full(&mut self.input, &mut self.seg[..body_len])? < body_len {
            return Err(AeadError::TruncatedSegment { segment: self.counter });
        }
        self.pending_len = self.read_len()?;
        let last = self.pending_len.is_none();
        // The cipher wipes a segment that fails; keep the final one (once per stream) so
        // a stream cut after a non-final segment can be told from an altered one.
        let saved = last.then(|| self.seg[..body_len].to_vec());
        let n = match self.cipher.open_in_place(self.counter, last, &mut self.seg[..body_len]) {
            Ok(n) => n,
            Err(e) => {
                if let Some(mut copy) = saved {
                    if self.cipher.open_in_place(self.counter, false, &mut copy).is_ok() {
                        return Err(AeadError::MissingFinal { segment: self.counter });
                    }
                }
                return Err(e);
            }
        };
        self.plain = 0..n;
        if last {
            self.done = true;
        } else {
            self.counter = self.counter.checked_add(1).ok_or(AeadError::TooManySegments)?;
        }
        Ok(true)
    }

    /// Copies verified plaintext into `out`; 0 at the end of the stream.
    pub fn read_plain(&mut self, out: &mut [u8]) -> Result<usize, AeadError> {
        while self.plain.is_empty() {
            if !self.next_segment()? {
                return Ok(0);
            }
        }
        let n = self.plain.len().min(out.len());
        out[..n].copy_from_slice(&self.seg[self.plain.start..self.plain.start + n]);
        self.plain.start += n;
        Ok(n)
    }
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        self.read_plain(out).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(b: u8) -> Key {
        Key::from_bytes([b; 32])
    }

    fn seal(k: &Key, data: &[u8], seg: u32) -> Vec<u8> {
        let mut e = Encryptor::new(k, seg, Vec::new()).unwrap();
        e.write_bytes(data).unwrap();
        e.finish().unwrap()
    }

    fn open(k: &Key, stream: &[u8]) -> Result<Vec<u8>, AeadError> {
        let mut d = Decryptor::new(k, stream)?;
        let mut out = Vec::new();
        let mut buf = [0u8; 1000];
        loop {
            let n = d.read_plain(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Offsets of each segment (start of its length prefix) in a stream.
    fn segments(stream: &[u8]) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        let mut at = HEADER_BYTES;
        while at < stream.len() {
            let len = u32::from_be_bytes(stream[at..at + 4].try_into().unwrap()) as usize;
            v.push((at, 4 + len));
            at += 4 + len;
        }
        v
    }

    #[test]
    fn round_trip_including_empty() {
        let k = key(7);
        for data in [&b""[..], b"x", &[5u8; 100], &[9u8; 4096]] {
            let s = seal(&k, data, 64);
            assert_eq!(open(&k, &s).unwrap(), data);
        }
    }

    #[test]
    fn key_file_rules() {
        let k = Key::parse(&"ab".repeat(32)).unwrap();
        assert_eq!(Key::parse(&(k.to_hex_line())).unwrap().id(), k.id());
        assert!(Key::parse("abc").is_err());
        assert!(Key::parse(&"zz".repeat(32)).is_err());
        let dir = std::env::temp_dir().join(format!("amrs-aead-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("k");
        std::fs::write(&p, k.to_hex_line()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Key::load(&p).unwrap_err().to_string();
        assert!(e.contains("permissions 0644"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Key::load(&p).unwrap().id(), k.id());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wrong_key_is_named_before_any_output() {
        let s = seal(&key(1), b"secret", 64);
        let e = open(&key(2), &s).unwrap_err();
        assert!(matches!(e, AeadError::WrongKey { .. }), "{e}");
    }

    #[test]
    fn reordered_segments_fail_with_their_number() {
        let k = key(3);
        let data: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let s = seal(&k, &data, 64);
        let segs = segments(&s);
        assert!(segs.len() >= 5);
        // Swap segments 1 and 2 (same length).
        let mut t = s[..HEADER_BYTES].to_vec();
        for i in [0, 2, 1, 3, 4] {
            let (a, n) = segs[i];
            t.extend_from_slice(&s[a..a + n]);
        }
        assert_eq!(open(&k, &t).unwrap_err(), AeadError::Authentication { segment: 1 });
    }

    #[test]
    fn truncation_is_detected_everywhere() {
        let k = key(4);
        let data = vec![0x5au8; 200];
        let s = seal(&k, &data, 64);
        let segs = segments(&s);
        for cut in 0..s.len() {
            let r = open(&k, &s[..cut]);
            assert!(r.is_err(), "a stream cut at {cut} of {} must fail", s.len());
        }
        // Cut exactly after segment 1: the final segment is missing.
        let (a, n) = segs[1];
        assert_eq!(open(&k, &s[..a + n]).unwrap_err(), AeadError::MissingFinal { segment: 1 });
    }

    #[test]
    fn altered_byte_fails_that_segment() {
        let k = key(5);
        let s = seal(&k, &[1u8; 300], 64);
        let segs = segments(&s);
        let mut t = s.clone();
        t[segs[2].0 + 10] ^= 1;
        assert_eq!(open(&k, &t).unwrap_err(), AeadError::Authentication { segment: 2 });
        let mut h = s.clone();
        h[26] ^= 1; // the nonce prefix is authenticated as associated data
        assert!(matches!(open(&k, &h).unwrap_err(), AeadError::Authentication { segment: 0 }));
    }

    #[test]
    fn parallel_style_sealing_matches_the_reader() {
        // Seal variable-size segments out of order, as the data path's workers do.
        let k = key(6);
        let header = StreamHeader::new(&k, 1024).unwrap();
        let cipher = SegmentCipher::new(&k, header).unwrap();
        let pieces: Vec<Vec<u8>> = vec![vec![1; 10], vec![2; 1024], vec![3; 0], vec![4; 77]];
        let mut wire: Vec<Vec<u8>> = vec![Vec::new(); pieces.len()];
        for i in (0..pieces.len()).rev() {
            let mut buf = vec![0u8; pieces[i].len() + SEGMENT_OVERHEAD_BYTES];
            buf[LENGTH_BYTES..LENGTH_BYTES + pieces[i].len()].copy_from_slice(&pieces[i]);
            let n = cipher.seal_in_place(i as u32, i + 1 == pieces.len(), &mut buf, pieces[i].len());
            buf.truncate(n);
            wire[i] = buf;
        }
        let mut s = header.encode().to_vec();
        for w in &wire {
            s.extend_from_slice(w);
        }
        assert_eq!(open(&k, &s).unwrap(), pieces.concat());
    }

    proptest! {
        #[test]
        fn any_data_round_trips(data in prop::collection::vec(any::<u8>(), 0..3000), seg in 1u32..700) {
            let k = key(9);
            let s = seal(&k, &data, seg);
            prop_assert_eq!(open(&k, &s).unwrap(), data);
        }
    }
}
