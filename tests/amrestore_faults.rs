//! amrestore on damaged volumes: each fault gives a clear message naming the volume and
//! the file number, and a non-zero exit.

mod common;

use amrs::device::{open_device, AccessMode, DeviceProperties};
use amrs::format::crc::Crc32c;
use amrs::format::header::DumpFile;
use std::path::{Path, PathBuf};

const BLOCK: usize = 32768;

/// Writes a labelled vtape in `dir` with three dumps of `sizes` bytes each; returns the
/// data of each dump. Each header carries the SERVER-CRC of its data, as dumps flushed
/// from a holding disk do.
fn make_vtape(dir: &Path, sizes: &[usize]) -> Vec<Vec<u8>> {
    std::fs::create_dir_all(dir).unwrap();
    let name = format!("file:{}", dir.display());
    let mut dev = open_device(&name, &DeviceProperties::new()).unwrap();
    dev.start(AccessMode::Write { label: "FAULT-01".into(), datestamp: "20261122000000".into() }).unwrap();
    let mut all = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..size).map(|j| ((j * 31 + i * 7) % 253) as u8).collect();
        let mut h = DumpFile::new_file("20261122000000", "client", &format!("/disk{i}"), 0, "GNUTAR");
        let mut crc = Crc32c::new();
        crc.update(&data);
        h.server_crc = crc.to_crc();
        dev.start_file(&h).unwrap();
        for block in data.chunks(BLOCK) {
            let _ = dev.write_block(block).unwrap();
        }
        dev.finish_file().unwrap();
        all.push(data);
    }
    dev.finish().unwrap();
    all
}

fn vtape_file(dir: &Path, n: u32) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{n:05}.")))
        .unwrap()
}

fn restore(dir: &Path, work: &Path, extra: &[&str]) -> (i32, String) {
    let dev = format!("file:{}", dir.display());
    let out = common::tool("amrestore").args(extra).arg(&dev).current_dir(work).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn clean_volume_restores_byte_identically() {
    let root = common::scratch("fault-clean");
    let data = make_vtape(&root.join("vt"), &[100_000, 0, 70_000]);
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let (code, err) = restore(&root.join("vt"), &work, &[]);
    assert_eq!(code, 0, "{err}");
    for (i, d) in data.iter().enumerate() {
        // A FILE header reads back as part 1 of 1, so Amanda names it `.0000001` too.
        let f = work.join(format!("client._disk{i}.20261122000000.0.0000001"));
        assert!(std::fs::read(&f).unwrap() == *d, "dump {i} differs");
    }
}

#[test]
fn truncated_header_names_the_file() {
    let root = common::scratch("fault-header");
    make_vtape(&root.join("vt"), &[50_000, 50_000]);
    let f = vtape_file(&root.join("vt"), 2);
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..1000]).unwrap();
    let (code, err) = restore(&root.join("vt"), &root, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("amrestore: 1: restoring"), "{err}");
    assert!(err.contains("file 2") && err.contains("truncated"), "{err}");
    assert!(err.contains(&root.join("vt").display().to_string()), "names the volume: {err}");
}

#[test]
fn header_from_the_future_names_the_file() {
    let root = common::scratch("fault-future");
    make_vtape(&root.join("vt"), &[50_000, 50_000]);
    let f = vtape_file(&root.join("vt"), 2);
    let mut bytes = std::fs::read(&f).unwrap();
    let text = b"AMANDA: HYPERFILE 20991231000000 client /disk1 lev 0 comp N program GNUTAR\n\x0c\n";
    bytes[..BLOCK].fill(0);
    bytes[..text.len()].copy_from_slice(text);
    std::fs::write(&f, &bytes).unwrap();
    let (code, err) = restore(&root.join("vt"), &root, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("file 2"), "{err}");
    assert!(err.to_lowercase().contains("type"), "says what is wrong with the header: {err}");
}

#[test]
fn file_cut_short_mid_block_is_reported() {
    let root = common::scratch("fault-cut");
    make_vtape(&root.join("vt"), &[100_000, 10]);
    let f = vtape_file(&root.join("vt"), 1);
    let bytes = std::fs::read(&f).unwrap();
    // Keep the header and 1.5 blocks of data.
    std::fs::write(&f, &bytes[..BLOCK + BLOCK + BLOCK / 2]).unwrap();
    let (code, err) = restore(&root.join("vt"), &root, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("file 1: cut short: 49152 bytes read"), "{err}");
}

#[test]
fn damaged_block_is_reported() {
    let root = common::scratch("fault-damaged");
    make_vtape(&root.join("vt"), &[100_000]);
    let f = vtape_file(&root.join("vt"), 1);
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[BLOCK + 40_000] ^= 0x40;
    std::fs::write(&f, &bytes).unwrap();
    let (code, err) = restore(&root.join("vt"), &root, &["-f", "1"]);
    assert_eq!(code, 1);
    assert!(err.contains("file 1: data does not match the header's SERVER-CRC"), "{err}");
}

#[test]
fn unlabelled_volume_and_wrong_label() {
    let root = common::scratch("fault-label");
    std::fs::create_dir_all(root.join("empty")).unwrap();
    let (code, err) = restore(&root.join("empty"), &root, &[]);
    assert_eq!(code, 1);
    assert!(err.starts_with("ERROR: "), "{err}");
    assert!(err.contains(&root.join("empty").display().to_string()), "{err}");
    make_vtape(&root.join("vt"), &[10]);
    let (code, err) = restore(&root.join("vt"), &root, &["-l", "OTHER-01"]);
    assert_eq!((code, err.as_str()), (1, "ERROR: Found unexpected label 'FAULT-01'\n"));
}
