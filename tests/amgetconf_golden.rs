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
