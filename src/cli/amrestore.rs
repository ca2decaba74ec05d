//! `amrestore`: extract dumps from a volume or a holding-disk file, as Amanda 3.5.1's
//! `server-src/amrestore.pl` does.
//!
//! `amrestore [--config C] [-b BLOCKSIZE] [-r|-c|-C] [-p] [-h] [-f FILENUM] [-l LABEL]
//! [--exact-match] [-o NAME=VALUE]… [--continue-on-filter-error] [--holding]
//! DEVICE|HOLDINGFILE [HOST [DISK [DATESTAMP]]…]`
//!
//! - From a device: reads the label, says `Restoring from tape LABEL starting with file N.`,
//!   then for every file from N on prints `amrestore: N: restoring SUMMARY` (or
//!   `skipping` when no dump specification matches) until the end of the volume.
//! - From a holding file (detected by its header, or with `--holding`): `Reading from
//!   'FILE'` and the one dump, across its CONT_FILENAME chunks.
//! - Output: `HOST.DISK.DATESTAMP.LEVEL[.PPPPPPP][.RAW|SUFFIX]` in the current directory,
//!   or standard output with `-p` (which stops after the first dump restored).
//! - Unless `-r`: decrypt with the program the header names (the built-in AEAD for
//!   `amaead`), then uncompress with the header's custom program `-d` or `gzip -dc`;
//!   `-c`/`-C` compress an uncompressed dump with `gzip --fast`/`--best` instead. `-h`
//!   (implied by `-r`) writes a 32 KiB header first, rewritten to describe the output.
//! - A filter's standard error is relayed as `filter stderr: LINE`; a failure prints
//!   `ERROR: …` and exits 1 (with `--continue-on-filter-error`, filter failures are
//!   reported and the next file is restored).

use crate::cli::getopt::getopt;
use crate::cmdline::{matches_any, parse_dumpspecs, DumpSpec, ParseFlags};
use crate::device::{open_device, AccessMode, Device, DeviceProperties};
use crate::format::aead::{Decryptor, Key};
use crate::format::crc::{Crc, Crc32c};
use crate::format::header::{build_header, summarize_header, DumpFile, FileType, DISK_BLOCK_BYTES};
use crate::format::quote::sanitise_filename;
use crate::holding::{holding_header, HoldingReader};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Debian's Amanda build: gzip as the standard compressor.
const COMPRESS_PATH: &str = "/bin/gzip";
const UNCOMPRESS_PATH: &str = "/bin/gzip";
const UNCOMPRESS_OPT: &str = "-dc";
const COMPRESS_FAST_OPT: &str = "--fast";
const COMPRESS_BEST_OPT: &str = "--best";
const COMPRESS_SUFFIX: &str = ".gz";
/// Copy buffer between stages.
const COPY_BUFFER_BYTES: usize = 1 << 20;

const USAGE: &str = "Usage: amrestore [--config config] [-b blocksize] [-r|-c|-C] [-p] [-h]
    [-f filenum] [-l label] [--exact-match] [-o configoption]*
    [--continue-on-filter-error]
    {device | [--holding] holdingfile}
    [hostname [diskname [datestamp [hostname [diskname [datestamp ... ]]]]]]\"));
";

#[derive(Default)]
struct Opts {
    config: Option<String>,
    blocksize: Option<usize>,
    raw: bool,
    compress: bool,
    compress_best: bool,
    pipe: bool,
    header: bool,
    filenum: Option<u32>,
    label: Option<String>,
    exact_match: bool,
    holding: bool,
    continue_on_filter_error: bool,
    overrides: Vec<crate::config::Override>,
    positional: Vec<String>,
}

fn usage(msg: Option<&str>) -> i32 {
    if let Some(m) = msg {
        eprintln!("{m}");
    }
    eprint!("{USAGE}");
    1
}

/// amrestore's options, in Getopt::Long's syntax (server-src/amrestore.pl).
pub(crate) const OPTIONS: [&str; 15] = [
    "version",
    "help|usage|?",
    "config=s",
    "holding",
    "exact-match",
    "continue-on-filter-error",
    "b=i",
    "r",
    "c",
    "C",
    "p",
    "h",
    "f=i",
    "l=s",
    "o=s",
];

fn parse_args(argv: &[String]) -> Result<Opts, i32> {
    // Amanda's GetOptions: `--version`, `--help` and `-o` act in command-line order, a
    // command-line error only shows as the usage text once all options are read.
    let parsed = getopt(argv, &OPTIONS);
    let (options, mut bad_option, positional) = parsed.lenient();
    let mut o = Opts { positional, ..Opts::default() };
    for (name, value) in options {
        let value = value.unwrap_or_default();
        match name {
            "version" => {
                println!("amrestore-{}", env!("CARGO_PKG_VERSION"));
                return Err(0);
            }
            // Amanda's handler is `usage` itself, called with the option's name.
            "help" => return Err(usage(Some("help"))),
            "config" => o.config = Some(value),
            "holding" => o.holding = true,
            "exact-match" => o.exact_match = true,
            "continue-on-filter-error" => o.continue_on_filter_error = true,
            "r" => o.raw = true,
            "c" => o.compress = true,
            "C" => o.compress_best = true,
            "p" => o.pipe = true,
            "h" => o.header = true,
            // Integers Getopt::Long accepts but no block size or file number can be
            // (negative, too large) are refused as well.
            "b" => match value.parse() {
                Ok(v) => o.blocksize = Some(v),
                Err(_) => bad_option = true,
            },
            "f" => match value.parse() {
                Ok(v) => o.filenum = Some(v),
                Err(_) => bad_option = true,
            },
            "l" => o.label = Some(value),
            _ => o.overrides.push(crate::config::Override::parse(&value).map_err(|m| {
                eprintln!("{m}");
                1
            })?),
        }
    }
    if bad_option {
        return Err(usage(None));
    }
    Ok(o)
}

/// How one dump is turned into the output.
struct Plan {
    /// External programs, in order, each with its arguments.
    programs: Vec<Vec<String>>,
    /// Decrypt with the built-in AEAD (before the programs).
    builtin_decrypt: bool,
    /// The header to write first with `-h`, already rewritten.
    header: Option<Vec<u8>>,
    output_name: String,
}

fn is_builtin_aead(program: &str) -> bool {
    Path::new(program).file_name().is_some_and(|n| n == "amaead")
}

fn plan(o: &Opts, hdr: &DumpFile) -> Result<Plan, String> {
    let mut h = hdr.clone();
    let mut programs = Vec::new();
    let mut builtin_decrypt = false;
    if h.encrypted && !o.raw {
        let (prog, opt) = if !h.server_encrypt_program.is_empty() {
            (h.server_encrypt_program.clone(), h.server_decrypt_option.clone())
        } else if !h.client_encrypt_program.is_empty() {
            (h.client_encrypt_program.clone(), h.client_decrypt_option.clone())
        } else {
            return Err("could not decrypt encrypted dump: no program specified".into());
        };
        if is_builtin_aead(&prog) {
            builtin_decrypt = true;
        } else {
            programs.push(vec![prog, opt]);
        }
        h.encrypted = false;
        h.server_encrypt_program.clear();
        h.server_decrypt_option.clear();
        h.client_encrypt_program.clear();
        h.client_decrypt_option.clear();
        h.encryption_suffix = "N".into();
    }
    if !o.raw && h.compressed && !o.compress {
        if !h.server_compress_program.is_empty() {
            programs.push(vec![h.server_compress_program.clone(), "-d".into()]);
        } else if !h.client_compress_program.is_empty() {
            programs.push(vec![h.client_compress_program.clone(), "-d".into()]);
        } else {
            programs.push(vec![UNCOMPRESS_PATH.into(), UNCOMPRESS_OPT.into()]);
        }
        h.compressed = false;
        h.uncompress_cmd.clear();
    } else if !o.raw && !h.compressed && o.compress {
        let opt = if o.compress_best { COMPRESS_BEST_OPT } else { COMPRESS_FAST_OPT };
        programs = vec![vec![COMPRESS_PATH.into(), opt.into()]];
        h.compressed = true;
        h.uncompress_cmd = format!(" {UNCOMPRESS_PATH} {UNCOMPRESS_OPT} |");
        h.compression_suffix = COMPRESS_SUFFIX.into();
    }
    if !o.raw {
        // PART-CRC describes the bytes on the volume; only a raw restore writes those.
        h.part_crc = None;
    }
    let header = if o.header {
        h.block_size_bytes = DISK_BLOCK_BYTES;
        Some(build_header(&h, DISK_BLOCK_BYTES).map_err(|e| format!("cannot rebuild the header: {e}"))?)
    } else {
        None
    };
    let mut name = format!(
        "{}.{}.{}.{}",
        hdr.host_or_label,
        sanitise_filename(&hdr.disk),
        hdr.datestamp,
        hdr.dump_level
    );
    if hdr.part_number > 0 {
        name.push_str(&format!(".{:07}", hdr.part_number));
    }
    if o.raw {
        name.push_str(".RAW");
    } else if o.compress {
        if hdr.compressed && !hdr.compression_suffix.is_empty() {
            name.push_str(&hdr.compression_suffix);
        } else {
            name.push_str(COMPRESS_SUFFIX);
        }
    }
    Ok(Plan { programs, builtin_decrypt, header, output_name: name })
}

/// The bytes of one dump, from a device file or a holding chain.
enum Source {
    Device(Box<dyn Device>),
    Holding(Box<HoldingReader>),
}

/// The device handed back after a file, with the CRC of what was read from it.
type DeviceBack = Option<(Box<dyn Device>, Crc)>;

/// Reads a device file block by block, keeping a CRC-32C of what it read.
struct DeviceFile {
    dev: Box<dyn Device>,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    crc: Crc32c,
    eof: bool,
}

impl DeviceFile {
    /// Reads what a filter left unread, so the CRC covers the whole file, and gives the
    /// device back.
    fn drain(mut self) -> (Box<dyn Device>, Crc) {
        while !self.eof {
            match self.dev.read_block(&mut self.buf) {
                Ok(n) if n > 0 => {
                    self.crc.update(&self.buf[..n]);
                }
                _ => self.eof = true,
            }
        }
        (self.dev, self.crc.to_crc())
    }
}

impl Read for DeviceFile {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.len {
            self.len =
                self.dev.read_block(&mut self.buf).map_err(|e| std::io::Error::other(e.to_string()))?;
            self.pos = 0;
            self.crc.update(&self.buf[..self.len]);
            if self.len == 0 {
                self.eof = true;
                return Ok(0);
            }
        }
        let n = (self.len - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn copy_all(r: &mut dyn Read, w: &mut dyn Write) -> std::io::Result<u64> {
    let mut buf = vec![0u8; COPY_BUFFER_BYTES];
    let mut total = 0;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Why a restore of one file failed.
enum Failure {
    /// Reading the volume or writing the output failed: always fatal.
    Source(String),
    /// A filter program failed: fatal unless `--continue-on-filter-error`.
    Filter(Vec<String>),
}

/// Runs the plan: source → [built-in decrypt] → programs… → output. Returns the source
/// (the device, to go on reading) and the outcome.
fn run_plan(
    source: Source,
    plan: &Plan,
    out: &mut dyn Write,
    key_file: &Option<PathBuf>,
    place: &str,
) -> (DeviceBack, Result<(), Failure>) {
    if let Some(h) = &plan.header {
        if let Err(e) = out.write_all(h) {
            return (source_device(source).map(|d| (d, Crc::default())), Err(Failure::Source(e.to_string())));
        }
    }
    // The source runs in its own thread so filters can run while it reads.
    let (reader_tx, reader_rx) = std::sync::mpsc::channel::<(Box<dyn Device>, Crc)>();
    let mut stage: Box<dyn Read + Send> = match source {
        Source::Holding(h) => Box::new(h),
        Source::Device(dev) => {
            let bs = dev.read_buffer_bytes();
            let df = DeviceFile { dev, buf: vec![0u8; bs], pos: 0, len: 0, crc: Crc32c::new(), eof: false };
            Box::new(ReturnOnDrop { inner: Some(df), tx: reader_tx })
        }
    };
    if plan.builtin_decrypt {
        let path = key_file.clone().unwrap_or_else(|| PathBuf::from(crate::cli::amaead::DEFAULT_KEY_FILE));
        let key = match Key::load(&path) {
            Ok(k) => k,
            Err(e) => {
                drop(stage);
                return (reader_rx.try_recv().ok(), Err(Failure::Source(e.to_string())));
            }
        };
        // The built-in AEAD's errors say which segment failed; they get the volume file
        // (and part) in front, which Amanda never reports since it has no such decryptor.
        match Decryptor::new(&key, stage) {
            Ok(d) => stage = Box::new(Located { inner: d, place: place.to_owned() }),
            Err(e) => {
                return (reader_rx.try_recv().ok(), Err(Failure::Source(format!("{place}: amaead: {e}"))))
            }
        }
    }
    let mut children: Vec<(String, Child)> = Vec::new();
    let mut pumps = Vec::new();
    let mut relays = Vec::new();
    for prog in &plan.programs {
        let spawned = Command::new(&prog[0])
            .args(&prog[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                drop(stage);
                return (reader_rx.try_recv().ok(), Err(Failure::Filter(vec![format!("{}: {e}", prog[0])])));
            }
        };
        let mut stdin = child.stdin.take().expect("piped");
        let mut upstream = stage;
        pumps.push(std::thread::spawn(move || {
            // A broken pipe means the filter stopped early; its exit status says why.
            let r = copy_all(&mut upstream, &mut stdin);
            drop(stdin);
            drop(upstream);
            r.err().filter(|e| e.kind() != std::io::ErrorKind::BrokenPipe).map(|e| e.to_string())
        }));
        let stderr = child.stderr.take().expect("piped");
        relays.push(std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::BufReader::new(stderr).read_to_string(&mut text);
            for line in text.lines() {
                eprintln!("filter stderr: {line}");
            }
        }));
        stage = Box::new(child.stdout.take().expect("piped"));
        children.push((prog[0].clone(), child));
    }
    let copied = copy_all(&mut stage, out).and_then(|_| out.flush());
    drop(stage);
    let mut source_error = None;
    for p in pumps {
        if let Ok(Some(e)) = p.join() {
            source_error.get_or_insert(e);
        }
    }
    let mut filter_errors = Vec::new();
    for (name, mut child) in children {
        match child.wait() {
            Ok(s) if s.success() => {}
            Ok(s) => filter_errors.push(match s.code() {
                Some(c) => format!("{name} exited with status {c}"),
                None => format!("{name} was killed by a signal"),
            }),
            Err(e) => filter_errors.push(format!("{name}: {e}")),
        }
    }
    for r in relays {
        let _ = r.join();
    }
    let dev = reader_rx.try_recv().ok();
    if let Some(e) = source_error {
        return (dev, Err(Failure::Source(e)));
    }
    if let Err(e) = copied {
        if filter_errors.is_empty() {
            return (dev, Err(Failure::Source(e.to_string())));
        }
    }
    if !filter_errors.is_empty() {
        return (dev, Err(Failure::Filter(filter_errors)));
    }
    (dev, Ok(()))
}

/// A reader whose errors name the volume file (or holding file) being read.
struct Located<R> {
    inner: R,
    place: String,
}

impl<R: Read> Read for Located<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(out).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", self.place)))
    }
}

fn source_device(s: Source) -> Option<Box<dyn Device>> {
    match s {
        Source::Device(d) => Some(d),
        Source::Holding(_) => None,
    }
}

/// Hands the device (and the CRC of what was read) back to the main thread when the
/// reading stage is dropped.
struct ReturnOnDrop {
    inner: Option<DeviceFile>,
    tx: std::sync::mpsc::Sender<(Box<dyn Device>, Crc)>,
}

impl Read for ReturnOnDrop {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        self.inner.as_mut().map_or(Ok(0), |d| d.read(out))
    }
}

impl Drop for ReturnOnDrop {
    fn drop(&mut self) {
        if let Some(d) = self.inner.take() {
            let _ = self.tx.send(d.drain());
        }
    }
}

fn open_output(o: &Opts, plan: &Plan) -> Result<Box<dyn Write>, String> {
    if o.pipe {
        return Ok(Box::new(std::io::stdout()));
    }
    std::fs::File::create(&plan.output_name)
        .map(|f| Box::new(std::io::BufWriter::with_capacity(COPY_BUFFER_BYTES, f)) as Box<dyn Write>)
        .map_err(|e| format!("Could not open '{}' for writing: {e}", plan.output_name))
}

fn error(msg: &str) -> i32 {
    eprintln!("ERROR: {msg}");
    1
}

pub fn main(argv: &[String]) -> i32 {
    let mut o = match parse_args(argv) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if o.compress_best {
        o.compress = true;
    }
    if o.positional.is_empty() {
        return usage(Some("Must specify a device or holding-disk file"));
    }
    let src = o.positional.remove(0);
    if !o.holding && holding_header(Path::new(&src)).is_some() {
        o.holding = true;
    }
    let mut flags = ParseFlags::PARSE_DATESTAMP;
    if o.exact_match {
        flags |= ParseFlags::EXACT_MATCH;
    }
    let specs = match parse_dumpspecs(&o.positional, flags) {
        Ok(s) => s,
        Err(e) => return error(&e.to_string()),
    };
    if o.holding && o.label.is_some() {
        return usage(Some("Cannot check a label on a holding-disk file"));
    }
    if o.raw && o.compress {
        return usage(Some("Cannot use both -r (raw) and -c/-C (compression) -- use -h instead"));
    }
    if o.raw {
        o.header = true;
    }
    // The built-in AEAD's key: $AMAEAD_KEY_FILE, else the configuration's
    // encrypt_key_file (with --config), else amaead's default.
    let mut key_file = std::env::var_os("AMAEAD_KEY_FILE").filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(c) = &o.config {
        let cfg = crate::config::load_server(&crate::config::ConfigSource::resolve(c), &o.overrides);
        for d in &cfg.diagnostics {
            eprintln!("{d}");
        }
        if cfg.level >= crate::config::Level::Errors {
            eprintln!("amrestore: errors processing config file");
            return 1;
        }
        let configured = cfg.global_str("CNF_ENCRYPT_KEY_FILE");
        if key_file.is_none() && !configured.is_empty() {
            key_file = Some(PathBuf::from(configured));
        }
    }
    if o.holding {
        restore_holding(&o, &src, &specs, &key_file)
    } else {
        restore_device(&o, &src, &specs, &key_file)
    }
}

fn restore_holding(o: &Opts, src: &str, specs: &[DumpSpec], key_file: &Option<PathBuf>) -> i32 {
    eprintln!("Reading from '{src}'");
    let reader = match HoldingReader::open(Path::new(src)) {
        Ok(r) => r,
        Err(e) => return error(&e.to_string()),
    };
    let hdr = reader.header().clone();
    match matches(specs, &hdr) {
        Ok(true) => {}
        Ok(false) => return 0,
        Err(e) => return error(&e),
    }
    eprintln!("{}", summarize_header(&hdr));
    let place = format!("holding file '{src}'");
    restore_one(o, Source::Holding(Box::new(reader)), &hdr, key_file, &place).1.max(0)
}

fn matches(specs: &[DumpSpec], hdr: &DumpFile) -> Result<bool, String> {
    matches_any(specs, &hdr.host_or_label, &hdr.disk, &hdr.datestamp, hdr.dump_level)
        .map_err(|e| e.to_string())
}

/// Restores one dump; returns the device back (if any) and the exit status so far.
/// `place` names the source in our own messages: `DEVICE: file N[ (part P)]` or the
/// holding file.
fn restore_one(
    o: &Opts,
    source: Source,
    hdr: &DumpFile,
    key_file: &Option<PathBuf>,
    place: &str,
) -> (Option<Box<dyn Device>>, i32) {
    let plan = match plan(o, hdr) {
        Ok(p) => p,
        Err(e) => return (source_device(source), error(&e)),
    };
    let mut out = match open_output(o, &plan) {
        Ok(w) => w,
        Err(e) => return (source_device(source), error(&e)),
    };
    let (back, result) = run_plan(source, &plan, &mut out, key_file, place);
    let (dev, crc) = match back {
        Some((d, c)) => (Some(d), Some(c)),
        None => (None, None),
    };
    match result {
        Ok(()) => match crc.and_then(|c| check_crc(hdr, c)) {
            None => (dev, 0),
            Some(problem) => {
                let code = error(&format!("{place}: {problem}"));
                (dev, code)
            }
        },
        Err(Failure::Source(e)) => (dev, error(&e)),
        Err(Failure::Filter(errs)) => {
            for e in &errs {
                eprintln!("ERROR: {e}");
            }
            // A filter that fails on a damaged volume says nothing about where; when the
            // data does not match the header's PART-CRC or SERVER-CRC, name the file as
            // well (Amanda does not check CRCs, so on its undamaged volumes this adds
            // nothing).
            if let Some(problem) = crc.and_then(|c| check_crc(hdr, c)) {
                eprintln!("ERROR: {place}: {problem}");
            }
            (dev, if o.continue_on_filter_error { -1 } else { 1 })
        }
    }
}

/// `DEVICE: file N`, with `(part P)` for a part of a split dump.
fn device_place(dev: &dyn Device, n: u32, hdr: &DumpFile) -> String {
    if hdr.file_type == FileType::SplitFile {
        format!("{}: file {n} (part {})", dev.name(), hdr.part_number)
    } else {
        format!("{}: file {n}", dev.name())
    }
}

/// Checks what was read from a volume file against its header's CRCs. Amanda's amrestore
/// does not check; a damaged or cut volume would otherwise restore silently wrong.
///
/// * `PART-CRC` (ours, written by file-backed devices once the part is complete) covers
///   exactly this file's data, so any difference is damage: it judges every part of a
///   split dump and dumps written straight to a volume, whose header is written before
///   the dump's CRC is known.
/// * `SERVER-CRC` covers the whole dump. A SPLIT_FILE part shorter than the dump may
///   simply be followed by more parts, so only a whole-dump read is judged.
fn check_crc(hdr: &DumpFile, got: Crc) -> Option<String> {
    if let Some(want) = hdr.part_crc {
        if got.size < want.size {
            return Some(format!(
                "cut short: {} bytes read, the header's PART-CRC covers {} bytes",
                got.size, want.size
            ));
        }
        if got != want {
            return Some(format!(
                "data does not match PART-CRC (read {got}, header {want}): the volume is damaged"
            ));
        }
    }
    let want = hdr.server_crc;
    if want.size == 0 {
        return None;
    }
    if got.size == want.size && got.crc != want.crc {
        return Some(format!(
            "data does not match the header's SERVER-CRC (read {got}, header {want}): the volume is damaged"
        ));
    }
    if got.size < want.size && hdr.file_type == FileType::File {
        return Some(format!(
            "cut short: {} bytes read, the header's SERVER-CRC covers {} bytes",
            got.size, want.size
        ));
    }
    None
}

fn restore_device(o: &Opts, src: &str, specs: &[DumpSpec], key_file: &Option<PathBuf>) -> i32 {
    let mut props = DeviceProperties::new();
    if let Some(bs) = o.blocksize {
        props.set("BLOCK_SIZE", &bs.to_string());
    }
    let mut dev = match open_device(src, &props) {
        Ok(d) => d,
        Err(e) => return error(&e.to_string()),
    };
    let label = match dev.read_label() {
        Ok(l) => l,
        Err(e) => return error(&e.to_string()),
    };
    if let Some(want) = &o.label {
        if &label.label != want {
            return error(&format!("Found unexpected label '{}'", label.label));
        }
    }
    let mut filenum = o.filenum.unwrap_or(1).max(1);
    eprintln!("Restoring from tape {} starting with file {filenum}.", label.label);
    if let Err(e) = dev.start(AccessMode::Read) {
        return error(&e.to_string());
    }
    loop {
        let seek = match dev.seek_file(filenum) {
            Ok(s) => s,
            Err(e) => return error(&format!("while reading next header: {e}")),
        };
        let hdr = seek.header.clone();
        if hdr.file_type == FileType::TapeEnd {
            break;
        }
        let n = seek.file_number;
        filenum = n + 1;
        match matches(specs, &hdr) {
            Ok(true) => {}
            Ok(false) => {
                eprintln!("amrestore: {n}: skipping {}", summarize_header(&hdr));
                continue;
            }
            Err(e) => return error(&e),
        }
        eprintln!("amrestore: {n}: restoring {}", summarize_header(&hdr));
        let place = device_place(dev.as_ref(), n, &hdr);
        let (back, code) = restore_one(o, Source::Device(dev), &hdr, key_file, &place);
        match (back, code) {
            (Some(d), 0) => dev = d,
            // Amanda reports a filter failure under --continue-on-filter-error but
            // keeps its exit status at 0.
            (Some(d), -1) => dev = d,
            (_, -1) => return 0,
            (_, code) => return code,
        }
        if o.pipe {
            break;
        }
    }
    let _ = dev.finish();
    0
}
