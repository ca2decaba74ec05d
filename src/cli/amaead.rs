//! `amaead`: the built-in AEAD as a filter program, so a volume header's "To restore"
//! line and Amanda's own `amrestore` can undo `encrypt … "amaead"` with standard tools.
//!
//! `amaead [-d] [-k KEYFILE]` encrypts standard input to standard output, or decrypts
//! with `-d`. The key file is `-k`, else `$AMAEAD_KEY_FILE`, else `/etc/amanda/amaead.key`.
//! Decryption stops with an error naming the segment at the first segment that fails
//! authentication; nothing from that segment is written. Exit status: 0 on success,
//! 1 on a usage, key or stream error.

use crate::cli::getopt::getopt;
use crate::format::aead::{Decryptor, Encryptor, Key};
use std::io::{Read, Write};
use std::path::PathBuf;

/// Plaintext bytes per segment when used as a filter.
const FILTER_SEGMENT_BYTES: u32 = 1 << 20;
pub const DEFAULT_KEY_FILE: &str = "/etc/amanda/amaead.key";

fn usage() -> i32 {
    eprintln!("Usage: amaead [-d] [-k KEYFILE]");
    1
}

pub fn main(argv: &[String]) -> i32 {
    // The same option rules as the Amanda tools (bundling, `-kFILE`, `--` …); no
    // arguments besides the options.
    let Ok((opts, args)) = getopt(argv, &["d", "k=s"]).options() else { return usage() };
    if !args.is_empty() {
        return usage();
    }
    let mut decrypt = false;
    let mut key_file: Option<PathBuf> = None;
    for (name, value) in opts {
        match (name, value) {
            ("k", Some(k)) => key_file = Some(PathBuf::from(k)),
            _ => decrypt = true,
        }
    }
    let key_file = key_file
        .or_else(|| std::env::var_os("AMAEAD_KEY_FILE").filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_KEY_FILE));
    let key = match Key::load(&key_file) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("amaead: {e}");
            return 1;
        }
    };
    let result = if decrypt { run_decrypt(&key) } else { run_encrypt(&key) };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("amaead: {e}");
            1
        }
    }
}

fn run_encrypt(key: &Key) -> Result<(), String> {
    let stdout = std::io::stdout().lock();
    let mut enc =
        Encryptor::new(key, FILTER_SEGMENT_BYTES, std::io::BufWriter::with_capacity(1 << 20, stdout))
            .map_err(|e| e.to_string())?;
    let mut input = std::io::stdin().lock();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading standard input: {e}")),
        };
        enc.write_bytes(&buf[..n]).map_err(|e| e.to_string())?;
    }
    enc.finish().map_err(|e| e.to_string())?;
    Ok(())
}

fn run_decrypt(key: &Key) -> Result<(), String> {
    let input = std::io::BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let mut dec = Decryptor::new(key, input).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = dec.read_plain(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(|e| format!("writing standard output: {e}"))?;
    }
    out.flush().map_err(|e| format!("writing standard output: {e}"))
}
