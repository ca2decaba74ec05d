//! Helpers shared by the integration tests: running tools under their Amanda names,
//! scratch configuration directories, and golden-record files.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A command running the multi-call binary under the tool name `tool`.
pub fn tool(tool: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_amrs"));
    c.arg0(tool);
    c
}

/// Runs `tool` with `args`, with `AMANDA_CONFIG_DIR` set to `root`.
pub fn run(tool_name: &str, root: &Path, args: &[&str]) -> Output {
    tool(tool_name).env("AMANDA_CONFIG_DIR", root).args(args).output().expect("run tool")
}

/// A fresh scratch directory under the target directory, removed first if present.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Copies every file of `from` into `to` (one level, as configuration dirs are).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read fixture dir") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

/// One recorded run of Amanda's tool: arguments, exit status, stdout and stderr lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub args: Vec<String>,
    pub exit: i32,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

/// Parses the golden format (`ARGS\t…`, `EXIT\tn`, `O\tline`, `E\tline`, blank line).
pub fn parse_records(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut cur: Option<Record> = None;
    for line in text.split('\n') {
        if line.is_empty() {
            if let Some(r) = cur.take() {
                out.push(r);
            }
            continue;
        }
        let (tag, rest) = line.split_once('\t').unwrap_or((line, ""));
        match tag {
            "ARGS" => {
                if let Some(r) = cur.take() {
                    out.push(r);
                }
                cur = Some(Record {
                    args: rest.split('\t').map(str::to_string).collect(),
                    exit: 0,
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                });
            }
            "EXIT" => cur.as_mut().expect("record").exit = rest.parse().expect("exit"),
            "O" => cur.as_mut().expect("record").stdout.push(rest.to_string()),
            "E" => cur.as_mut().expect("record").stderr.push(rest.to_string()),
            other => panic!("unknown golden tag {other:?}"),
        }
    }
    if let Some(r) = cur.take() {
        out.push(r);
    }
    out
}

/// Runs one record's arguments with `@CONFIG@` replaced by `config`.
pub fn replay(tool_name: &str, root: &Path, config: &str, rec: &Record) -> Record {
    let args: Vec<String> = rec.args.iter().map(|a| a.replace("@CONFIG@", config)).collect();
    let argrefs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(tool_name, root, &argrefs);
    // The recorder replaced the configuration's directory and name in Amanda's
    // output by placeholders; do the same to ours.
    let dir = root.join(config).display().to_string();
    let lines = |b: &[u8]| -> Vec<String> {
        let s = String::from_utf8_lossy(b).replace(&dir, "@CONFIGDIR@").replace(config, "@CONFIG@");
        let s = s.strip_suffix('\n').unwrap_or(&s);
        if s.is_empty() && b.is_empty() {
            Vec::new()
        } else {
            s.split('\n').map(str::to_string).collect()
        }
    };
    Record {
        args: rec.args.clone(),
        exit: out.status.code().unwrap_or(-1),
        stdout: lines(&out.stdout),
        stderr: lines(&out.stderr),
    }
}

/// Writes 3 MB to `path` and returns them: runs of `text_lines` numbered text lines
/// (compress well) between runs of `random_bytes` xorshift bytes seeded by `seed` (do not),
/// so compressed frames have uneven sizes and compressed dumps still span many blocks.
pub fn mixed_source(path: &Path, seed: u64, text_lines: usize, random_bytes: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(3_000_000);
    let mut state = seed;
    let mut line = 0;
    while data.len() < 3_000_000 {
        for _ in 0..text_lines {
            data.extend_from_slice(format!("line {line} of an amrs test source\n").as_bytes());
            line += 1;
        }
        for _ in 0..random_bytes {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data.push(state as u8);
        }
    }
    data.truncate(3_000_000);
    std::fs::write(path, &data).unwrap();
    data
}
