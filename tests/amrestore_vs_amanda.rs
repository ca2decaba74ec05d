//! Our amrestore against Amanda 3.5.1's, on volumes and holding files Amanda wrote.
//!
//! `tests/fixtures/amanda-volumes/make-fixtures.sh` (run by the test command, `tools/test.sh`)
//! makes the volumes with Amanda's amdump and records, for every amrestore invocation in
//! `expected/RUNS`, what Amanda's amrestore produced: the output files, the messages and
//! the exit status. Here every invocation is replayed with our amrestore in a fresh
//! directory and must give the same files (same names, same bytes), the same messages
//! (in any order, as Amanda's own order varies between filter and main loop) and the
//! same exit status.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixture_dir() -> PathBuf {
    let dir = std::env::var_os("AMRS_AMANDA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/amanda-volumes/out"));
    assert!(
        dir.join("expected/RUNS").is_file(),
        "no Amanda-made volumes in {}: run tests/fixtures/amanda-volumes/make-fixtures.sh (tools/test.sh does)",
        dir.display()
    );
    dir
}

fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                m.insert(e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap());
            }
        }
    }
    m
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn every_recorded_amrestore_run_gives_the_same_result() {
    let fixtures = fixture_dir();
    let expected = fixtures.join("expected");
    let runs = std::fs::read_to_string(expected.join("RUNS")).unwrap();
    let mut failures = Vec::new();
    let mut compared = 0;
    for line in runs.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let cols: Vec<&str> = line.splitn(4, '\t').collect();
        let (mode, source, exit, command) = (cols[0], cols[1], cols[2].parse::<i32>().unwrap(), cols[3]);
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let name = format!("{mode}-{source}");
        let work = common::scratch(&format!("amrestore-{name}"));
        let out = common::tool("amrestore").args(&args).current_dir(&work).output().unwrap();
        let mut got = files_in(&work);
        let want_dir = expected.join(&name);
        let mut want = files_in(&want_dir);
        // -p runs: the recorder saved standard output as `stdout`.
        if want.contains_key("stdout") {
            got.insert("stdout".into(), out.stdout.clone());
        }
        compared += 1;
        let code = out.status.code().unwrap_or(-1);
        let want_err = std::fs::read_to_string(expected.join(format!("{name}.stderr"))).unwrap_or_default();
        let got_err = String::from_utf8_lossy(&out.stderr).into_owned();
        let mut problems = Vec::new();
        if code != exit {
            problems.push(format!("exit {code}, Amanda {exit}"));
        }
        if sorted_lines(&got_err) != sorted_lines(&want_err) {
            problems.push(format!("messages differ:\n--- ours\n{got_err}--- Amanda's\n{want_err}"));
        }
        let names_got: Vec<&String> = got.keys().collect();
        let names_want: Vec<&String> = want.keys().collect();
        if names_got != names_want {
            problems.push(format!("files {names_got:?}, Amanda {names_want:?}"));
        } else {
            for (f, bytes) in &got {
                let w = want.remove(f).unwrap();
                if *bytes != w {
                    problems.push(format!(
                        "{f}: {} bytes differ from Amanda's {} bytes",
                        bytes.len(),
                        w.len()
                    ));
                }
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{line}\n  {}", problems.join("\n  ")));
        }
    }
    assert!(compared >= 30, "only {compared} runs recorded");
    println!("{compared} amrestore runs compared with Amanda's");
    assert!(failures.is_empty(), "{} of {compared} runs differ:\n{}", failures.len(), failures.join("\n"));
}
