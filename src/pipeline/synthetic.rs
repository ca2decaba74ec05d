//! A seeded synthetic dump stream, shaped like PERFORMANCE.md's reference corpus.
//!
//! The stream is a sequence of 64 KiB pieces, each drawn (by a seeded xorshift
//! generator) as text logs (45 %), incompressible bytes (40 %) or small files in tar
//! framing (15 %: a 512-byte ustar-like header and 0–4 KiB of content padded to 512).
//! Text and tar content are sliced from pools built once from the seed, so generation
//! is a memcpy or a random fill and runs far faster than the pipeline it feeds. The same
//! seed and length always give the same bytes.

use super::run::Source;

const PIECE_BYTES: usize = 64 * 1024;
const POOL_BYTES: usize = 1 << 20;

/// xorshift64*: small, fast, good enough for test data.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Text,
    Random,
    Tar,
}

/// The synthetic source.
pub struct Synthetic {
    remaining: u64,
    rng: Rng,
    text: Vec<u8>,
    tar: Vec<u8>,
    piece: Vec<u8>,
    piece_pos: usize,
}

fn text_pool(rng: &mut Rng) -> Vec<u8> {
    const HOSTS: [&str; 4] = ["web01", "db02", "mail", "gw"];
    const PROGS: [&str; 5] = ["sshd", "postfix/smtpd", "kernel", "cron", "nginx"];
    const MSGS: [&str; 6] = [
        "Accepted publickey for backup from 10.1.2.3 port 52211 ssh2",
        "connect from unknown[192.0.2.17]",
        "EXT4-fs (sda1): re-mounted. Opts: errors=remount-ro",
        "(root) CMD (run-parts /etc/cron.hourly)",
        "GET /index.html HTTP/1.1 200 5120 \"-\" \"curl/8.5.0\"",
        "disconnect from unknown[192.0.2.17] ehlo=1 auth=0/1 quit=1 commands=2/3",
    ];
    let mut v = Vec::with_capacity(POOL_BYTES + 256);
    while v.len() < POOL_BYTES {
        let line = format!(
            "Nov 22 {:02}:{:02}:{:02} {} {}[{}]: {}\n",
            rng.below(24),
            rng.below(60),
            rng.below(60),
            HOSTS[rng.below(HOSTS.len())],
            PROGS[rng.below(PROGS.len())],
            1000 + rng.below(30000),
            MSGS[rng.below(MSGS.len())]
        );
        v.extend_from_slice(line.as_bytes());
    }
    v.truncate(POOL_BYTES);
    v
}

fn tar_pool(rng: &mut Rng, text: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(POOL_BYTES + 8192);
    let mut n = 0;
    while v.len() < POOL_BYTES {
        let size = rng.below(4096);
        let mut hdr = [0u8; 512];
        let name = format!("./home/user{}/project/src/file{n:05}.c", rng.below(20));
        hdr[..name.len()].copy_from_slice(name.as_bytes());
        hdr[100..108].copy_from_slice(b"0000644\0");
        hdr[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        hdr[136..148].copy_from_slice(b"14712354521\0");
        hdr[156] = b'0';
        hdr[257..263].copy_from_slice(b"ustar\0");
        hdr[148..156].fill(b' ');
        let sum: u32 = hdr.iter().map(|b| u32::from(*b)).sum();
        hdr[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        v.extend_from_slice(&hdr);
        let start = rng.below(text.len() - size);
        v.extend_from_slice(&text[start..start + size]);
        v.resize(v.len().div_ceil(512) * 512, 0);
        n += 1;
    }
    v.truncate(POOL_BYTES);
    v
}

impl Synthetic {
    /// `bytes` bytes of stream from `seed`.
    pub fn new(bytes: u64, seed: u64) -> Synthetic {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let text = text_pool(&mut rng);
        let tar = tar_pool(&mut rng, &text);
        Synthetic { remaining: bytes, rng, text, tar, piece: vec![0u8; PIECE_BYTES], piece_pos: PIECE_BYTES }
    }

    fn next_piece(&mut self) {
        let roll = self.rng.below(100);
        let kind = if roll < 45 {
            Kind::Text
        } else if roll < 85 {
            Kind::Random
        } else {
            Kind::Tar
        };
        match kind {
            Kind::Random => {
                for chunk in self.piece.chunks_exact_mut(8) {
                    chunk.copy_from_slice(&self.rng.next().to_le_bytes());
                }
            }
            Kind::Text | Kind::Tar => {
                let pool = if kind == Kind::Text { &self.text } else { &self.tar };
                let start = self.rng.below(pool.len() - PIECE_BYTES);
                let start = if kind == Kind::Tar { start / 512 * 512 } else { start };
                self.piece.copy_from_slice(&pool[start..start + PIECE_BYTES]);
            }
        }
        self.piece_pos = 0;
    }
}

impl Source for Synthetic {
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() && self.remaining > 0 {
            if self.piece_pos == PIECE_BYTES {
                self.next_piece();
            }
            let k = (PIECE_BYTES - self.piece_pos)
                .min(buf.len() - n)
                .min(self.remaining.min(usize::MAX as u64) as usize);
            buf[n..n + k].copy_from_slice(&self.piece[self.piece_pos..self.piece_pos + k]);
            self.piece_pos += k;
            self.remaining -= k as u64;
            n += k;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(s: &mut Synthetic, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        let mut got = 0;
        while got < n {
            let k = s.fill(&mut v[got..]).unwrap();
            if k == 0 {
                break;
            }
            got += k;
        }
        v.truncate(got);
        v
    }

    #[test]
    fn seeded_exact_length_and_mixed() {
        let a = take(&mut Synthetic::new(3_000_017, 7), 4_000_000);
        let b = take(&mut Synthetic::new(3_000_017, 7), 4_000_000);
        assert_eq!(a.len(), 3_000_017);
        assert!(a == b, "same seed, same bytes");
        let c = take(&mut Synthetic::new(3_000_017, 8), 4_000_000);
        assert!(a != c);
        let z = zstd::bulk::compress(&a, 1).unwrap();
        let ratio = a.len() as f64 / z.len() as f64;
        assert!((1.3..4.0).contains(&ratio), "mixed corpus ratio {ratio}");
    }
}
