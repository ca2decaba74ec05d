//! `ambench`: measures the data path and prints one JSON line.
//!
//! `ambench pipeline [--input FILE | --synthetic BYTES] [--seed N]
//!   --compress none|gzip|zstd|lz4[:LEVEL] --encrypt none|aes-256-gcm [--key-file FILE]
//!   --holding DIR|none --device file:DIR|null: [--block-size N] [--workers N]
//!   [--frame-size N] [--verbose]`
//!
//! Without a key file a throw-away key is made. The JSON line has `bytes_in`,
//! `bytes_out`, `seconds`, `mb_per_s` (input bytes / wall time, MB = 10^6 bytes),
//! `peak_rss_bytes` (VmHWM of this process) and, per stage, `busy_s`, `blocked_in_s`,
//! `blocked_out_s`. `--verbose` prints the buffer budget first (to stderr).

use crate::device::{open_device, AccessMode, Device, DeviceProperties};
use crate::format::aead::Key;
use crate::format::header::DumpFile;
use crate::pipeline::chunker::{ChunkerSink, ChunkerSpec};
use crate::pipeline::codec::Codec;
use crate::pipeline::run::{run, MemorySink, PipelineSpec, ReadSource, Report, Sink, Source, StageStats};
use crate::pipeline::synthetic::Synthetic;
use crate::pipeline::taper::{delete_holding_dump, flush_holding_to_taper, TaperSettings, TaperSink};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The run timestamp written into the volume label and the dump headers.
const BENCH_DATESTAMP: &str = "20261122000000";
/// Holding chunks of 1 GiB, Amanda's default `chunksize`.
const CHUNK_BYTES: u64 = 1 << 30;

const USAGE: &str = "usage: ambench pipeline [--input FILE | --synthetic BYTES] [--seed N] \
--compress none|gzip|zstd|lz4[:LEVEL] --encrypt none|aes-256-gcm [--key-file FILE] \
--holding DIR|none --device file:DIR|null: [--block-size N] [--workers N] [--frame-size N] [--verbose]";

/// Parses a byte count with an optional k/m/g suffix (powers of 1024).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_lowercase()) {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<u64>().map(|n| n * mult).map_err(|_| format!("not a byte count: \"{s}\""))
}

struct Opts {
    input: Option<String>,
    synthetic: Option<u64>,
    seed: u64,
    codec: Codec,
    encrypt: bool,
    key_file: Option<String>,
    holding: Option<String>,
    device: String,
    block_size: usize,
    workers: usize,
    frame_size: usize,
    verbose: bool,
}

fn parse(argv: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        input: None,
        synthetic: None,
        seed: 1,
        codec: Codec::None,
        encrypt: false,
        key_file: None,
        holding: None,
        device: "null:".into(),
        block_size: 32 * 1024,
        workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        frame_size: crate::pipeline::run::DEFAULT_FRAME_BYTES,
        verbose: false,
    };
    let mut it = argv.iter();
    match it.next().map(String::as_str) {
        Some("pipeline") => {}
        _ => return Err(USAGE.into()),
    }
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--input" => o.input = Some(val()?),
            "--synthetic" => o.synthetic = Some(parse_bytes(&val()?)?),
            "--seed" => o.seed = val()?.parse().map_err(|_| "bad --seed".to_string())?,
            "--compress" => o.codec = Codec::parse(&val()?)?,
            "--encrypt" => {
                o.encrypt = match val()?.as_str() {
                    "none" => false,
                    "aes-256-gcm" | "amaead" => true,
                    other => return Err(format!("unknown encryption \"{other}\" (none, aes-256-gcm)")),
                }
            }
            "--key-file" => o.key_file = Some(val()?),
            "--holding" => {
                let v = val()?;
                o.holding = (v != "none").then_some(v);
            }
            "--device" => o.device = val()?,
            "--block-size" => o.block_size = parse_bytes(&val()?)? as usize,
            "--workers" => o.workers = val()?.parse().map_err(|_| "bad --workers".to_string())?,
            "--frame-size" => o.frame_size = parse_bytes(&val()?)? as usize,
            "--verbose" => o.verbose = true,
            _ => return Err(format!("unknown argument \"{a}\"\n{USAGE}")),
        }
    }
    if o.input.is_some() == o.synthetic.is_some() {
        return Err(format!("give exactly one of --input and --synthetic\n{USAGE}"));
    }
    Ok(o)
}

/// VmHWM of this process, in bytes.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<u64>().ok()))
        })
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

fn json(report: &Report) -> String {
    let mut stages = String::new();
    for (i, s) in report.stages.iter().enumerate() {
        if i > 0 {
            stages.push(',');
        }
        stages.push_str(&format!(
            "\"{}\":{{\"bytes_in\":{},\"bytes_out\":{},\"busy_s\":{:.4},\"blocked_in_s\":{:.4},\"blocked_out_s\":{:.4}}}",
            s.name,
            s.bytes_in,
            s.bytes_out,
            s.busy.as_secs_f64(),
            s.blocked_in.as_secs_f64(),
            s.blocked_out.as_secs_f64()
        ));
    }
    format!(
        "{{\"bytes_in\":{},\"bytes_out\":{},\"seconds\":{:.4},\"mb_per_s\":{:.1},\"peak_rss_bytes\":{},\"stages\":{{{}}}}}",
        report.bytes_in,
        report.bytes_out,
        report.seconds,
        report.bytes_in as f64 / 1e6 / report.seconds.max(1e-9),
        peak_rss_bytes(),
        stages
    )
}

/// The header of the benchmark dump: what a restore needs to undo it (Amanda's amrestore
/// runs the programs named here).
fn dump_header(o: &Opts) -> DumpFile {
    let mut h = DumpFile::new_file(BENCH_DATESTAMP, "ambench", "/synthetic", 0, "GNUTAR");
    match o.codec {
        Codec::None => {}
        Codec::Gzip { .. } => {
            h.compressed = true;
            h.compression_suffix = ".gz".into();
        }
        c => {
            let prog = c.program().unwrap_or_default().to_string();
            h.compressed = true;
            h.compression_suffix = "cust".into();
            h.server_compress_program = prog;
        }
    }
    if o.encrypt {
        h.encrypted = true;
        h.encryption_suffix = "enc".into();
        h.server_encrypt_program = amaead_path();
        h.server_decrypt_option = "-d".into();
    }
    h
}

/// An absolute path to `amaead` for the header's decrypt program (Amanda's amrestore
/// runs it without a PATH search): the `amaead` link beside this executable, made if
/// missing.
fn amaead_path() -> String {
    let Ok(exe) = std::env::current_exe() else { return "amaead".into() };
    let link = exe.with_file_name("amaead");
    if !link.exists() {
        let _ = std::os::unix::fs::symlink(&exe, &link);
    }
    link.display().to_string()
}

/// Opens `file:DIR` (made if needed) and labels it for writing.
fn open_volume(o: &Opts) -> Result<Box<dyn Device>, String> {
    if let Some(dir) = o.device.strip_prefix("file:") {
        std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
    }
    let mut props = DeviceProperties::new();
    props.set("BLOCK_SIZE", &o.block_size.to_string());
    let mut dev = open_device(&o.device, &props).map_err(|e| e.to_string())?;
    dev.start(AccessMode::Write { label: "AMBENCH-001".into(), datestamp: BENCH_DATESTAMP.into() })
        .map_err(|e| e.to_string())?;
    Ok(dev)
}

fn no_next_volume() -> crate::pipeline::taper::NextVolume {
    Box::new(|| Err("ambench writes one volume (runtapes 1)".to_string()))
}

/// The pipeline's sink: the holding disk (flushed to the volume afterwards), the volume
/// directly, or nothing.
fn build_sink(o: &Opts, header: &DumpFile) -> Result<(Box<dyn Sink>, Option<PathBuf>), String> {
    if let Some(dir) = &o.holding {
        let spec = ChunkerSpec::new(Path::new(dir), BENCH_DATESTAMP, header.clone(), CHUNK_BYTES);
        let first = spec.first_chunk_path();
        let (sink, _handle) = ChunkerSink::new(spec).map_err(|e| e.to_string())?;
        return Ok((Box::new(sink), Some(first)));
    }
    if o.device == "null:" {
        return Ok((Box::new(MemorySink::new(false)), None));
    }
    let dev = open_volume(o)?;
    let (sink, _handle) = TaperSink::new(header, TaperSettings::new(1), Some(dev), no_next_volume())
        .map_err(|e| e.to_string())?;
    Ok((Box::new(sink), None))
}

/// Flushes the holding dump to the volume (as amflush), timing it as one more stage.
fn flush(o: &Opts, first: &Path, report: &mut Report) -> Result<(), String> {
    let t = Instant::now();
    if o.device != "null:" {
        let dev = open_volume(o)?;
        let out = flush_holding_to_taper(first, &TaperSettings::new(1), Some(dev), no_next_volume())
            .map_err(|e| e.error.to_string())?;
        if let Some(mut d) = out.taper.device {
            d.finish().map_err(|e| e.to_string())?;
        }
        report.stages.push(StageStats {
            name: "flush".into(),
            bytes_in: out.taper.data_bytes,
            bytes_out: out.taper.data_bytes,
            busy: t.elapsed(),
            ..StageStats::default()
        });
    }
    delete_holding_dump(first).map_err(|e| e.to_string())?;
    report.seconds += t.elapsed().as_secs_f64();
    Ok(())
}

/// `ambench corpus BYTES FILE [SEED]`: writes the synthetic corpus to a file, so the
/// same bytes can be fed to reference tools (`zstd -1 -T2`, `dd`) in the same run.
fn corpus(argv: &[String]) -> i32 {
    let (Some(bytes), Some(file)) = (argv.get(1).map(|b| parse_bytes(b)), argv.get(2)) else {
        eprintln!("usage: ambench corpus BYTES FILE [SEED]");
        return 2;
    };
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            eprintln!("ambench: {e}");
            return 2;
        }
    };
    let seed = argv.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut src = Synthetic::new(bytes, seed);
    let result = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(file)?);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = src.fill(&mut buf)?;
            if n == 0 {
                break;
            }
            f.write_all(&buf[..n])?;
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ambench: {file}: {e}");
            1
        }
    }
}

pub fn main(argv: &[String]) -> i32 {
    if argv.first().map(String::as_str) == Some("corpus") {
        return corpus(argv);
    }
    let o = match parse(argv) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ambench: {e}");
            return 2;
        }
    };
    let key = if o.encrypt {
        let k = match &o.key_file {
            Some(f) => Key::load(std::path::Path::new(f)),
            None => Key::generate(),
        };
        match k {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("ambench: {e}");
                return 1;
            }
        }
    } else {
        None
    };
    let mut spec = PipelineSpec::new(o.codec, key, o.workers);
    spec.frame_bytes = o.frame_size;
    if o.verbose {
        eprintln!("ambench: budget {}", spec.budget((0, 0)).describe());
    }
    let source: Box<dyn Source> = match (&o.input, o.synthetic) {
        (Some(f), _) => match std::fs::File::open(f) {
            Ok(file) => Box::new(ReadSource(file)),
            Err(e) => {
                eprintln!("ambench: {f}: {e}");
                return 1;
            }
        },
        (None, Some(n)) => Box::new(Synthetic::new(n, o.seed)),
        _ => unreachable!("checked in parse"),
    };
    let header = dump_header(&o);
    let (sink, holding_first) = match build_sink(&o, &header) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ambench: {e}");
            return 1;
        }
    };
    let mut report = match run(&spec, source, sink) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ambench: {e}");
            return 1;
        }
    };
    if let Some(first) = holding_first {
        if let Err(e) = flush(&o, &first, &mut report) {
            eprintln!("ambench: {e}");
            return 1;
        }
    }
    println!("{}", json(&report));
    0
}
