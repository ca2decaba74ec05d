//! End to end through the data path into the holding disk and onto vtapes, checked by
//! restoring with our amrestore and with Amanda 3.5.1's own (run as user `backup`).
//!
//! A real file is read by the pipeline (gzip in parallel frames) into the chunker or the
//! taper; the holding dump is then flushed to vtapes. Every restore must give back the
//! source file byte for byte: holding files directly (amrestore uncompresses them), split
//! parts raw (`-r`, header stripped), concatenated in part order across both volumes, then
//! uncompressed — compressed parts are pieces of one gzip stream, as in Amanda.

mod common;

use amrs::device::{open_device, AccessMode, Device, DeviceProperties};
use amrs::format::header::{parse_header, DumpFile, FileType, DISK_BLOCK_BYTES};
use amrs::pipeline::chunker::{ChunkerSink, ChunkerSpec, CountingSource};
use amrs::pipeline::codec::Codec;
use amrs::pipeline::run::{run, PipelineSpec, ReadSource};
use amrs::pipeline::taper::{
    delete_holding_dump, flush_holding_to_taper, NextVolume, PartCache, PartStatus, TaperSettings, TaperSink,
};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

const DS: &str = "20240506070809";
const AMANDA_AMRESTORE: &str = "/usr/sbin/amrestore";
/// Small enough that the compressed dump needs two of them.
const VOLUME_BYTES: u64 = 2 << 20;

fn header() -> DumpFile {
    let mut h = DumpFile::new_file(DS, "localhost", "/amrs/taper", 0, "GNUTAR");
    h.compressed = true;
    h.compression_suffix = ".gz".into();
    h
}

fn pipeline() -> PipelineSpec {
    let mut spec = PipelineSpec::new(Codec::Gzip { level: 1 }, None, 2);
    spec.frame_bytes = 256 * 1024;
    spec
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out).expect("a valid gzip stream");
    out
}

/// Lets user backup read and write everything under `dir` (Amanda's tools run as backup;
/// the chunker creates its files 0600 like Amanda's).
fn give_to_backup(dir: &Path) {
    let status = Command::new("chown").args(["-R", "backup:backup"]).arg(dir).status().expect("run chown");
    assert!(status.success(), "chown -R backup {} failed (the test runs as root)", dir.display());
}

fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect()
}

/// Runs our amrestore with `args` in a fresh directory; returns the files it made.
fn our_amrestore(out: &Path, args: &[&str]) -> BTreeMap<String, Vec<u8>> {
    std::fs::create_dir_all(out).unwrap();
    let o = common::tool("amrestore").args(args).current_dir(out).output().unwrap();
    assert!(
        o.status.success(),
        "our amrestore {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    files_in(out)
}

/// Runs Amanda 3.5.1's amrestore as user backup with `args` in a fresh directory.
fn amanda_amrestore(out: &Path, args: &[&str]) -> BTreeMap<String, Vec<u8>> {
    assert!(Path::new(AMANDA_AMRESTORE).exists(), "Amanda 3.5.1 is not installed ({AMANDA_AMRESTORE})");
    std::fs::create_dir_all(out).unwrap();
    give_to_backup(out);
    let script = format!("cd '{}' && {AMANDA_AMRESTORE} {}", out.display(), args.join(" "));
    let o = Command::new("su").args(["backup", "-s", "/bin/sh", "-c", &script]).output().unwrap();
    assert!(
        o.status.success(),
        "Amanda's amrestore {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    files_in(out)
}

/// The dump data of raw (`-r`) restores of split parts: header stripped, in part order.
fn join_raw_parts(restored: &[BTreeMap<String, Vec<u8>>], expected_parts: usize) -> Vec<u8> {
    let mut parts = BTreeMap::new();
    for files in restored {
        for (name, bytes) in files {
            let h = parse_header(&bytes[..DISK_BLOCK_BYTES]).unwrap();
            assert_eq!(h.file_type, FileType::SplitFile, "{name}");
            assert!(name.ends_with(&format!(".{:07}.RAW", h.part_number)), "{name}");
            assert!(
                parts.insert(h.part_number, bytes[DISK_BLOCK_BYTES..].to_vec()).is_none(),
                "{name} twice"
            );
        }
    }
    assert_eq!(parts.keys().copied().collect::<Vec<_>>(), (1..=expected_parts as i32).collect::<Vec<_>>());
    parts.into_values().flatten().collect()
}

fn vtape(slot: &Path, label: &str) -> Box<dyn Device> {
    std::fs::create_dir_all(slot).unwrap();
    let props = DeviceProperties::new().with("MAX_VOLUME_USAGE", &VOLUME_BYTES.to_string());
    let mut d = open_device(&format!("file:{}", slot.display()), &props).unwrap();
    d.start(AccessMode::Write { label: label.into(), datestamp: DS.into() }).unwrap();
    d
}

fn second_vtape(slot: PathBuf, label: &'static str) -> NextVolume {
    let mut given = false;
    Box::new(move || {
        if given {
            return Err("the test has two volumes".into());
        }
        given = true;
        Ok(vtape(&slot, label))
    })
}

/// Restores both vtapes raw with both amrestores and checks the concatenated parts
/// uncompress to `source`.
fn check_vtapes(work: &Path, slots: [&Path; 2], parts: usize, source: &[u8]) {
    give_to_backup(work);
    for (who, restore) in [
        ("ours", our_amrestore as fn(&Path, &[&str]) -> BTreeMap<String, Vec<u8>>),
        ("Amanda's", amanda_amrestore),
    ] {
        let restored: Vec<_> = slots
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let device = format!("file:{}", slot.display());
                restore(&work.join(format!("restore-{}-{i}", who.trim_end_matches("'s"))), &["-r", &device])
            })
            .collect();
        assert!(restored.iter().all(|r| !r.is_empty()), "{who}: a volume gave nothing");
        let stream = join_raw_parts(&restored, parts);
        assert!(gunzip(&stream) == source, "{who} amrestore: the parts do not give back the source");
    }
}

#[test]
fn holding_disk_dump_restores_with_both_amrestores_and_flushes_across_two_vtapes() {
    let work = common::scratch("pipeline-taper-holding");
    let source_path = work.join("source.bin");
    let source = common::mixed_source(&source_path, 0x2545_f491_4f6c_dd1d, 200, 60_000);

    // Dump into the holding disk: 512 KiB chunks.
    let counted = Arc::new(AtomicU64::new(0));
    let mut spec = ChunkerSpec::new(&work.join("holding"), DS, header(), 512 * 1024);
    spec.original_bytes = Some(counted.clone());
    let first = spec.first_chunk_path();
    let (sink, handle) = ChunkerSink::new(spec).unwrap();
    let input = CountingSource::new(ReadSource(std::fs::File::open(&source_path).unwrap()), counted);
    let report = run(&pipeline(), Box::new(input), Box::new(sink)).unwrap();
    let held = handle.outcome().unwrap();
    assert!(held.complete, "{held:?}");
    assert_eq!(held.data_bytes, report.bytes_out);
    assert!(held.chunks.len() >= 5, "expected several chunks, got {:?}", held.chunks);
    let h = amrs::holding::read_chunk_header(&first).unwrap();
    assert_eq!(h.original_size_kb, 3_000_000u64.div_ceil(1024));
    assert_eq!(h.server_crc, held.server_crc);

    // Both amrestores read the holding file (and uncompress it).
    give_to_backup(&work);
    let first_arg = first.display().to_string();
    for (who, files) in [
        ("ours", our_amrestore(&work.join("restore-holding-ours"), &[&first_arg])),
        ("Amanda's", amanda_amrestore(&work.join("restore-holding-amanda"), &["--holding", &first_arg])),
    ] {
        assert_eq!(files.len(), 1, "{who}: {:?}", files.keys());
        let (name, bytes) = files.into_iter().next().unwrap();
        assert!(name.starts_with(&format!("localhost._amrs_taper.{DS}.0")), "{who}: {name}");
        assert!(bytes == source, "{who} amrestore --holding: {name} differs from the source");
    }

    // Flush (amflush) to two vtapes in 256 KiB parts.
    let (slot1, slot2) = (work.join("vtapes/slot1"), work.join("vtapes/slot2"));
    let mut settings = TaperSettings::new(2);
    settings.part_size_bytes = 256 * 1024;
    let flushed = flush_holding_to_taper(
        &first,
        &settings,
        Some(vtape(&slot1, "AMRS-TAPER-01")),
        second_vtape(slot2.clone(), "AMRS-TAPER-02"),
    )
    .unwrap();
    let taper = &flushed.taper;
    assert!(taper.complete && taper.volumes_used == 2, "{taper:?}");
    let labels: Vec<&str> = taper.done_parts().map(|p| p.label.as_str()).collect();
    assert!(labels.contains(&"AMRS-TAPER-01") && labels.contains(&"AMRS-TAPER-02"), "{labels:?}");
    assert_eq!(taper.crc, held.server_crc, "the volumes carry exactly the stored stream");
    let parts = taper.done_parts().count();
    assert!(flushed.chunks.iter().all(|c| c.exists()), "nothing is deleted before it is recorded");

    check_vtapes(&work, [&slot1, &slot2], parts, &source);

    // Recorded: now the holding file may go.
    let deleted = delete_holding_dump(&first).unwrap();
    assert_eq!(deleted, flushed.chunks);
    assert!(!first.exists());
}

#[test]
fn direct_dump_to_two_vtapes_restores_with_both_amrestores() {
    let work = common::scratch("pipeline-taper-direct");
    let source_path = work.join("source.bin");
    let source = common::mixed_source(&source_path, 0x2545_f491_4f6c_dd1d, 200, 60_000);
    let (slot1, slot2) = (work.join("vtapes/slot1"), work.join("vtapes/slot2"));
    let mut settings = TaperSettings::new(2);
    settings.part_size_bytes = 300 * 1024;
    settings.part_cache = PartCache::Memory;
    settings.streaming = true;
    settings.device_output_buffer_bytes = 128 * 1024;
    let (sink, handle) = TaperSink::new(
        &header(),
        settings,
        Some(vtape(&slot1, "AMRS-TAPER-11")),
        second_vtape(slot2.clone(), "AMRS-TAPER-12"),
    )
    .unwrap();
    let input = ReadSource(std::fs::File::open(&source_path).unwrap());
    let report = run(&pipeline(), Box::new(input), Box::new(sink)).unwrap();
    let taper = handle.take().unwrap();
    assert!(taper.complete && taper.volumes_used == 2, "{taper:?}");
    assert!(taper.parts.iter().all(|p| p.status == PartStatus::Done));
    assert_eq!(taper.data_bytes, report.bytes_out);
    // Part sizes: 300 KiB rounded up to 32 KiB blocks (320 KiB), except where the first
    // volume's early warning ended a part and at the end.
    let sizes: Vec<u64> = taper.parts.iter().map(|p| p.bytes).collect();
    assert!(
        sizes.iter().all(|s| *s <= 320 * 1024 && s % 32_768 == 0 || Some(s) == sizes.last()),
        "{sizes:?}"
    );
    let numbers: Vec<u32> = taper.parts.iter().map(|p| p.part_number).collect();
    assert_eq!(numbers, (1..=taper.parts.len() as u32).collect::<Vec<_>>());
    check_vtapes(&work, [&slot1, &slot2], taper.parts.len(), &source);
    assert_eq!(
        taper.parts.iter().map(|p| p.bytes).sum::<u64>(),
        report.bytes_out,
        "parts add up to the stream"
    );
}
