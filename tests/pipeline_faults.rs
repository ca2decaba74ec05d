//! Faults on the data path, end to end: a short write while `ambench pipeline` writes the
//! holding disk or a vtape, and a corrupted block in the middle of a pipeline-written
//! vtape dump, restored with our `amrestore`.
//!
//! Short writes are real: ambench runs under `ulimit -f` with SIGXFSZ ignored (an ignored
//! signal stays ignored across exec), so write(2) returns a short count and then EFBIG
//! instead of killing the process. Each short-write case runs on the io_uring path and on
//! the blocking fallback (`AMRS_NO_URING=1`).
//!
//! Corruption: every combination of the route (straight to the vtape, or through the
//! holding disk and flushed), the codec (none, zstd, gzip fast, lz4) and the encryption
//! (none, aes-256-gcm) must be detected by amrestore, with `-p` and without: a non-zero
//! exit, an `ERROR:` line, and the damaged volume file named (`file:DIR: file N`, with
//! `(part P)` for a split dump), or — for a failing external filter, whose message is
//! Amanda's `ERROR: PROGRAM exited with status N` — the `amrestore: N: restoring` line
//! naming file and part just before it. What detects it: the AEAD, the header's
//! SERVER-CRC (holding-disk dumps), the vtape's PART-CRC (every part of a file-backed
//! volume), and the zstd/lz4 frame checksums, which are also tested alone (PART-CRC
//! taken out of the header, as on a tape).

mod common;

use amrs::format::header::{parse_header, DISK_BLOCK_BYTES};
use amrs::pipeline::chunker::{ChunkerSink, ChunkerSpec};
use amrs::pipeline::codec::Codec;
use amrs::pipeline::run::{run, PipelineSpec, ReadSource};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// ambench's run timestamp (the holding run directory and the headers).
const BENCH_DATESTAMP: &str = "20261122000000";
/// The vtape block size ambench uses by default.
const BLOCK: usize = 32 * 1024;
/// `ulimit -f` for the short-write runs, in KiB: well inside the 3 MB dump.
const FSIZE_LIMIT_KIB: u64 = 1024;

/// A key file as amaead reads it: 64 hex characters, mode 0600.
fn make_key(path: &Path) {
    std::fs::write(path, "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210\n").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Uring {
    On,
    Off,
}

/// Runs `ambench pipeline ARGS`, optionally under a file-size limit.
fn ambench(args: &[String], fsize_kib: Option<u64>, uring: Uring) -> Output {
    let exe = env!("CARGO_BIN_EXE_amrs");
    let mut cmd = match fsize_kib {
        Some(kib) => {
            let mut c = Command::new("bash");
            c.arg("-c").arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\"")).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.arg("ambench").arg("pipeline").args(args);
    match uring {
        Uring::Off => cmd.env("AMRS_NO_URING", "1"),
        Uring::On => cmd.env_remove("AMRS_NO_URING"),
    };
    cmd.output().expect("run ambench")
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn text(o: &Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Runs our amrestore with `extra` on `device` in `work`, with the AEAD key file.
fn amrestore(work: &Path, extra: &[&str], device: &str, key: &Path) -> Output {
    std::fs::create_dir_all(work).unwrap();
    common::tool("amrestore")
        .args(extra)
        .arg(device)
        .env("AMAEAD_KEY_FILE", key)
        .current_dir(work)
        .output()
        .expect("run amrestore")
}

/// The vtape file whose name starts with the 5-digit number `n`.
fn vtape_file(dir: &Path, n: u32) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{n:05}.")))
        .unwrap_or_else(|| panic!("no file {n} in {}", dir.display()))
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// Short writes

/// A dump already in the holding disk before the failing run: written by the chunker
/// into another run directory. Returns its chunk files and their bytes.
fn existing_holding_dump(holding: &Path, source: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let h = amrs::format::header::DumpFile::new_file("20261121000000", "earlier", "/older/disk", 0, "GNUTAR");
    let spec = ChunkerSpec::new(holding, "20261121000000", h, 1 << 20);
    let (sink, handle) = ChunkerSink::new(spec).unwrap();
    let input = ReadSource(std::fs::File::open(source).unwrap());
    run(&PipelineSpec::new(Codec::None, None, 2), Box::new(input), Box::new(sink)).unwrap();
    let outcome = handle.outcome().unwrap();
    assert!(outcome.complete && outcome.chunks.len() >= 3, "{outcome:?}");
    outcome.chunks.iter().map(|p| (p.clone(), std::fs::read(p).unwrap())).collect()
}

fn short_write_into_the_holding_disk(uring: Uring) {
    let root = common::scratch(&format!("pipeline-faults-holding-short-{uring:?}"));
    let source_path = root.join("source.bin");
    let source = common::mixed_source(&source_path, 0x9e37_79b9_7f4a_7c15, 300, 40_000);
    let holding = root.join("holding");
    let earlier = existing_holding_dump(&holding, &source_path);

    let vt = root.join("vt");
    let out = ambench(
        &args(&[
            "--input",
            &source_path.display().to_string(),
            "--compress",
            "none",
            "--encrypt",
            "none",
            "--holding",
            &holding.display().to_string(),
            "--device",
            &format!("file:{}", vt.display()),
        ]),
        Some(FSIZE_LIMIT_KIB),
        uring,
    );
    assert!(!out.status.success(), "ambench succeeded past the file-size limit: {}", text(&out));
    let chunk0 = holding.join(BENCH_DATESTAMP).join("ambench._synthetic.0");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&chunk0.display().to_string()),
        "the error names the chunk being written: {}",
        text(&out)
    );
    assert!(out.stdout.is_empty(), "no result line for a failed run: {}", text(&out));

    // No complete dump of the failed run: its chunks are gone, still `.tmp`, or PARTIAL.
    let run_dir = holding.join(BENCH_DATESTAMP);
    if run_dir.exists() {
        for f in files_in(&run_dir) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                continue;
            }
            let bytes = std::fs::read(&f).unwrap();
            let h = parse_header(&bytes[..DISK_BLOCK_BYTES.min(bytes.len())]).unwrap();
            assert!(h.is_partial, "{} is left as a complete holding file", f.display());
        }
    }
    // Nothing reached the volume.
    if vt.exists() {
        assert!(
            files_in(&vt).iter().all(|f| !f.file_name().unwrap().to_string_lossy().starts_with("00001.")),
            "a dump file was written to the vtape: {:?}",
            files_in(&vt)
        );
    }

    // The earlier dump is untouched and restores byte for byte.
    for (path, bytes) in &earlier {
        assert!(std::fs::read(path).unwrap() == *bytes, "{} changed", path.display());
    }
    let work = root.join("restore-earlier");
    let r = amrestore(&work, &["-p"], &earlier[0].0.display().to_string(), &root.join("no-key"));
    assert!(r.status.success(), "restoring the earlier holding dump: {}", text(&r));
    assert!(r.stdout == source, "the earlier holding dump does not restore byte for byte");
}

fn short_write_onto_a_vtape(uring: Uring, encrypt: bool) {
    let root = common::scratch(&format!("pipeline-faults-vtape-short-{uring:?}-{encrypt}"));
    let source_path = root.join("source.bin");
    let source = common::mixed_source(&source_path, 0x9e37_79b9_7f4a_7c15, 300, 40_000);
    let key = root.join("key");
    make_key(&key);
    let vt = root.join("vt");
    let device = format!("file:{}", vt.display());
    let (compress, enc) = if encrypt { ("zstd", "aes-256-gcm") } else { ("none", "none") };
    let out = ambench(
        &args(&[
            "--input",
            &source_path.display().to_string(),
            "--compress",
            compress,
            "--encrypt",
            enc,
            "--key-file",
            &key.display().to_string(),
            "--holding",
            "none",
            "--device",
            &device,
        ]),
        Some(FSIZE_LIMIT_KIB),
        uring,
    );
    assert!(!out.status.success(), "ambench succeeded past the file-size limit: {}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{device}: volume AMBENCH-001: file 1")),
        "names the volume file: {}",
        text(&out)
    );

    // The device cuts the file back to its header and whole blocks (Amanda's taper
    // leaves such a part on the volume and logs it PARTPARTIAL); the label is intact.
    let label = std::fs::read(vtape_file(&vt, 0)).unwrap();
    assert_eq!(label.len(), DISK_BLOCK_BYTES);
    assert!(label.starts_with(b"AMANDA: TAPESTART DATE 20261122000000 TAPE AMBENCH-001"));
    let cut = std::fs::metadata(vtape_file(&vt, 1)).unwrap().len();
    assert!(cut >= DISK_BLOCK_BYTES as u64, "file 1 lost its header ({cut} bytes)");
    assert_eq!((cut - DISK_BLOCK_BYTES as u64) % BLOCK as u64, 0, "file 1 ends inside a block ({cut} bytes)");
    assert!(cut <= FSIZE_LIMIT_KIB * 1024, "file 1 is larger than the limit allows ({cut} bytes)");

    for extra in [&["-p"][..], &[][..]] {
        let work = root.join(format!("restore{}", extra.len()));
        let r = amrestore(&work, extra, &device, &key);
        let rerr = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(rerr.contains("Restoring from tape AMBENCH-001"), "the volume stays readable: {}", text(&r));
        let restored = if extra.is_empty() {
            files_in(&work).first().map(|f| std::fs::read(f).unwrap()).unwrap_or_default()
        } else {
            r.stdout.clone()
        };
        // Never the whole dump: the data past the cut is not on the volume.
        assert!(restored != source, "amrestore {extra:?} gave back the whole dump from a file cut short");
        if encrypt {
            // The AEAD stream knows its end: a cut stream fails loudly, naming the file.
            assert!(!r.status.success(), "amrestore {extra:?} accepted an encrypted dump cut short: {rerr}");
            assert!(rerr.contains(&format!("ERROR: {device}: file 1 (part 1): ")), "{rerr}");
        } else {
            // Without a codec or AEAD nothing on the volume says the part is short (the
            // catalog does, as in Amanda): what comes back must be the source's start.
            assert!(
                !restored.is_empty() && source.starts_with(&restored),
                "amrestore {extra:?} did not give back a prefix of the source: {rerr}"
            );
        }
    }
}

#[test]
fn short_write_into_the_holding_disk_uring() {
    short_write_into_the_holding_disk(Uring::On);
}

#[test]
fn short_write_into_the_holding_disk_blocking() {
    short_write_into_the_holding_disk(Uring::Off);
}

#[test]
fn short_write_onto_a_vtape_uring() {
    short_write_onto_a_vtape(Uring::On, false);
}

#[test]
fn short_write_onto_a_vtape_blocking() {
    short_write_onto_a_vtape(Uring::Off, false);
}

#[test]
fn short_write_of_an_encrypted_dump_onto_a_vtape_uring() {
    short_write_onto_a_vtape(Uring::On, true);
}

#[test]
fn short_write_of_an_encrypted_dump_onto_a_vtape_blocking() {
    short_write_onto_a_vtape(Uring::Off, true);
}

// ---------------------------------------------------------------------------------------
// Corrupted blocks

/// Flips 64 bytes in the middle of the data block at the middle of `file` (after its
/// 32 KiB header).
fn corrupt_middle_block(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let blocks = (bytes.len() - DISK_BLOCK_BYTES) / BLOCK;
    assert!(blocks >= 3, "{} has only {blocks} data blocks", file.display());
    let at = DISK_BLOCK_BYTES + blocks / 2 * BLOCK + BLOCK / 2;
    for b in &mut bytes[at..at + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(file, bytes).unwrap();
}

/// Checks one amrestore run on a damaged volume; returns why it is not acceptable.
fn judge(r: &Output, device: &str, file: u32, part: u32, source: &[u8], restored: &[u8]) -> Option<String> {
    let err = String::from_utf8_lossy(&r.stderr);
    let located = err.contains(&format!("ERROR: {device}: file {file} (part {part}): "));
    // Amanda's own message for a failing filter, after the line naming file and part.
    let restoring = format!("amrestore: {file}: restoring split dumpfile: ");
    let filter_named = err
        .lines()
        .skip_while(|l| !(l.starts_with(&restoring) && l.contains(&format!(" part {part}/"))))
        .any(|l| l.starts_with("ERROR: ") && l.contains(" exited with status "));
    if r.status.success() {
        let same =
            if restored == source { "the restored data equals the source!" } else { "the data differs" };
        return Some(format!("exit 0, not detected ({same}); stderr: {err}"));
    }
    if !located && !filter_named {
        return Some(format!("fails but does not name {device} file {file} part {part}: {err}"));
    }
    None
}

/// Takes the `PART-CRC=` line out of file `file`'s header, as on a volume whose device
/// cannot rewrite headers (tape): what is left to detect damage is the data's own
/// checksums.
fn remove_part_crc(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let mut h = parse_header(&bytes[..DISK_BLOCK_BYTES]).unwrap();
    assert!(h.part_crc.is_some(), "{} has no PART-CRC", file.display());
    h.part_crc = None;
    h.block_size_bytes = DISK_BLOCK_BYTES;
    let block = amrs::format::header::build_header(&h, DISK_BLOCK_BYTES).unwrap();
    bytes[..DISK_BLOCK_BYTES].copy_from_slice(&block);
    std::fs::write(file, bytes).unwrap();
}

fn corrupted_block(holding: bool, compress: &str, encrypt: bool) {
    corrupted_block_with(holding, compress, encrypt, true);
}

fn corrupted_block_with(holding: bool, compress: &str, encrypt: bool, part_crc: bool) {
    let name = format!(
        "pipeline-faults-corrupt-{}-{}-{}{}",
        if holding { "holding" } else { "direct" },
        compress.replace(':', "-"),
        if encrypt { "aead" } else { "plain" },
        if part_crc { "" } else { "-no-part-crc" }
    );
    let root = common::scratch(&name);
    let source_path = root.join("source.bin");
    let source = common::mixed_source(&source_path, 0x9e37_79b9_7f4a_7c15, 300, 40_000);
    let key = root.join("key");
    make_key(&key);
    let vt = root.join("vt");
    let device = format!("file:{}", vt.display());
    let holding_arg = if holding { root.join("holding").display().to_string() } else { "none".into() };
    let out = ambench(
        &args(&[
            "--input",
            &source_path.display().to_string(),
            "--compress",
            compress,
            "--encrypt",
            if encrypt { "aes-256-gcm" } else { "none" },
            "--key-file",
            &key.display().to_string(),
            "--holding",
            &holding_arg,
            "--device",
            &device,
        ]),
        None,
        Uring::On,
    );
    assert!(out.status.success(), "ambench: {}", text(&out));

    // Undamaged, the volume restores byte for byte (so a failure below is the damage).
    let clean = amrestore(&root.join("clean"), &["-p"], &device, &key);
    assert!(clean.status.success() && clean.stdout == source, "clean restore: {}", text(&clean));

    if !part_crc {
        remove_part_crc(&vtape_file(&vt, 1));
    }
    corrupt_middle_block(&vtape_file(&vt, 1));
    let mut problems = Vec::new();
    for extra in [&["-p"][..], &[][..]] {
        let work = root.join(format!("restore{}", extra.len()));
        let r = amrestore(&work, extra, &device, &key);
        let restored = if extra.is_empty() {
            files_in(&work).first().map(|f| std::fs::read(f).unwrap()).unwrap_or_default()
        } else {
            r.stdout.clone()
        };
        if let Some(p) = judge(&r, &device, 1, 1, &source, &restored) {
            problems.push(format!("amrestore {extra:?}: {p}"));
        }
    }
    assert!(problems.is_empty(), "{name}: a corrupted block is not reported:\n{}", problems.join("\n"));
}

macro_rules! corruption_cases {
    ($($test:ident: $holding:expr, $compress:expr, $encrypt:expr;)*) => {
        $(
            #[test]
            fn $test() {
                corrupted_block($holding, $compress, $encrypt);
            }
        )*
    };
}

corruption_cases! {
    corrupt_direct_none_plain: false, "none", false;
    corrupt_direct_zstd_plain: false, "zstd", false;
    corrupt_direct_gzip_plain: false, "gzip:1", false;
    corrupt_direct_lz4_plain: false, "lz4", false;
    corrupt_direct_none_aead: false, "none", true;
    corrupt_direct_zstd_aead: false, "zstd", true;
    corrupt_direct_gzip_aead: false, "gzip:1", true;
    corrupt_direct_lz4_aead: false, "lz4", true;
    corrupt_holding_none_plain: true, "none", false;
    corrupt_holding_zstd_plain: true, "zstd", false;
    corrupt_holding_gzip_plain: true, "gzip:1", false;
    corrupt_holding_lz4_plain: true, "lz4", false;
    corrupt_holding_none_aead: true, "none", true;
    corrupt_holding_zstd_aead: true, "zstd", true;
    corrupt_holding_gzip_aead: true, "gzip:1", true;
    corrupt_holding_lz4_aead: true, "lz4", true;
}

/// zstd and lz4 frames carry their own checksums, which `zstd -d` and `lz4 -d` verify: a
/// damaged compressed dump is detected without the PART-CRC too (Amanda's message, after
/// the line naming file and part).
#[test]
fn corrupt_direct_zstd_plain_without_part_crc() {
    corrupted_block_with(false, "zstd", false, false);
}

#[test]
fn corrupt_direct_lz4_plain_without_part_crc() {
    corrupted_block_with(false, "lz4", false, false);
}

/// A dump split into parts: `ambench` has no part size (it always writes one part), so the
/// holding dump is flushed through the taper library with 1 MiB parts, as amflush would
/// with `part_size`. A block of part 2 is damaged; restoring the volume must fail naming
/// file 2, part 2.
#[test]
fn corrupted_block_in_a_split_dump_names_the_part() {
    use amrs::device::{open_device, AccessMode, DeviceProperties};
    use amrs::pipeline::taper::{delete_holding_dump, flush_holding_to_taper, TaperSettings};

    let root = common::scratch("pipeline-faults-corrupt-split");
    let source_path = root.join("source.bin");
    let source = common::mixed_source(&source_path, 0x9e37_79b9_7f4a_7c15, 300, 40_000);
    let h = amrs::format::header::DumpFile::new_file(BENCH_DATESTAMP, "ambench", "/split", 0, "GNUTAR");
    let spec = ChunkerSpec::new(&root.join("holding"), BENCH_DATESTAMP, h, 1 << 30);
    let first = spec.first_chunk_path();
    let (sink, handle) = ChunkerSink::new(spec).unwrap();
    let input = ReadSource(std::fs::File::open(&source_path).unwrap());
    run(&PipelineSpec::new(Codec::None, None, 2), Box::new(input), Box::new(sink)).unwrap();
    assert!(handle.outcome().unwrap().complete);

    let vt = root.join("vt");
    std::fs::create_dir_all(&vt).unwrap();
    let device = format!("file:{}", vt.display());
    let mut dev = open_device(&device, &DeviceProperties::new()).unwrap();
    dev.start(AccessMode::Write { label: "SPLIT-001".into(), datestamp: BENCH_DATESTAMP.into() }).unwrap();
    let mut settings = TaperSettings::new(1);
    settings.part_size_bytes = 1 << 20;
    let out =
        flush_holding_to_taper(&first, &settings, Some(dev), Box::new(|| Err("one volume".to_string())))
            .unwrap_or_else(|e| panic!("flush: {e}"));
    assert!(out.taper.complete && out.taper.parts.len() == 3, "{:?}", out.taper);
    out.taper.device.unwrap().finish().unwrap();
    delete_holding_dump(&first).unwrap();

    let key = root.join("no-key");
    let clean = amrestore(&root.join("clean"), &[], &device, &key);
    assert!(clean.status.success(), "clean restore: {}", text(&clean));
    let joined: Vec<u8> =
        files_in(&root.join("clean")).iter().flat_map(|f| std::fs::read(f).unwrap()).collect();
    assert!(joined == source, "the clean parts do not join to the source");

    corrupt_middle_block(&vtape_file(&vt, 2));
    let work = root.join("restore");
    let r = amrestore(&work, &[], &device, &key);
    let restored: Vec<u8> = files_in(&work).iter().flat_map(|f| std::fs::read(f).unwrap()).collect();
    if let Some(p) = judge(&r, &device, 2, 2, &source, &restored) {
        panic!("a corrupted block in part 2 is not reported: {p}");
    }
}
