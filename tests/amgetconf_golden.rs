//! amgetconf against Amanda 3.5.1's own output: every parameter of every section of
//! Amanda's example configuration, recorded by tests/golden/amgetconf/regen.sh from
//! the real amgetconf. Any record that differs fails the test, except the deliberate
//! differences listed (with reasons) in README.md's "Known differences".

mod common;

use std::path::Path;

const GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/amgetconf");
const CLIENT_GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/amgetconf-client");

/// Records whose difference is deliberate; each is explained in README.md.
fn known_difference(rec: &common::Record) -> bool {
    let _ = rec;
    false
}

fn check(golden_file: &str, fixture: &str, config_name: &str) {
    check_in(GOLDEN_DIR, golden_file, fixture, config_name)
}

fn check_in(dir: &str, golden_file: &str, fixture: &str, config_name: &str) {
    let text = std::fs::read_to_string(Path::new(dir).join(golden_file)).expect("golden file");
    let records = common::parse_records(&text);
    assert!(records.len() > 10, "golden file {golden_file} has too few records");
    let root = common::scratch(&format!("golden-{config_name}"));
    common::copy_dir(&Path::new(dir).join(fixture), &root.join(config_name));
    let mut failures = Vec::new();
    let mut matched = 0;
    for rec in &records {
        let got = common::replay("amgetconf", &root, config_name, rec);
        if got == *rec {
            matched += 1;
        } else if !known_difference(rec) {
            failures.push(format!(
                "args {:?}\n  want exit {} out {:?} err {:?}\n  got  exit {} out {:?} err {:?}",
                rec.args, rec.exit, rec.stdout, rec.stderr, got.exit, got.stdout, got.stderr
            ));
        }
    }
    println!("{golden_file}: {matched}/{} records byte-identical", records.len());
    if !failures.is_empty() {
        let n = failures.len();
        failures.truncate(40);
        panic!("{n} of {} records differ from Amanda:\n{}", records.len(), failures.join("\n"));
    }
}

#[test]
fn example_configuration_matches_amanda() {
    check("golden.txt", "example", "amrs-golden");
}

#[test]
fn client_configuration_matches_amanda() {
    check_in(CLIENT_GOLDEN_DIR, "golden.txt", "client", "amrs-golden-client");
}

#[test]
fn every_section_type_matches_amanda() {
    // One of each section type, with inheritance, recorded from the real amgetconf.
    check("golden-extra.txt", "extra", "amrs-golden-extra");
}

/// Amanda's own messages for bad configurations (tests/golden/amgetconf/errors/*), each
/// replayed and compared; cases where we deliberately say more are listed in README.md.
#[test]
fn error_cases_match_amanda() {
    let errors = Path::new(GOLDEN_DIR).join("errors");
    let mut cases: Vec<_> = std::fs::read_dir(&errors).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in &cases {
        let expected = case.join("expected.txt");
        let text = std::fs::read_to_string(&expected)
            .unwrap_or_else(|_| panic!("{} has no expected.txt", case.display()));
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let config_name = format!("amrs-golden-err-{name}");
        let root = common::scratch(&format!("golden-err-{name}"));
        common::copy_dir(case, &root.join(&config_name));
        for rec in common::parse_records(&text) {
            compared += 1;
            let got = common::replay("amgetconf", &root, &config_name, &rec);
            let same_outcome = got.exit == rec.exit
                && got.stdout == rec.stdout
                && got.stderr.len() >= 2
                && got.stderr[got.stderr.len() - 2..] == rec.stderr[rec.stderr.len().saturating_sub(2)..]
                && got.stderr[..got.stderr.len() - 2]
                    .iter()
                    .all(|l| l.starts_with('\'') || l.starts_with('"') || l.starts_with("Could not open '"));
            // An improved case must still fail the same way, with every message located.
            let acceptable = improved_message(&name) && same_outcome;
            if got != rec && !acceptable {
                failures.push(format!(
                    "{name}: args {:?}\n  want exit {} out {:?} err {:?}\n  got  exit {} out {:?} err {:?}",
                    rec.args, rec.exit, rec.stdout, rec.stderr, got.exit, got.stdout, got.stderr
                ));
            }
        }
    }
    assert!(compared >= cases.len());
    if !failures.is_empty() {
        panic!("{} error cases differ from Amanda:\n{}", failures.len(), failures.join("\n"));
    }
}

/// Error cases whose message we deliberately improve (README.md, "Known differences").
fn improved_message(case: &str) -> bool {
    matches!(
        case,
        // An unclosed block is reported once, where it was opened.
        "brace-then-param" | "unclosed-section"
        // The reason the disklist could not be read is printed (Amanda prints none).
        | "missing-disklist"
        // The include error is reported against the including file.
        | "missing-include"
        // Undefined tapetype/holdingdisk references are reported at their line.
        | "undefined-holdingdisk" | "undefined-tapetype" | "multiple-errors"
    )
}
