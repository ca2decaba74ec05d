//! Frame codecs: compress one frame of input into one self-contained compressed frame.
//!
//! Every frame becomes an independent unit of the standard format, so frames compressed
//! in parallel and concatenated in order form a stream the standard tools read:
//!
//! - `gzip`: one gzip member per frame (RFC 1952: 10-byte header, raw deflate, CRC-32,
//!   ISIZE); `gzip -dc` reads concatenated members. Levels 1 (`fast`) to 9 (`best`).
//! - `zstd`: one zstd frame per frame, with its content size and content checksum (the
//!   low 32 bits of XXH64 of the frame's data); `zstd -dc` reads concatenated frames and
//!   verifies every checksum. Levels 1 to 19.
//! - `lz4`: one LZ4 frame per frame (magic 0x184D2204; FLG: version 01, block-independent,
//!   content checksum; BD: 4 MiB max block; one block; end mark; then the content checksum,
//!   xxh32 of the frame's uncompressed data; no content size, no block checksum); `lz4 -dc`
//!   reads concatenated frames and verifies every content checksum.
//!
//! Why checksums: a dump written straight to a volume has no SERVER-CRC in its header
//! (the header is written first), so without them a damaged block of a compressed dump
//! could decompress to wrong data without an error (file-backed volumes now also carry a
//! PART-CRC; tapes do not). zstd's checksum costs next to nothing (XXH64 runs at many
//! GB/s). For lz4, the block checksum would hash less (the compressed block instead of
//! the input), but lz4 1.9.4's `lz4 -d` cannot read concatenated frames that have block
//! checksums and no content checksum: it decodes the first and fails with "Stream followed
//! by undecodable data". So the content checksum it is. Frames that the built-in AEAD
//! then seals leave both checksums out (FLG bit 2 clear for lz4): the segment's tag
//! already authenticates every byte, and the checksums cost ~8 % (zstd) and ~15 % (lz4)
//! of a worker's time.
//! - `none`: the frame is copied as it is (only when encryption needs the bytes moved;
//!   the pipeline otherwise passes the buffer through untouched).
//!
//! A [`FrameCompressor`] is owned by one worker thread and reused for every frame, so a
//! frame costs no allocation in gzip and zstd (lz4_flex allocates its 16 KiB match
//! table per call).

use flate2::{Compress, Compression, FlushCompress, Status};

/// The compression a pipeline applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip { level: u32 },
    Zstd { level: i32 },
    Lz4,
}

impl Codec {
    /// Parses `none`, `gzip[:L]`, `fast`, `best`, `zstd[:L]`, `lz4`.
    pub fn parse(s: &str) -> Result<Codec, String> {
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => {
                (n, Some(l.parse::<i32>().map_err(|_| format!("bad compression level in \"{s}\""))?))
            }
            None => (s, None),
        };
        match (name, level) {
            ("none", None) => Ok(Codec::None),
            ("fast", None) => Ok(Codec::Gzip { level: 1 }),
            ("best", None) => Ok(Codec::Gzip { level: 9 }),
            ("gzip", l) => {
                let l = l.unwrap_or(6);
                if !(1..=9).contains(&l) {
                    return Err(format!("gzip level {l} is not between 1 and 9"));
                }
                Ok(Codec::Gzip { level: l as u32 })
            }
            ("zstd", l) => {
                let l = l.unwrap_or(3);
                if !(1..=19).contains(&l) {
                    return Err(format!("zstd level {l} is not between 1 and 19"));
                }
                Ok(Codec::Zstd { level: l })
            }
            ("lz4", None) => Ok(Codec::Lz4),
            _ => Err(format!("unknown compression \"{s}\" (none, gzip[:1-9], fast, best, zstd[:1-19], lz4)")),
        }
    }

    /// The most bytes a frame of `input_bytes` can become.
    pub fn max_output_bytes(&self, input_bytes: usize) -> usize {
        match self {
            Codec::None => input_bytes,
            // Stored deflate blocks add 5 bytes per 64 KiB, plus the member's 18 bytes.
            Codec::Gzip { .. } => input_bytes + input_bytes / 65_535 * 5 + 5 + 64 + GZIP_OVERHEAD_BYTES,
            Codec::Zstd { .. } => zstd::zstd_safe::compress_bound(input_bytes),
            Codec::Lz4 => lz4_flex::block::get_maximum_output_size(input_bytes) + LZ4_FRAME_OVERHEAD_BYTES,
        }
    }

    /// The program whose `-d` / `-dc` undoes this codec (for headers and restore lines).
    pub fn program(&self) -> Option<&'static str> {
        match self {
            Codec::None => None,
            Codec::Gzip { .. } => Some("/bin/gzip"),
            Codec::Zstd { .. } => Some("/usr/bin/zstd"),
            Codec::Lz4 => Some("/usr/bin/lz4"),
        }
    }
}

const GZIP_OVERHEAD_BYTES: usize = 18;
/// Frame header (magic 4, FLG 1, BD 1, HC 1), block size 4, end mark 4, content checksum 4.
const LZ4_FRAME_OVERHEAD_BYTES: usize = 19;
const LZ4_MAX_BLOCK_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("frame of {input} bytes does not fit the {output}-byte output buffer")]
    TooLarge { input: usize, output: usize },
    #[error("{0}")]
    Codec(String),
}

/// One worker's compressor, reused across frames.
pub struct FrameCompressor {
    codec: Codec,
    deflate: Option<Compress>,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    checksums: bool,
}

impl FrameCompressor {
    /// A compressor whose zstd and lz4 frames carry their content checksums.
    pub fn new(codec: Codec) -> Result<FrameCompressor, CodecError> {
        FrameCompressor::with_checksums(codec, true)
    }

    /// `checksums: false` leaves the zstd and lz4 content checksums out: for frames that
    /// are then sealed by the built-in AEAD, whose tag already authenticates every byte
    /// (the checksum would cost ~8 % of zstd's and ~15 % of lz4's time for nothing).
    /// gzip members always carry their CRC-32 (the format requires it).
    pub fn with_checksums(codec: Codec, checksums: bool) -> Result<FrameCompressor, CodecError> {
        let deflate = match codec {
            Codec::Gzip { level } => Some(Compress::new(Compression::new(level), false)),
            _ => None,
        };
        let zstd = match codec {
            Codec::Zstd { level } => {
                let mut c =
                    zstd::bulk::Compressor::new(level).map_err(|e| CodecError::Codec(e.to_string()))?;
                c.include_contentsize(true).map_err(|e| CodecError::Codec(e.to_string()))?;
                c.include_checksum(checksums).map_err(|e| CodecError::Codec(e.to_string()))?;
                Some(c)
            }
            _ => None,
        };
        Ok(FrameCompressor { codec, deflate, zstd, checksums })
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Compresses `input` into `output`; returns the compressed length.
    pub fn compress(&mut self, input: &[u8], output: &mut [u8]) -> Result<usize, CodecError> {
        let (in_len, out_len) = (input.len(), output.len());
        let too_large = move || CodecError::TooLarge { input: in_len, output: out_len };
        match self.codec {
            Codec::None => {
                if output.len() < input.len() {
                    return Err(too_large());
                }
                output[..input.len()].copy_from_slice(input);
                Ok(input.len())
            }
            Codec::Zstd { .. } => {
                let z = self.zstd.as_mut().expect("zstd context");
                z.compress_to_buffer(input, output).map_err(|e| CodecError::Codec(format!("zstd: {e}")))
            }
            Codec::Lz4 => lz4_frame(input, output, self.checksums).ok_or_else(too_large),
            Codec::Gzip { level } => {
                let d = self.deflate.as_mut().expect("deflate context");
                gzip_member(d, level, input, output).ok_or_else(too_large)
            }
        }
    }
}

/// Writes one gzip member holding `input`.
fn gzip_member(d: &mut Compress, level: u32, input: &[u8], output: &mut [u8]) -> Option<usize> {
    if output.len() < GZIP_OVERHEAD_BYTES {
        return None;
    }
    // RFC 1952 header: ID1 ID2 CM=8 FLG=0 MTIME=0 XFL OS=3 (Unix).
    let xfl = match level {
        1 => 4,
        9 => 2,
        _ => 0,
    };
    output[..10].copy_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]);
    d.reset();
    let body_end = output.len() - 8;
    let status = d.compress(input, &mut output[10..body_end], FlushCompress::Finish).ok()?;
    if status != Status::StreamEnd || d.total_in() as usize != input.len() {
        return None;
    }
    let n = 10 + d.total_out() as usize;
    let mut crc = flate2::Crc::new();
    crc.update(input);
    output[n..n + 4].copy_from_slice(&crc.sum().to_le_bytes());
    output[n + 4..n + 8].copy_from_slice(&(input.len() as u32).to_le_bytes());
    Some(n + 8)
}

const XXH_P1: u32 = 0x9E37_79B1;
const XXH_P2: u32 = 0x85EB_CA77;
const XXH_P3: u32 = 0xC2B2_AE3D;
const XXH_P4: u32 = 0x27D4_EB2F;
const XXH_P5: u32 = 0x1656_67B1;

/// xxHash32 with seed 0 (LZ4's descriptor and content checksums). It runs over every
/// input byte, so it is the full algorithm: four independent lanes over 16-byte
/// stripes, which keeps the multiplier busy instead of waiting on one dependency chain.
fn xxh32(data: &[u8]) -> u32 {
    #[inline(always)]
    fn round(acc: u32, lane: u32) -> u32 {
        acc.wrapping_add(lane.wrapping_mul(XXH_P2)).rotate_left(13).wrapping_mul(XXH_P1)
    }
    #[inline(always)]
    fn word(b: &[u8]) -> u32 {
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    let mut stripes = data.chunks_exact(16);
    let mut h = if data.len() >= 16 {
        let mut v = [XXH_P1.wrapping_add(XXH_P2), XXH_P2, 0, 0u32.wrapping_sub(XXH_P1)];
        for s in &mut stripes {
            v[0] = round(v[0], word(&s[0..4]));
            v[1] = round(v[1], word(&s[4..8]));
            v[2] = round(v[2], word(&s[8..12]));
            v[3] = round(v[3], word(&s[12..16]));
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        XXH_P5
    };
    // The length modulo 2^32, as the reference implementation adds it.
    h = h.wrapping_add(data.len() as u32);
    let mut words = stripes.remainder().chunks_exact(4);
    for w in &mut words {
        h = h.wrapping_add(word(w).wrapping_mul(XXH_P3)).rotate_left(17).wrapping_mul(XXH_P4);
    }
    for &b in words.remainder() {
        h = h.wrapping_add(u32::from(b).wrapping_mul(XXH_P5)).rotate_left(11).wrapping_mul(XXH_P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(XXH_P2);
    h ^= h >> 13;
    h = h.wrapping_mul(XXH_P3);
    h ^ (h >> 16)
}

/// Writes one LZ4 frame holding `input` as a single block, with the content checksum when
/// `checksum`.
fn lz4_frame(input: &[u8], output: &mut [u8], checksum: bool) -> Option<usize> {
    if input.len() > LZ4_MAX_BLOCK_BYTES || output.len() < LZ4_FRAME_OVERHEAD_BYTES {
        return None;
    }
    // FLG: version 01, block-independent, content checksum (bit 2) when asked; BD: 4 MiB
    // max block.
    let (flg, bd) = (if checksum { 0b0110_0100u8 } else { 0b0110_0000u8 }, 0b0111_0000u8);
    output[..4].copy_from_slice(&0x184D_2204u32.to_le_bytes());
    output[4] = flg;
    output[5] = bd;
    output[6] = (xxh32(&[flg, bd]) >> 8) as u8;
    let data_start = 11;
    // Room for the block; the end mark and the content checksum follow.
    let room = output.len() - data_start - 8;
    let n = lz4_flex::block::compress_into(input, &mut output[data_start..data_start + room]).ok();
    let (size_word, len) = match n {
        Some(n) if n < input.len() => (n as u32, n),
        _ => {
            // Incompressible: store it (high bit set marks an uncompressed block).
            if room < input.len() {
                return None;
            }
            output[data_start..data_start + input.len()].copy_from_slice(input);
            (input.len() as u32 | 0x8000_0000, input.len())
        }
    };
    output[7..11].copy_from_slice(&size_word.to_le_bytes());
    let end = data_start + len;
    output[end..end + 4].copy_from_slice(&0u32.to_le_bytes());
    if !checksum {
        return Some(end + 4);
    }
    output[end + 4..end + 8].copy_from_slice(&xxh32(input).to_le_bytes());
    Some(end + 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn sample(len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len);
        let mut x: u32 = 12345;
        while v.len() < len {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            if (x >> 20) % 3 == 0 {
                v.extend_from_slice(b"2026-11-22 03:44:01 host sshd[123]: Accepted publickey for backup\n");
            } else {
                v.push((x >> 16) as u8);
            }
        }
        v.truncate(len);
        v
    }

    fn compress_frames(codec: Codec, data: &[u8], frame: usize) -> Vec<u8> {
        let mut c = FrameCompressor::new(codec).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; codec.max_output_bytes(frame)];
        for f in data.chunks(frame) {
            let n = c.compress(f, &mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    /// Decompresses with the standard tool, as a restore would.
    fn tool_decompress(prog: &str, args: &[&str], data: &[u8]) -> Vec<u8> {
        let (ok, out) = run_tool(prog, args, data);
        assert!(ok, "{prog} failed");
        out
    }

    /// Runs `prog ARGS` on `data`: whether it succeeded, and its standard output.
    fn run_tool(prog: &str, args: &[&str], data: &[u8]) -> (bool, Vec<u8>) {
        let mut child = Command::new(prog)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{prog} must be installed for this test: {e}"));
        let mut stdin = child.stdin.take().unwrap();
        let input = data.to_vec();
        let t = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().unwrap();
        // A tool that stops at bad data may close its input early.
        let _ = t.join().unwrap();
        (out.status.success(), out.stdout)
    }

    #[test]
    fn xxh32_matches_the_lz4_tool() {
        // `lz4` writes a content checksum (xxh32 of the input, seed 0) as the last 4 bytes
        // of its frame by default: the reference implementation's answer for any input.
        let data = sample(1_048_579);
        for len in [0, 1, 3, 4, 5, 15, 16, 17, 31, 32, 33, 100, 1000, 65_536, 1_048_579] {
            let z = tool_compress("/usr/bin/lz4", &["-c"], &data[..len]);
            let want = u32::from_le_bytes(z[z.len() - 4..].try_into().unwrap());
            assert_eq!(xxh32(&data[..len]), want, "{len} bytes");
        }
        // And the reference's own test vectors.
        assert_eq!(xxh32(b""), 0x02CC_5D05);
        assert_eq!(xxh32(b"abc"), 0x32D1_53FF);
    }

    fn tool_compress(prog: &str, args: &[&str], data: &[u8]) -> Vec<u8> {
        let (ok, out) = run_tool(prog, args, data);
        assert!(ok, "{prog} failed");
        out
    }

    /// The tools verify our checksums: the checksum bytes alone are damaged (the data
    /// still decodes), so only a verified checksum can make them fail.
    #[test]
    fn damaged_checksums_fail_lz4_and_zstd() {
        let data = sample(1_500_000);
        // lz4: [.. block][end mark 4][content checksum 4] per frame.
        let mut z = compress_frames(Codec::Lz4, &data, 1 << 20);
        assert!(run_tool("/usr/bin/lz4", &["-dc"], &z).0);
        let at = z.len() - 4;
        z[at] ^= 1;
        assert!(!run_tool("/usr/bin/lz4", &["-dc"], &z).0, "lz4 -dc ignored a bad block checksum");
        // zstd: the frame ends with the 4-byte content checksum.
        let mut z = compress_frames(Codec::Zstd { level: 3 }, &data, 1 << 20);
        assert!(run_tool("/usr/bin/zstd", &["-dc"], &z).0);
        let at = z.len() - 4;
        z[at] ^= 1;
        assert!(!run_tool("/usr/bin/zstd", &["-dc"], &z).0, "zstd -dc ignored a bad content checksum");
    }

    #[test]
    fn gzip_frames_read_back_with_gzip() {
        let data = sample(3_000_001);
        for level in [1, 9] {
            let z = compress_frames(Codec::Gzip { level }, &data, 1 << 20);
            assert!(z.len() < data.len());
            assert!(tool_decompress("/bin/gzip", &["-dc"], &z) == data, "level {level}");
        }
    }

    #[test]
    fn zstd_frames_read_back_with_zstd() {
        let data = sample(2_500_000);
        let z = compress_frames(Codec::Zstd { level: 1 }, &data, 1 << 20);
        assert!(z.len() < data.len());
        assert!(tool_decompress("/usr/bin/zstd", &["-dc"], &z) == data);
    }

    #[test]
    fn lz4_frames_read_back_with_lz4_and_incompressible_frames_are_stored() {
        let mut data = sample(1_500_000);
        let noise: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        data.extend_from_slice(&noise);
        let z = compress_frames(Codec::Lz4, &data, 1 << 20);
        assert!(tool_decompress("/usr/bin/lz4", &["-dc"], &z) == data);
    }

    #[test]
    fn frames_without_checksums_read_back_with_the_tools() {
        let data = sample(2_500_000);
        for (codec, prog) in [(Codec::Lz4, "/usr/bin/lz4"), (Codec::Zstd { level: 1 }, "/usr/bin/zstd")] {
            let mut c = FrameCompressor::with_checksums(codec, false).unwrap();
            let mut with = FrameCompressor::new(codec).unwrap();
            let (mut out, mut out_with) = (Vec::new(), Vec::new());
            let mut buf = vec![0u8; codec.max_output_bytes(1 << 20)];
            for f in data.chunks(1 << 20) {
                let n = c.compress(f, &mut buf).unwrap();
                out.extend_from_slice(&buf[..n]);
                let n = with.compress(f, &mut buf).unwrap();
                out_with.extend_from_slice(&buf[..n]);
            }
            // Four checksum bytes fewer per frame, and the tools still read them.
            assert_eq!(out.len() + 3 * 4, out_with.len(), "{prog}");
            assert!(tool_decompress(prog, &["-dc"], &out) == data, "{prog}");
        }
    }

    #[test]
    fn empty_and_tiny_frames() {
        for codec in [Codec::Gzip { level: 6 }, Codec::Zstd { level: 3 }, Codec::Lz4, Codec::None] {
            let mut c = FrameCompressor::new(codec).unwrap();
            let mut buf = vec![0u8; codec.max_output_bytes(1)];
            assert!(c.compress(b"x", &mut buf).is_ok(), "{codec:?}");
            assert!(c.compress(b"", &mut buf).is_ok(), "{codec:?}");
        }
    }

    #[test]
    fn parse_names() {
        assert_eq!(Codec::parse("zstd:1").unwrap(), Codec::Zstd { level: 1 });
        assert_eq!(Codec::parse("fast").unwrap(), Codec::Gzip { level: 1 });
        assert_eq!(Codec::parse("best").unwrap(), Codec::Gzip { level: 9 });
        assert!(Codec::parse("zstd:99").is_err());
        assert!(Codec::parse("bzip2").is_err());
    }
}
