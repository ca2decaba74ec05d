//! `ambench`: measures the data path and prints one JSON line.
//!
//! `ambench pipeline [--input FILE | --synthetic BYTES] [--seed N]
//!   [--compress none|fast|best|gzip|zstd|lz4[:LEVEL]|custom:PATH]
//!   [--encrypt none|aes-256-gcm|amaead|custom:PATH] [--decrypt-option OPT] [--key-file FILE]
//!   [--config CONFIG --dumptype NAME]
//!   --holding DIR|none [--flush-after] --device file:DIR|null: [--block-size N]
//!   [--workers N] [--frame-size N] [--verbose]`
//!
//! With a holding directory and a volume, the taper follows the dump on the holding disk
//! and tapes it while it is written ([`crate::pipeline::follow`]); `--flush-after` instead
//! dumps to the holding disk and then flushes it, as `amflush` would (two passes). Either
//! way the holding dump is deleted once it is on the volume; the time includes the dump
//! and the flush up to the volume being durable, not the deletion (clean-up that, in a
//! run, overlaps the next dumps).
//!
//! `custom:PATH` runs an external program as a filter (`PATH` with no arguments, as Amanda
//! runs custom compression and encryption programs); the header names it as the server's
//! custom compression program (restored with `PATH -d`) or encryption program (restored
//! with `PATH OPT`, `--decrypt-option`, default `-d`). `--config CONFIG --dumptype NAME`
//! instead takes compression and encryption from a dumptype of an `amanda.conf`, exactly
//! as a dump of that dumptype would ([`crate::pipeline::resolve`]: `compress`,
//! `*_custom_compress` with its bare-codec-name rule, `encrypt`, `*_encrypt`,
//! `*_decrypt_option`, `encrypt_key_file`).
//!
//! Without a key file the built-in encryption uses a throw-away key. The JSON line has
//! `bytes_in`, `bytes_out`, `seconds`, `mb_per_s` (input bytes / wall time, MB = 10^6
//! bytes), `peak_rss_bytes` (VmHWM of this process) and, per stage (an external program is
//! a stage of its own, `compress-filter` or `encrypt-filter`, whose `busy_s` is the
//! program's CPU time), `busy_s`, `blocked_in_s`, `blocked_out_s`. `--verbose` prints the
//! buffer budget first (to stderr). A failed dump exits 1 with the reason on stderr
//! (`ambench: reading the source: compression program /x exited with status 3: …`) and
//! leaves no dump presented as complete.

use crate::device::file_writer::{StageBuffers, STAGE_BUFFERS};
use crate::device::{open_device, AccessMode, Device, DeviceProperties};
use crate::format::aead::Key;
use crate::format::header::DumpFile;
use crate::pipeline::chunker::{ChunkerSink, ChunkerSpec};
use crate::pipeline::codec::Codec;
use crate::pipeline::filter::FilterProgram;
use crate::pipeline::follow::{flush_following, HoldingProgress, FOLLOW_READ_BYTES, FOLLOW_READ_DEPTH};
use crate::pipeline::resolve::{amaead_path, resolve_dumptype, HeaderFields, Resolved};
use crate::pipeline::run::{run, MemorySink, PipelineSpec, Report, Sink, Source, StageStats};
use crate::pipeline::synthetic::Synthetic;
use crate::pipeline::taper::{
    delete_holding_dump, flush_holding_to_taper, FlushOutcome, TaperSettings, TaperSink,
};
use crate::pipeline::uring_source::UringSource;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The run timestamp written into the volume label and the dump headers.
const BENCH_DATESTAMP: &str = "20261122000000";
/// Holding chunks of 1 GiB, Amanda's default `chunksize`.
const CHUNK_BYTES: u64 = 1 << 30;

const USAGE: &str = "usage: ambench pipeline [--input FILE | --synthetic BYTES] [--seed N] \
[--compress none|fast|best|gzip|zstd|lz4[:LEVEL]|custom:PATH] \
[--encrypt none|aes-256-gcm|amaead|custom:PATH] [--decrypt-option OPT] [--key-file FILE] \
[--config CONFIG --dumptype NAME] \
--holding DIR|none [--flush-after] --device file:DIR|null: [--block-size N] [--workers N] [--frame-size N] \
[--verbose]";

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
    compress_program: Option<FilterProgram>,
    encrypt: bool,
    encrypt_program: Option<FilterProgram>,
    decrypt_option: String,
    key_file: Option<String>,
    config: Option<String>,
    dumptype: Option<String>,
    holding: Option<String>,
    device: String,
    block_size: usize,
    workers: usize,
    frame_size: usize,
    verbose: bool,
    flush_after: bool,
}

fn parse(argv: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        input: None,
        synthetic: None,
        seed: 1,
        codec: Codec::None,
        compress_program: None,
        encrypt: false,
        encrypt_program: None,
        decrypt_option: "-d".into(),
        key_file: None,
        config: None,
        dumptype: None,
        holding: None,
        device: "null:".into(),
        block_size: 32 * 1024,
        workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        frame_size: crate::pipeline::run::DEFAULT_FRAME_BYTES,
        verbose: false,
        flush_after: false,
    };
    // Whether --compress/--encrypt/--key-file were given (they exclude --dumptype).
    let mut explicit = false;
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
            "--compress" => {
                explicit = true;
                let v = val()?;
                (o.codec, o.compress_program) = match v.strip_prefix("custom:") {
                    Some(path) => (Codec::None, Some(custom_program(path, "--compress")?)),
                    None => (Codec::parse(&v)?, None),
                };
            }
            "--encrypt" => {
                explicit = true;
                let v = val()?;
                (o.encrypt, o.encrypt_program) = match v.as_str() {
                    "none" => (false, None),
                    "aes-256-gcm" | "amaead" => (true, None),
                    other => match other.strip_prefix("custom:") {
                        Some(path) => (false, Some(custom_program(path, "--encrypt")?)),
                        None => {
                            return Err(format!(
                                "unknown encryption \"{other}\" (none, aes-256-gcm, amaead, custom:PATH)"
                            ))
                        }
                    },
                }
            }
            "--decrypt-option" => o.decrypt_option = val()?,
            "--key-file" => {
                explicit = true;
                o.key_file = Some(val()?);
            }
            "--config" => o.config = Some(val()?),
            "--dumptype" => o.dumptype = Some(val()?),
            "--holding" => {
                let v = val()?;
                o.holding = (v != "none").then_some(v);
            }
            "--device" => o.device = val()?,
            "--block-size" => o.block_size = parse_bytes(&val()?)? as usize,
            "--workers" => o.workers = val()?.parse().map_err(|_| "bad --workers".to_string())?,
            "--frame-size" => o.frame_size = parse_bytes(&val()?)? as usize,
            "--verbose" => o.verbose = true,
            "--flush-after" => o.flush_after = true,
            _ => return Err(format!("unknown argument \"{a}\"\n{USAGE}")),
        }
    }
    if o.input.is_some() == o.synthetic.is_some() {
        return Err(format!("give exactly one of --input and --synthetic\n{USAGE}"));
    }
    if o.config.is_some() != o.dumptype.is_some() {
        return Err(format!("--config and --dumptype go together\n{USAGE}"));
    }
    if o.dumptype.is_some() && explicit {
        return Err("--dumptype takes compression, encryption and key from the configuration: \
                    do not give --compress, --encrypt or --key-file with it"
            .into());
    }
    Ok(o)
}

/// `custom:PATH`: the program run with no arguments, as Amanda runs custom programs.
fn custom_program(path: &str, option: &str) -> Result<FilterProgram, String> {
    if path.is_empty() {
        return Err(format!("{option} custom: needs a program path (custom:PATH)"));
    }
    Ok(FilterProgram::new(path))
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
/// runs the programs named here). With `--dumptype`, `resolved` holds the fields the
/// configuration decides.
fn dump_header(o: &Opts, resolved: Option<&HeaderFields>) -> DumpFile {
    let mut h = DumpFile::new_file(BENCH_DATESTAMP, "ambench", "/synthetic", 0, "GNUTAR");
    if let Some(fields) = resolved {
        fields.apply(&mut h);
        return h;
    }
    match (o.codec, &o.compress_program) {
        (_, Some(p)) => {
            h.compressed = true;
            h.compression_suffix = "cust".into();
            h.server_compress_program = p.path.display().to_string();
        }
        (Codec::None, None) => {}
        (Codec::Gzip { .. }, None) => {
            h.compressed = true;
            h.compression_suffix = ".gz".into();
        }
        (c, None) => {
            let prog = c.program().unwrap_or_default().to_string();
            h.compressed = true;
            h.compression_suffix = "cust".into();
            h.server_compress_program = prog;
        }
    }
    if let Some(p) = &o.encrypt_program {
        h.encrypted = true;
        h.encryption_suffix = "enc".into();
        h.server_encrypt_program = p.path.display().to_string();
        h.server_decrypt_option = o.decrypt_option.clone();
    } else if o.encrypt {
        h.encrypted = true;
        h.encryption_suffix = "enc".into();
        h.server_encrypt_program = amaead_path().display().to_string();
        h.server_decrypt_option = "-d".into();
    }
    h
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

/// The pipeline's sink: the holding disk (with the chunker's progress when a taper is to
/// follow it), the volume directly, or nothing.
type BuiltSink = (Box<dyn Sink>, Option<PathBuf>, Option<Arc<HoldingProgress>>);

fn build_sink(o: &Opts, header: &DumpFile) -> Result<BuiltSink, String> {
    if let Some(dir) = &o.holding {
        let spec = ChunkerSpec::new(Path::new(dir), BENCH_DATESTAMP, header.clone(), CHUNK_BYTES);
        let first = spec.first_chunk_path();
        let (mut sink, _handle) = ChunkerSink::new(spec).map_err(|e| e.to_string())?;
        let progress = (o.device != "null:" && !o.flush_after).then(|| sink.follow());
        return Ok((Box::new(sink), Some(first), progress));
    }
    if o.device == "null:" {
        return Ok((Box::new(MemorySink::new(false)), None, None));
    }
    let dev = open_volume(o)?;
    let (sink, _handle) = TaperSink::new(header, TaperSettings::new(1), Some(dev), no_next_volume())
        .map_err(|e| e.to_string())?;
    Ok((Box::new(sink), None, None))
}

/// The taper's side of a flush (after the dump, or following it): the volume finished,
/// the flush as a stage of the report.
fn flushed(out: FlushOutcome, started: Instant, report: &mut Report) -> Result<(), String> {
    if let Some(mut d) = out.taper.device {
        d.finish().map_err(|e| e.to_string())?;
    }
    report.stages.push(StageStats {
        name: "flush".into(),
        bytes_in: out.taper.data_bytes,
        bytes_out: out.taper.data_bytes,
        busy: started.elapsed(),
        ..StageStats::default()
    });
    Ok(())
}

/// The buffers the sinks own besides the pipeline's pool (allocated once per run): the
/// queued writers' staging buffers, the follower's reads, the taper's staging block.
fn sink_buffers(o: &Opts) -> String {
    let stage = StageBuffers::stage_bytes_for(o.block_size);
    let writer = format!("{STAGE_BUFFERS} x {stage} bytes");
    let vtape = o.device.starts_with("file:");
    let mut terms = Vec::new();
    if o.holding.is_some() {
        terms.push(format!("holding writes in flight {writer}"));
    }
    if vtape {
        terms.push(format!("vtape writes in flight {writer}"));
        // A vtape does not ask for streaming: no device_output_buffer_size pre-buffer.
        terms.push(format!("taper staging block {} bytes", o.block_size));
    }
    if o.holding.is_some() && vtape && !o.flush_after {
        terms.push(format!("follower reads {} x {FOLLOW_READ_BYTES} bytes", FOLLOW_READ_DEPTH + 2));
    }
    if terms.is_empty() {
        "none".into()
    } else {
        terms.join(", ")
    }
}

/// Flushes the holding dump to the volume (as amflush), timing it as one more stage.
/// The holding dump is left for the caller to delete.
fn flush(o: &Opts, first: &Path, report: &mut Report) -> Result<(), String> {
    let t = Instant::now();
    if o.device != "null:" {
        let dev = open_volume(o)?;
        let out = flush_holding_to_taper(first, &TaperSettings::new(1), Some(dev), no_next_volume())
            .map_err(|e| e.error.to_string())?;
        flushed(out, t, report)?;
    }
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

/// Reads `config` and resolves the compression and encryption of `dumptype`.
fn from_dumptype(config: &str, dumptype: &str) -> Result<Resolved, String> {
    let cfg = crate::config::load_server(&crate::config::ConfigSource::resolve(config), &[]);
    if cfg.level >= crate::config::Level::Errors {
        return Err(format!("errors processing config file\n{}", cfg.diagnostics.join("\n")));
    }
    resolve_dumptype(&cfg, dumptype)
}

pub fn main(argv: &[String]) -> i32 {
    if argv.first().map(String::as_str) == Some("corpus") {
        return corpus(argv);
    }
    let mut o = match parse(argv) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ambench: {e}");
            return 2;
        }
    };
    let (key, resolved) = match (&o.config, &o.dumptype) {
        (Some(config), Some(dumptype)) => match from_dumptype(config, dumptype) {
            Ok(r) => {
                o.codec = r.codec;
                o.compress_program = r.compress_program;
                o.encrypt_program = r.encrypt_program;
                (r.key, Some(r.header))
            }
            Err(e) => {
                eprintln!("ambench: {e}");
                return 1;
            }
        },
        _ if o.encrypt => {
            let k = match &o.key_file {
                Some(f) => Key::load(std::path::Path::new(f)),
                None => Key::generate(),
            };
            match k {
                Ok(k) => (Some(k), None),
                Err(e) => {
                    eprintln!("ambench: {e}");
                    return 1;
                }
            }
        }
        _ => (None, None),
    };
    let mut spec = PipelineSpec::new(o.codec, key, o.workers);
    spec.frame_bytes = o.frame_size;
    spec.compress_program = o.compress_program.clone();
    spec.encrypt_program = o.encrypt_program.clone();
    if o.verbose {
        eprintln!("ambench: budget {}", spec.budget((0, 0)).describe());
        eprintln!("ambench: sink buffers {}", sink_buffers(&o));
        match crate::pipeline::uring::ring::Ring::<crate::pipeline::uring::file::OwnedBuf>::new(1) {
            Ok(mut ring) => {
                eprintln!("ambench: I/O engine {:?}", ring.engine());
                for notice in ring.take_notices() {
                    eprintln!("ambench: {notice}");
                }
            }
            Err(e) => eprintln!("ambench: no I/O queue: {e}"),
        }
    }
    let source: Box<dyn Source> = match (&o.input, o.synthetic) {
        // Files through io_uring (O_DIRECT reads ahead); `-` is standard input, read as a
        // stream the same way.
        (Some(f), _) => {
            let opened =
                if f == "-" {
                    std::io::stdin().as_fd().try_clone_to_owned().map_err(|e| e.to_string()).and_then(|fd| {
                        UringSource::from_stream(fd, "standard input").map_err(|e| e.to_string())
                    })
                } else {
                    UringSource::open(Path::new(f)).map_err(|e| e.to_string())
                };
            match opened {
                Ok(src) => Box::new(src),
                Err(e) => {
                    eprintln!("ambench: {e}");
                    return 1;
                }
            }
        }
        (None, Some(n)) => Box::new(Synthetic::new(n, o.seed)),
        _ => unreachable!("checked in parse"),
    };
    let header = dump_header(&o, resolved.as_ref());
    let (sink, holding_first, progress) = match build_sink(&o, &header) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ambench: {e}");
            return 1;
        }
    };
    let follower = match progress.map(|p| open_volume(&o).map(|dev| (p, dev))).transpose() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ambench: {e}");
            return 1;
        }
    };
    // Labelling the volumes is not part of the measurement (as before a dump).
    let started = Instant::now();
    let (dumped, followed) = std::thread::scope(|s| {
        let follower = follower.map(|(progress, dev)| {
            let header = &header;
            s.spawn(move || {
                flush_following(progress, header, &TaperSettings::new(1), Some(dev), no_next_volume())
                    .map_err(|e| e.error.to_string())
            })
        });
        let dumped = run(&spec, source, sink);
        let followed = follower.map(|h| h.join().unwrap_or_else(|_| Err("the taper panicked".into())));
        (dumped, followed)
    });
    let mut report = match dumped {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ambench: {e}");
            return 1;
        }
    };
    let result = match (followed, &holding_first) {
        (Some(followed), Some(_)) => followed.and_then(|out| flushed(out, started, &mut report)),
        (None, Some(first)) => flush(&o, first, &mut report),
        _ => Ok(()),
    };
    if let Err(e) = result {
        eprintln!("ambench: {e}");
        return 1;
    }
    // The dump is durable on the volume: the time stops here. Deleting the holding copy
    // is the driver's clean-up, which in a run overlaps the next dumps (an ext4 unlink
    // of a large file alone takes tens of milliseconds).
    report.seconds = started.elapsed().as_secs_f64();
    if let Some(first) = holding_first {
        if let Err(e) = delete_holding_dump(&first) {
            eprintln!("ambench: {e}");
            return 1;
        }
    }
    println!("{}", json(&report));
    0
}
