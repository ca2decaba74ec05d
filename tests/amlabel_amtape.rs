//! amlabel and amtape: every case on scratch chg-disk configurations given as directory
//! paths (output lines, exit status, tapelist bytes), then with the real Amanda 3.5.1:
//! the same runs side by side, and each implementation on volumes the other labelled.
//!
//! The Amanda half needs Amanda installed (`tools/test.sh` does) and root (to create
//! configurations under /etc/amanda, run Amanda as `backup` and mount a small tmpfs); it
//! fails, rather than skips, when either is missing. Every configuration it creates
//! under /etc/amanda and /tmp is removed when the test ends, also on failure.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

// ---------------------------------------------------------------------------------------
// Helpers

/// One run: exit status and output.
#[derive(Debug, Clone, PartialEq)]
struct Run {
    code: i32,
    out: String,
    err: String,
}

impl Run {
    fn of(o: std::process::Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&o.stdout).into_owned(),
            err: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts the exit status and the exact lines of both streams.
    #[track_caller]
    fn check(&self, code: i32, out: &[&str], err: &[&str]) {
        let lines = |v: &[&str]| v.iter().map(|l| format!("{l}\n")).collect::<String>();
        assert_eq!(
            (self.code, self.out.as_str(), self.err.as_str()),
            (code, lines(out).as_str(), lines(err).as_str())
        );
    }
}

const BASE_CONF: &str = r#"org "amrs-test"
labelstr "^TEST-[0-9]+$"
tpchanger "chg-disk:@VT@"
tapelist "tapelist"
tapetype "vt"
tapecycle 2
define tapetype vt {
  length 100 mbytes
}
"#;

/// A scratch configuration (a directory, given to the tools by path) with a chg-disk
/// changer of `slots` empty slots.
struct Env {
    conf: PathBuf,
    vt: PathBuf,
    name: String,
}

impl Env {
    fn new(name: &str, slots: u32, extra: &str) -> Env {
        let root = common::scratch(&format!("amlabel-amtape-{name}"));
        let conf = root.join(name);
        let vt = root.join("vt");
        std::fs::create_dir_all(&conf).unwrap();
        for s in 1..=slots {
            std::fs::create_dir_all(vt.join(format!("slot{s}"))).unwrap();
        }
        let text = BASE_CONF.replace("@VT@", &vt.display().to_string()) + extra;
        std::fs::write(conf.join("amanda.conf"), text).unwrap();
        Env { conf, vt, name: name.to_owned() }
    }

    /// Runs our `tool` with `args`; `@C` stands for the configuration directory.
    fn run(&self, tool: &str, args: &[&str]) -> Run {
        let conf = self.conf.display().to_string();
        let args: Vec<String> = args.iter().map(|a| a.replace("@C", &conf)).collect();
        Run::of(
            common::tool(tool)
                .args(&args)
                .env_remove("AMANDA_CONFIG_DIR")
                .stdin(Stdio::null())
                .output()
                .expect("run our tool"),
        )
    }

    fn tapelist(&self) -> String {
        std::fs::read_to_string(self.conf.join("tapelist")).unwrap_or_default()
    }

    fn set_tapelist(&self, text: &str) {
        std::fs::write(self.conf.join("tapelist"), text).unwrap();
    }

    /// The tapelist line amlabel writes for a new label of this configuration.
    fn line(&self, label: &str) -> String {
        let n = &self.name;
        format!("0 {label} reuse BLOCKSIZE:32 POOL:{n} STORAGE:{n} CONFIG:{n}\n")
    }

    fn vts(&self) -> String {
        self.vt.display().to_string()
    }

    /// Labels `label` into `slot` and checks it worked.
    #[track_caller]
    fn label(&self, label: &str, slot: u32) {
        let r = self.run("amlabel", &["@C", label, "slot", &slot.to_string()]);
        assert_eq!(r.code, 0, "{r:?}");
    }
}

const LABELLED: [&str; 5] = [
    "Reading label...",
    "Found an empty tape.",
    "Writing label 'TEST-1'...",
    "Checking label...",
    "Success!",
];

fn labelled(label: &str) -> Vec<String> {
    LABELLED.iter().map(|l| l.replace("TEST-1", label)).collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------------------
// amlabel

#[test]
fn amlabel_writes_label_and_tapelist() {
    let e = Env::new("al-write", 3, "");
    let r = e.run("amlabel", &["@C", "TEST-1", "slot", "2"]);
    r.check(0, &LABELLED, &[]);
    assert_eq!(e.tapelist(), e.line("TEST-1"));
    let label_file = e.vt.join("slot2/00000.TEST-1");
    assert_eq!(std::fs::metadata(&label_file).unwrap().len(), 32768);
    let header = std::fs::read(&label_file).unwrap();
    assert!(header.starts_with(b"AMANDA: TAPESTART DATE X TAPE TEST-1\n"), "{:?}", &header[..60]);

    // Without a slot: the current one (slot 1, as nothing was made current).
    let r = e.run("amlabel", &["@C", "TEST-2"]);
    r.check(0, &strs(&labelled("TEST-2")), &[]);
    assert!(e.vt.join("slot1/00000.TEST-2").is_file());
    assert_eq!(e.tapelist(), e.line("TEST-2") + &e.line("TEST-1"));

    // Options anywhere, abbreviated long options, -o overrides.
    let r = e.run("amlabel", &["@C", "--met", "M3", "TEST-3", "-o", "tapecycle=4", "slot", "3"]);
    r.check(0, &strs(&labelled("TEST-3")), &[]);
    let n = &e.name;
    assert_eq!(
        e.tapelist(),
        format!("0 TEST-3 reuse META:M3 BLOCKSIZE:32 POOL:{n} STORAGE:{n} CONFIG:{n}\n")
            + &e.line("TEST-2")
            + &e.line("TEST-1")
    );
    assert!(std::fs::read_to_string(e.vt.join("state")).unwrap().contains("'meta' => 'M3'"));
}

#[test]
fn amlabel_refuses_without_force_and_leaves_tapelist() {
    let e = Env::new("al-refuse", 3, "");
    e.label("TEST-1", 1);
    let before = e.tapelist();

    // A label already in the tapelist.
    e.run("amlabel", &["@C", "TEST-1", "slot", "2"]).check(1, &[], &["Label 'TEST-1' already on a volume"]);
    // A label that does not match labelstr.
    e.run("amlabel", &["@C", "FOO", "slot", "2"]).check(
        1,
        &[
            "Reading label...",
            "Found an empty tape.",
            "Label 'FOO' doesn't match the labelstr '^TEST-[0-9]+$'.",
        ],
        &["Label 'FOO' doesn't match the labelstr '^TEST-[0-9]+$'."],
    );
    // A volume of this configuration.
    e.run("amlabel", &["@C", "TEST-2", "slot", "1"]).check(
        1,
        &[
            "Reading label...",
            "Volume with label 'TEST-1' is active and contains data from this configuration.",
            "Not writing label.",
        ],
        &["Not writing label."],
    );
    // A slot that does not exist.
    e.run("amlabel", &["@C", "TEST-2", "slot", "9"]).check(
        1,
        &["Reading label...", "Slot 9 not found"],
        &["Slot 9 not found"],
    );
    assert_eq!(e.tapelist(), before);
    assert!(!e.vt.join("slot2/00000.TEST-1").exists() && e.vt.join("slot1/00000.TEST-1").exists());

    // A volume of another configuration.
    let other = before.replace(&format!("CONFIG:{}", e.name), "CONFIG:other");
    e.set_tapelist(&other);
    e.run("amlabel", &["@C", "TEST-2", "slot", "1"]).check(
        1,
        &["Reading label...", "Found label 'TEST-1' but it is from config 'other'", "Not writing label."],
        &["Not writing label."],
    );
    assert_eq!(e.tapelist(), other);
    // A volume of another pool.
    let pool = before.replace(&format!("POOL:{}", e.name), "POOL:elsewhere");
    e.set_tapelist(&pool);
    e.run("amlabel", &["@C", "TEST-2", "slot", "1"]).check(
        1,
        &[
            "Reading label...",
            "Found label 'TEST-1' but it is from tape pool 'elsewhere'.",
            "Not writing label.",
        ],
        &["Not writing label."],
    );
    assert_eq!(e.tapelist(), pool);
    // A labelled volume the tapelist does not know.
    e.set_tapelist("");
    e.run("amlabel", &["@C", "TEST-2", "slot", "1"]).check(
        1,
        &[
            "Reading label...",
            "Found label 'TEST-1' but it is not in the tapelist file.",
            "Not writing label.",
        ],
        &["Not writing label."],
    );
    assert_eq!(e.tapelist(), "");
    assert!(e.vt.join("slot1/00000.TEST-1").exists());
}

#[test]
fn amlabel_force_overwrites() {
    let e = Env::new("al-force", 3, "");
    e.label("TEST-1", 1);
    e.run("amlabel", &["-f", "@C", "TEST-2", "slot", "1"]).check(
        0,
        &[
            "Reading label...",
            "Volume with label 'TEST-1' is active and contains data from this configuration.",
            "Consider using 'amrmtape' to remove volume 'TEST-1' from the catalog.",
            "Writing label 'TEST-2'...",
            "Checking label...",
            "Success!",
        ],
        &[],
    );
    // As Amanda: the old label stays in the tapelist (amrmtape removes it).
    assert_eq!(e.tapelist(), e.line("TEST-2") + &e.line("TEST-1"));
    assert!(e.vt.join("slot1/00000.TEST-2").exists() && !e.vt.join("slot1/00000.TEST-1").exists());
    // -f also allows a label already in the tapelist; its entry is replaced.
    e.run("amlabel", &["-f", "@C", "TEST-1", "slot", "2"]).check(0, &LABELLED, &[]);
    assert_eq!(e.tapelist(), e.line("TEST-1") + &e.line("TEST-2"));
}

#[test]
fn amlabel_foreign_truncated_and_blank_label_files() {
    let e = Env::new("al-foreign", 3, "");
    let vt = e.vts();
    // Data that is not Amanda's.
    let mut junk = b"this is not an Amanda volume\n".to_vec();
    junk.resize(32768, 0);
    std::fs::write(e.vt.join("slot1/00000.junk"), junk).unwrap();
    e.run("amlabel", &["@C", "TEST-1", "slot", "1"]).check(
        1,
        &[
            "Reading label...",
            &format!("Error reading volume label: file:{vt}/slot1: file 0: not an Amanda header."),
            "Not writing label.",
        ],
        &["Not writing label."],
    );
    assert_eq!(e.tapelist(), "");
    assert!(e.vt.join("slot1/00000.junk").exists());
    // A label file that is all zeros.
    std::fs::write(e.vt.join("slot3/00000.zero"), vec![0; 32768]).unwrap();
    e.run("amlabel", &["@C", "TEST-1", "slot", "3"]).check(
        1,
        &[
            "Reading label...",
            &format!("Error reading volume label: file:{vt}/slot3: volume is not labelled ({vt}/slot3/00000.zero is blank)."),
            "Not writing label.",
        ],
        &["Not writing label."],
    );
    // A truncated label file.
    e.label("TEST-2", 2);
    let before = e.tapelist();
    let f = std::fs::OpenOptions::new().write(true).open(e.vt.join("slot2/00000.TEST-2")).unwrap();
    f.set_len(1000).unwrap();
    drop(f);
    e.run("amlabel", &["@C", "TEST-3", "slot", "2"]).check(
        1,
        &[
            "Reading label...",
            &format!("Error reading volume label: file:{vt}/slot2: file 0: header is truncated (got 1000 bytes of 32768)."),
            "Not writing label.",
        ],
        &["Not writing label."],
    );
    assert_eq!(e.tapelist(), before);
    e.run("amtape", &["@C", "show", "2"]).check(
        0,
        &[],
        &[&format!("slot   2: file:{vt}/slot2: file 0: header is truncated (got 1000 bytes of 32768)")],
    );
    // With -f each is overwritten.
    let r = e.run("amlabel", &["-f", "@C", "TEST-3", "slot", "2"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.ends_with("Writing label 'TEST-3'...\nChecking label...\nSuccess!\n"), "{r:?}");
    let r = e.run("amlabel", &["-f", "@C", "TEST-4", "slot", "1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(e.tapelist(), e.line("TEST-4") + &e.line("TEST-3") + &e.line("TEST-2"));
}

/// Unmounts a tmpfs when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn amlabel_full_filesystem_leaves_tapelist() {
    assert_eq!(nix_euid(), 0, "mounting the small filesystem this test fills needs root");
    let e = Env::new("al-full", 2, "");
    e.label("TEST-1", 1);
    let before = e.tapelist();
    let slot2 = e.vt.join("slot2");
    let st =
        Command::new("mount").args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"]).arg(&slot2).status().unwrap();
    assert!(st.success(), "mount tmpfs on {}", slot2.display());
    let _mounted = Mounted(slot2.clone());
    std::fs::write(slot2.join("filler"), vec![0; 60 * 1024]).unwrap();
    let vt = e.vts();
    let error = format!(
        "Error writing label: file:{vt}/slot2: file 0: writing {vt}/slot2/00000.TEST-2: No space left on device (os error 28)."
    );
    e.run("amlabel", &["@C", "TEST-2", "slot", "2"]).check(
        1,
        &["Reading label...", "Found an empty tape.", "Writing label 'TEST-2'...", &error],
        &[&error],
    );
    assert_eq!(e.tapelist(), before);
}

#[test]
fn amlabel_autolabel_barcode_and_usage() {
    let e = Env::new("al-auto", 3, "");
    e.label("TEST-2", 1);
    e.run("amlabel", &["@C", "slot", "2"]).check(
        1,
        &["Reading label...", "Found an empty tape.", "template is not set, you must set autolabel"],
        &["template is not set, you must set autolabel"],
    );
    e.run("amlabel", &["-o", "autolabel=\"TEST-%\" empty", "@C", "slot", "2"]).check(
        0,
        &strs(&labelled("TEST-1")),
        &[],
    );
    e.run("amlabel", &["-o", "autolabel=\"TEST-$3s\"", "@C", "slot", "3"]).check(
        0,
        &strs(&labelled("TEST-003")),
        &[],
    );
    assert_eq!(e.tapelist(), e.line("TEST-003") + &e.line("TEST-1") + &e.line("TEST-2"));
    // chg-disk volumes have no barcode.
    e.run("amlabel", &["--barcode", "B1", "@C", "TEST-7"]).check(
        1,
        &["Reading label...", "No volume with barcode 'B1' available."],
        &["No volume with barcode 'B1' available."],
    );
    e.run("amlabel", &["--barcode", "B1", "@C", "TEST-7", "slot", "3"]).check(
        1,
        &["Reading label...", "Volume in slot 3 have no barcode."],
        &["Volume in slot 3 have no barcode."],
    );
    let usage = [
        "Usage: amlabel [--barcode <barcode>] [--meta <meta>] [--version]",
        " [--assign [--pool <pool>] [--storage <storage>]] [-f]",
        " [-o configoption]*",
        " <conf> [<label>] [slot <slot-number>]",
    ];
    e.run("amlabel", &[]).check(1, &[], &usage);
    e.run("amlabel", &["@C", "a", "b"]).check(1, &[], &usage);
    e.run("amlabel", &["-x", "@C"]).check(1, &[], &usage);
    e.run("amlabel", &["-o", "foo", "@C"]).check(1, &[], &["amlabel: Must specify a value for foo."]);
    let r = e.run("amlabel", &["--version"]);
    assert_eq!((r.code, r.out.starts_with("amlabel-")), (0, true), "{r:?}");
    assert_eq!(e.tapelist(), e.line("TEST-003") + &e.line("TEST-1") + &e.line("TEST-2"));
}

#[test]
fn amlabel_configuration_and_changer_errors() {
    let e = Env::new("al-conferr", 2, "");
    let r = e.run("amlabel", &["-o", "tpchanger=chg-disk:/nonexistent/amrs-vt", "@C", "TEST-1", "slot", "1"]);
    r.check(1, &[], &["directory '/nonexistent/amrs-vt' does not exist"]);
    let missing = e.conf.with_file_name("no-such-conf");
    let r = common::tool("amlabel").arg(&missing).arg("TEST-1").output().unwrap();
    let r = Run::of(r);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.err,
        format!(
            "parse error: could not open conf file '{}/amanda.conf': No such file or directory\nerrors processing config file",
            missing.display()
        )
    );
    assert_eq!(e.tapelist(), "");
    // A tapelist that cannot be read names the file and line.
    e.set_tapelist("garbage line\n");
    let r = e.run("amlabel", &["@C", "TEST-1", "slot", "1"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.err.starts_with(&format!("Can't load tapelist file ({}/tapelist): ", e.conf.display())),
        "{r:?}"
    );
    assert!(r.err.contains("line 1"), "{r:?}");
    assert_eq!(e.tapelist(), "garbage line\n");
    assert!(!e.vt.join("slot1/00000.TEST-1").exists());
}

#[test]
fn amlabel_assign_changes_only_metadata() {
    let e = Env::new("al-assign", 3, "");
    e.label("TEST-1", 1);
    e.label("TEST-12", 2);
    let n = e.name.clone();
    let files_before: Vec<_> =
        std::fs::read_dir(e.vt.join("slot1")).unwrap().map(|d| d.unwrap().file_name()).collect();
    e.run("amlabel", &["--assign", "@C", "TEST-12", "--meta", "M1"]).check(0, &["Setting TEST-12"], &[]);
    assert_eq!(
        e.tapelist(),
        format!("0 TEST-12 reuse META:M1 BLOCKSIZE:32 POOL:{n} STORAGE:{n} CONFIG:{n}\n") + &e.line("TEST-1")
    );
    let before = e.tapelist();
    e.run("amlabel", &["--assign", "@C", "TEST-12", "--meta", "M2"]).check(
        1,
        &["TEST-12: Can't assign meta-label without force, old meta-label is 'M1'"],
        &[],
    );
    e.run("amlabel", &["--assign", "@C", "TEST-12"]).check(0, &["All labels already correctly set."], &[]);
    e.run("amlabel", &["--assign", "@C", "NOPE", "--meta", "x"]).check(
        0,
        &["No label matching 'NOPE' in the tapelist file"],
        &[],
    );
    e.run("amlabel", &["--assign", "@C", "TEST-1", "--pool", "other"]).check(
        1,
        &[
            "TEST-12: Can't assign pool without force, old pool is 'al-assign'",
            "TEST-1: Can't assign pool without force, old pool is 'al-assign'",
        ],
        &[],
    );
    e.run("amlabel", &["--assign", "@C", "TEST-1", "--storage", "s2"]).check(
        1,
        &[
            "TEST-12: Can't assign storage without force, old storage is 'al-assign'",
            "TEST-1: Can't assign storage without force, old storage is 'al-assign'",
        ],
        &[],
    );
    e.run("amlabel", &["--assign", "@C", "TEST-12", "--pool", ""]).check(
        1,
        &["Can't remove the pool of label 'TEST-12'."],
        &[],
    );
    assert_eq!(e.tapelist(), before);
    // A regular expression, and -f to change values already set.
    e.run("amlabel", &["--assign", "-f", "@C", "^TEST-1$", "--meta", "M2", "--barcode", "B1"]).check(
        0,
        &["Setting TEST-1"],
        &[],
    );
    assert_eq!(
        e.tapelist(),
        format!("0 TEST-12 reuse META:M1 BLOCKSIZE:32 POOL:{n} STORAGE:{n} CONFIG:{n}\n")
            + &format!("0 TEST-1 reuse BARCODE:B1 META:M2 BLOCKSIZE:32 POOL:{n} STORAGE:{n} CONFIG:{n}\n")
    );
    let files_after: Vec<_> =
        std::fs::read_dir(e.vt.join("slot1")).unwrap().map(|d| d.unwrap().file_name()).collect();
    assert_eq!(files_before, files_after, "--assign touches no volume");
}

// ---------------------------------------------------------------------------------------
// amtape

#[test]
fn amtape_slots_show_inventory() {
    let e = Env::new("at-show", 3, "");
    e.label("TEST-1", 1);
    e.label("TEST-2", 2);
    e.run("amtape", &["@C", "show"]).check(
        0,
        &[],
        &[
            "scanning all 3 slots in changer:",
            "slot   1: date X              label TEST-1",
            "slot   2: date X              label TEST-2",
            "slot   3: unlabeled volume",
        ],
    );
    e.run("amtape", &["@C", "show", "3-1,2,9"]).check(
        0,
        &[],
        &[
            "slot   3: unlabeled volume",
            "slot   2: date X              label TEST-2",
            "slot   9: Slot 9 not found",
            "",
        ],
    );
    e.run("amtape", &["@C", "inventory"]).check(
        0,
        &[
            "slot 1: label TEST-1 (current) [retention-no]",
            "slot 2: label TEST-2 [retention-no]",
            "slot 3: blank",
        ],
        &[],
    );
    e.run("amtape", &["@C", "slot", "2"]).check(
        0,
        &[],
        &["slot   2: time X              label TEST-2", "changed to slot 2"],
    );
    e.run("amtape", &["@C", "current"]).check(
        0,
        &[],
        &["slot   2: time X              label TEST-2", "changed to slot 2"],
    );
    e.run("amtape", &["@C", "slot", "next"]).check(
        0,
        &[],
        &["slot   3: Could not open device: File 0 not found", "changed to slot 3"],
    );
    e.run("amtape", &["@C", "slot", "next"]).check(
        0,
        &[],
        &["slot   1: time X              label TEST-1", "changed to slot 1"],
    );
    e.run("amtape", &["@C", "slot", "last"]).check(
        0,
        &[],
        &["slot   3: Could not open device: File 0 not found", "changed to slot 3"],
    );
    e.run("amtape", &["@C", "slot", "first"]).check(
        0,
        &[],
        &["slot   1: time X              label TEST-1", "changed to slot 1"],
    );
    e.run("amtape", &["@C", "slot", "9"]).check(1, &[], &["ERROR: Slot: 9: Slot 9 not found"]);
    e.run("amtape", &["@C", "slot", "abc"]).check(1, &[], &["ERROR: Slot: abc: Slot abc not found"]);
    // show and amlabel keep the current slot.
    e.run("amtape", &["@C", "slot", "2"]).check(
        0,
        &[],
        &["slot   2: time X              label TEST-2", "changed to slot 2"],
    );
    e.run("amtape", &["@C", "show"]);
    e.label("TEST-3", 3);
    e.run("amtape", &["@C", "inventory"]).check(
        0,
        &[
            "slot 1: label TEST-1 [retention-no]",
            "slot 2: label TEST-2 (current) [retention-no]",
            "slot 3: label TEST-3 [retention-no]",
        ],
        &[],
    );
}

#[test]
fn amtape_label_reset_eject_update_usage() {
    let e = Env::new("at-label", 3, "");
    e.label("TEST-1", 1);
    e.label("TEST-2", 2);
    let vt = e.vts();
    e.run("amtape", &["@C", "label", "TEST-2"]).check(
        0,
        &["slot   2: TEST-2"],
        &["slot   2: time X              label TEST-2", "label TEST-2 is now loaded from slot 2"],
    );
    // Not there: the unknown slots are tried, then the user is asked (no input: abort).
    e.run("amtape", &["@C", "label", "TEST-9"]).check(
        1,
        &[
            "slot   3: File 0 not found",
            "File 0 not found",
            "",
            &format!("Insert volume labeled 'TEST-9' in chg-disk:{vt}"),
            "and press <enter> enter, or ^D to abort.",
        ],
        &["ERROR: Aborted by user"],
    );
    e.run("amtape", &["@C", "reset"]).check(0, &[], &["changer is reset"]);
    e.run("amtape", &["@C", "current"]).check(
        0,
        &[],
        &["slot   1: time X              label TEST-1", "changed to slot 1"],
    );
    e.run("amtape", &["@C", "eject"]).check(1, &[], &["ERROR: 'chg-disk' does not support eject"]);
    e.run("amtape", &["@C", "update"]).check(1, &[], &["ERROR: 'chg-disk' does not support update"]);
    e.run("amtape", &["@C", "clean"]).check(1, &[], &["ERROR: 'chg-disk' does not support clean"]);
    let r = e.run("amtape", &["@C", "bogus"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.err, "Usage: amtape [-o configoption]* <conf> <command> {<args>}\n  Valid commands are:\n");
    assert!(r.out.starts_with("    clean [<drive>] clean a drive in the changer\n"), "{r:?}");
    assert!(r.out.contains("\t\t    with the current slot\n"), "{r:?}");
    assert_eq!(e.run("amtape", &["@C", "slot"]), r);
    assert_eq!(e.run("amtape", &["@C"]), r);
    e.run("amtape", &["-o", "foo", "@C", "show"]).check(1, &[], &["amtape: Must specify a value for foo."]);
    e.run("amtape", &["-o", "tpchanger=chg-disk:/nonexistent/amrs-vt", "@C", "show"]).check(
        1,
        &[],
        &["ERROR: directory '/nonexistent/amrs-vt' does not exist"],
    );
    // A slot directory that went away.
    std::fs::remove_dir(e.vt.join("slot3")).unwrap();
    e.run("amtape", &["@C", "slot", "3"]).check(1, &[], &["ERROR: Slot: 3: Slot 3 not found"]);
    e.run("amlabel", &["@C", "TEST-3", "slot", "3"]).check(
        1,
        &["Reading label...", "Slot 3 not found"],
        &["Slot 3 not found"],
    );
    assert_eq!(e.tapelist(), e.line("TEST-2") + &e.line("TEST-1"));
}

#[test]
fn amtape_taper_scan() {
    let e = Env::new("at-taper", 3, "");
    e.run("amtape", &["@C", "taper"]).check(
        1,
        &[],
        &[
            "slot 1: contains an empty volume",
            "slot 2: contains an empty volume",
            "slot 3: contains an empty volume",
            " all slots have been loaded",
            "UNKNOWN",
            "ERROR: No acceptable volumes found",
        ],
    );
    e.run("amtape", &["-o", "autolabel=\"TEST-%\" empty", "@C", "taper"]).check(
        0,
        &[],
        &["slot 1: contains an empty volume", "Will write label 'TEST-1' to new volume in slot 1."],
    );
    e.label("TEST-1", 1);
    e.label("TEST-2", 2);
    e.label("TEST-3", 3);
    e.run("amtape", &["@C", "taper"]).check(
        0,
        &[],
        &["slot 1: volume 'TEST-1'", "Will write to volume 'TEST-1' in slot 1."],
    );
    // Used volumes: the oldest beyond tapecycle - 1 is searched by label first.
    let n = &e.name;
    let used = |d: &str, l: &str| format!("{d} {l} reuse BLOCKSIZE:32 POOL:{n} STORAGE:{n} CONFIG:{n}\n");
    e.set_tapelist(
        &(used("20240103000000", "TEST-3")
            + &used("20240102000000", "TEST-2")
            + &used("20240101000000", "TEST-1")),
    );
    e.run("amtape", &["@C", "taper"]).check(
        0,
        &[],
        &[
            "Searching for label 'TEST-1': found in slot 1: volume 'TEST-1'",
            "Will write to volume 'TEST-1' in slot 1.",
        ],
    );
    e.run("amtape", &["@C", "inventory"]).check(
        0,
        &[
            "slot 1: label TEST-1 (current) [retention-no]",
            "slot 2: label TEST-2 [retention-no]",
            "slot 3: label TEST-3 [retention-tapes]",
        ],
        &[],
    );
    e.run("amtape", &["-o", "tapecycle=5", "@C", "taper"]).check(
        1,
        &[],
        &[
            "slot 1: volume 'TEST-1' is still active and cannot be overwritten",
            "slot 2: volume 'TEST-2' is still active and cannot be overwritten",
            "slot 3: volume 'TEST-3' is still active and cannot be overwritten",
            " all slots have been loaded",
            "UNKNOWN",
            "ERROR: No acceptable volumes found",
        ],
    );
    e.set_tapelist("");
    e.run("amtape", &["@C", "taper"]).check(
        1,
        &[],
        &[
            "slot 1: volume 'TEST-1' is not in the tapelist",
            "slot 2: volume 'TEST-2' is not in the tapelist",
            "slot 3: volume 'TEST-3' is not in the tapelist",
            " all slots have been loaded",
            "UNKNOWN",
            "ERROR: No acceptable volumes found",
        ],
    );
}

#[test]
fn amtape_and_amlabel_on_chg_single() {
    let e = Env::new("at-single", 1, "");
    let vt = e.vts();
    let conf = std::fs::read_to_string(e.conf.join("amanda.conf")).unwrap();
    let conf = conf.replace(&format!("tpchanger \"chg-disk:{vt}\""), &format!("tapedev \"file:{vt}/slot1\""));
    std::fs::write(e.conf.join("amanda.conf"), conf).unwrap();
    e.run("amtape", &["@C", "show"]).check(
        0,
        &[],
        &["scanning all 1 slots in changer:", "slot   1: unlabeled volume"],
    );
    e.run("amtape", &["@C", "inventory"]).check(0, &["slot 1: unknown state"], &[]);
    e.run("amlabel", &["@C", "TEST-1"]).check(0, &LABELLED, &[]);
    e.run("amtape", &["@C", "slot", "2"]).check(
        0,
        &[],
        &["slot   1: time X              label TEST-1", "changed to slot 1"],
    );
    e.run("amtape", &["@C", "label", "TEST-1"]).check(
        0,
        &["slot   1: TEST-1"],
        &["slot   1: time X              label TEST-1", "label TEST-1 is now loaded from slot 1"],
    );
    e.run("amtape", &["@C", "eject"]).check(1, &[], &["ERROR: 'chg-single' does not support eject"]);
    e.run("amtape", &["@C", "reset"]).check(1, &[], &["ERROR: 'chg-single' does not support reset"]);
    e.run("amtape", &["@C", "taper"]).check(
        0,
        &[],
        &["slot 1: volume 'TEST-1'", "Will write to volume 'TEST-1' in slot 1."],
    );
    assert_eq!(e.tapelist(), e.line("TEST-1"));
}

// ---------------------------------------------------------------------------------------
// With the real Amanda

const AMANDA_CONF: &str = r#"org "amrs-test"
labelstr "^TEST-[0-9]+$"
tpchanger "chg-disk:@VT@"
tapelist "tapelist"
tapetype "vt"
tapecycle 2
define tapetype vt {
  length 100 mbytes
}
"#;

/// Fails unless Amanda is installed and we are root.
fn require_amanda() {
    for tool in ["/usr/sbin/amlabel", "/usr/sbin/amtape"] {
        assert!(Path::new(tool).exists(), "{tool} is missing: install Amanda 3.5.1 (tools/test.sh does)");
    }
    assert_eq!(
        nix_euid(),
        0,
        "the Amanda interoperability tests must run as root (to use /etc/amanda and run Amanda as backup)"
    );
}

fn nix_euid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

/// A configuration under /etc/amanda with its vtapes under /tmp, owned by `backup`,
/// removed (and any tmpfs under it unmounted) when dropped.
struct AmandaEnv {
    name: String,
    etc: PathBuf,
    vt: PathBuf,
}

impl AmandaEnv {
    fn new(tag: &str) -> AmandaEnv {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("amrs-test-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let env = AmandaEnv {
            etc: Path::new("/etc/amanda").join(&name),
            vt: PathBuf::from(format!("/tmp/{name}-vt")),
            name,
        };
        env.reset("", 3);
        env
    }

    /// A fresh configuration with `slots` empty slots.
    fn reset(&self, extra: &str, slots: u32) {
        self.unmount_all();
        let _ = std::fs::remove_dir_all(&self.etc);
        let _ = std::fs::remove_dir_all(&self.vt);
        std::fs::create_dir_all(&self.etc).unwrap();
        for s in 1..=slots {
            std::fs::create_dir_all(self.vt.join(format!("slot{s}"))).unwrap();
        }
        let conf = AMANDA_CONF.replace("@VT@", &self.vt.display().to_string()) + extra;
        std::fs::write(self.etc.join("amanda.conf"), conf).unwrap();
        std::fs::write(self.etc.join("tapelist"), "").unwrap();
        self.chown();
    }

    fn chown(&self) {
        let st = Command::new("chown")
            .arg("-R")
            .arg("backup:backup")
            .arg(&self.etc)
            .arg(&self.vt)
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn unmount_all(&self) {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let prefix = format!("{}/", self.vt.display());
        for m in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|m| m.starts_with(&prefix))
        {
            let _ = Command::new("umount").arg(m).status();
        }
    }

    /// Runs Amanda's tool as `backup`; `@C` is the configuration name.
    fn amanda(&self, args: &[&str]) -> Run {
        let line: Vec<String> = args.iter().map(|a| shell_quote(&a.replace("@C", &self.name))).collect();
        let out = Command::new("su")
            .args(["backup", "-s", "/bin/sh", "-c", &line.join(" ")])
            .stdin(Stdio::null())
            .output()
            .expect("run Amanda");
        Run::of(out)
    }

    fn tapelist(&self) -> String {
        std::fs::read_to_string(self.etc.join("tapelist")).unwrap_or_default()
    }

    /// The slot a changer operation would start from: the per-configuration entry of the
    /// chg-disk state, else its `current`, else the `data` link, else slot 1.
    fn current(&self) -> String {
        use amrs::device::changer::state::{parse_state, PerlValue};
        let text = std::fs::read_to_string(self.vt.join("state")).unwrap_or_default();
        let state = parse_state(&text).unwrap_or(PerlValue::empty_hash());
        let changer = format!("chg-disk:{}", self.vt.display());
        let path = ["current_slot", "config", &self.name, "storage", &self.name, "changer", &changer];
        state
            .get_path(&path)
            .or_else(|| state.get("current"))
            .and_then(PerlValue::as_str)
            .map(str::to_owned)
            .or_else(|| std::fs::read_link(self.vt.join("data")).ok().map(|l| l.display().to_string()))
            .unwrap_or_else(|| "slot1".into())
    }

    /// Every file of the vtapes (but the changer state), with its size.
    fn files(&self) -> Vec<(String, u64)> {
        let mut v = Vec::new();
        for slot in std::fs::read_dir(&self.vt).unwrap().flatten() {
            // Not the `data` link to the current slot (compared as `current`).
            if slot.file_type().unwrap().is_dir() {
                for f in std::fs::read_dir(slot.path()).unwrap().flatten() {
                    let name =
                        format!("{}/{}", slot.file_name().to_string_lossy(), f.file_name().to_string_lossy());
                    v.push((name, f.metadata().unwrap().len()));
                }
            }
        }
        v.sort();
        v
    }
}

impl Drop for AmandaEnv {
    fn drop(&mut self) {
        self.unmount_all();
        let _ = std::fs::remove_dir_all(&self.etc);
        let _ = std::fs::remove_dir_all(&self.vt);
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A step before the compared command: Amanda's tool, or a shell command (`@VT`, `@ETC`
/// stand for the vtape and configuration directories).
enum Step {
    Amanda(&'static [&'static str]),
    Sh(&'static str),
}

/// Everything a run leaves that the comparison looks at.
#[derive(Debug, PartialEq)]
struct Outcome {
    run: Run,
    tapelist: String,
    files: Vec<(String, u64)>,
    current: String,
}

impl AmandaEnv {
    fn outcome(&self, setup: &[Step], extra: &str, command: &[&str], real: bool) -> Outcome {
        self.reset(extra, 3);
        for step in setup {
            match step {
                Step::Amanda(args) => {
                    let r = self.amanda(args);
                    assert_eq!(r.code, 0, "setup {args:?}: {r:?}");
                }
                Step::Sh(cmd) => {
                    let cmd = cmd
                        .replace("@VT", &self.vt.display().to_string())
                        .replace("@ETC", &self.etc.display().to_string())
                        .replace("@C", &self.name);
                    assert!(Command::new("sh").arg("-c").arg(&cmd).status().unwrap().success(), "{cmd}");
                }
            }
        }
        self.chown();
        let run = if real { self.amanda(command) } else { self.ours_tool(command) };
        let outcome =
            Outcome { run, tapelist: self.tapelist(), files: self.files(), current: self.current() };
        self.unmount_all();
        outcome
    }

    fn ours_tool(&self, command: &[&str]) -> Run {
        let args: Vec<String> = command[1..].iter().map(|a| a.replace("@C", &self.name)).collect();
        let out = common::tool(command[0])
            .args(&args)
            .env_remove("AMANDA_CONFIG_DIR")
            .stdin(Stdio::null())
            .output()
            .expect("run our tool");
        self.chown();
        Run::of(out)
    }
}

/// The runs compared with Amanda's: (name, setup, extra amanda.conf text, command).
fn side_by_side_cases() -> Vec<(&'static str, Vec<Step>, &'static str, Vec<&'static str>)> {
    use Step::*;
    let l1: &'static [&'static str] = &["amlabel", "@C", "TEST-1", "slot", "1"];
    let l2: &'static [&'static str] = &["amlabel", "@C", "TEST-2", "slot", "2"];
    let used = "cat > @ETC/tapelist <<'X'
20240103000000 TEST-3 reuse BLOCKSIZE:32 POOL:@C STORAGE:@C CONFIG:@C
20240102000000 TEST-2 reuse BLOCKSIZE:32 POOL:@C STORAGE:@C CONFIG:@C
20240101000000 TEST-1 reuse BLOCKSIZE:32 POOL:@C STORAGE:@C CONFIG:@C
X";
    let l3: &'static [&'static str] = &["amlabel", "@C", "TEST-3", "slot", "3"];
    vec![
        ("label fresh", vec![], "", vec!["amlabel", "@C", "TEST-1", "slot", "1"]),
        ("label current", vec![Amanda(l1), Amanda(&["amtape", "@C", "slot", "3"])], "", vec!["amlabel", "@C", "TEST-3"]),
        ("label keeps current", vec![Amanda(l1), Amanda(&["amtape", "@C", "slot", "2"])], "", vec!["amlabel", "@C", "TEST-3", "slot", "3"]),
        ("label dup", vec![Amanda(l1)], "", vec!["amlabel", "@C", "TEST-1", "slot", "2"]),
        ("label labelstr", vec![], "", vec!["amlabel", "@C", "FOO", "slot", "2"]),
        ("label active", vec![Amanda(l1)], "", vec!["amlabel", "@C", "TEST-2", "slot", "1"]),
        ("label active -f", vec![Amanda(l1)], "", vec!["amlabel", "-f", "@C", "TEST-2", "slot", "1"]),
        ("label other config", vec![Amanda(l1), Sh("sed -i 's/CONFIG:[^ ]*/CONFIG:other/' @ETC/tapelist")], "", vec!["amlabel", "@C", "TEST-2", "slot", "1"]),
        ("label not in tapelist -f", vec![Amanda(l1), Sh(": > @ETC/tapelist")], "", vec!["amlabel", "-f", "@C", "TEST-2", "slot", "1"]),
        ("label missing slot", vec![], "", vec!["amlabel", "@C", "TEST-2", "slot", "9"]),
        ("label full filesystem", vec![
            Amanda(l1),
            Sh("mount -t tmpfs -o size=64k tmpfs @VT/slot2 && dd if=/dev/zero of=@VT/slot2/filler bs=4k count=100 2>/dev/null; true"),
        ], "", vec!["amlabel", "@C", "TEST-2", "slot", "2"]),
        ("label autolabel", vec![Amanda(l1)], "autolabel \"TEST-%\" empty\n", vec!["amlabel", "@C", "slot", "2"]),
        ("label meta", vec![], "", vec!["amlabel", "--meta", "M1", "@C", "TEST-3", "slot", "2"]),
        ("label meta mismatch", vec![Amanda(&["amlabel", "--meta", "M1", "@C", "TEST-3", "slot", "2"])], "", vec!["amlabel", "--meta", "M2", "@C", "TEST-4", "slot", "3"]),
        // (Amanda loops forever when --meta matches volumes in several slots.)
        ("assign", vec![Amanda(l1), Amanda(l2)], "", vec!["amlabel", "--assign", "@C", "TEST-", "--barcode", "B"]),
        ("assign meta", vec![Amanda(l1), Amanda(l2)], "", vec!["amlabel", "--assign", "@C", "TEST-2", "--meta", "M1"]),
        ("assign conflict", vec![Amanda(l1), Amanda(&["amlabel", "--assign", "@C", "TEST-1", "--meta", "M1"])], "", vec!["amlabel", "--assign", "@C", "TEST-1", "--meta", "M2"]),
        ("show", vec![Amanda(l1), Amanda(l2)], "", vec!["amtape", "@C", "show"]),
        ("show list", vec![Amanda(l1), Amanda(l2)], "", vec!["amtape", "@C", "show", "3-1,9,2"]),
        ("inventory", vec![Amanda(l1), Amanda(l2), Amanda(&["amlabel", "--assign", "@C", "TEST-2", "--meta", "MM"])], "", vec!["amtape", "@C", "inventory"]),
        ("slot", vec![Amanda(l1)], "", vec!["amtape", "@C", "slot", "3"]),
        ("slot next", vec![Amanda(l1), Amanda(&["amtape", "@C", "slot", "3"])], "", vec!["amtape", "@C", "slot", "next"]),
        ("slot missing", vec![], "", vec!["amtape", "@C", "slot", "9"]),
        ("current", vec![Amanda(l1), Amanda(l2), Amanda(&["amtape", "@C", "slot", "2"])], "", vec!["amtape", "@C", "current"]),
        ("label found", vec![Amanda(l1), Amanda(l2)], "", vec!["amtape", "@C", "label", "TEST-2"]),
        ("label not found", vec![Amanda(l1), Amanda(l2)], "", vec!["amtape", "@C", "label", "TEST-9"]),
        ("reset", vec![Amanda(l1), Amanda(&["amtape", "@C", "slot", "3"])], "", vec!["amtape", "@C", "reset"]),
        ("eject", vec![], "", vec!["amtape", "@C", "eject"]),
        ("update", vec![], "", vec!["amtape", "@C", "update"]),
        ("usage", vec![], "", vec!["amtape", "@C", "nonsense"]),
        ("taper empty", vec![], "", vec!["amtape", "@C", "taper"]),
        ("taper autolabel", vec![Amanda(l1)], "autolabel \"TEST-%\" empty\n", vec!["amtape", "@C", "taper"]),
        ("taper labelled", vec![Amanda(l1), Amanda(l2), Amanda(&["amtape", "@C", "slot", "2"])], "", vec!["amtape", "@C", "taper"]),
        ("taper not in tapelist", vec![Amanda(l1), Sh(": > @ETC/tapelist")], "", vec!["amtape", "@C", "taper"]),
        ("taper reusable", vec![Amanda(l1), Amanda(l2), Amanda(l3), Sh(used)], "", vec!["amtape", "@C", "taper"]),
        ("taper reusable, current 3", vec![Amanda(l1), Amanda(l2), Amanda(l3), Sh(used), Amanda(&["amtape", "@C", "slot", "3"])], "", vec!["amtape", "@C", "taper"]),
        ("taper none reusable", vec![Amanda(l1), Amanda(l2), Amanda(l3), Sh(used)], "", vec!["amtape", "-o", "tapecycle=5", "@C", "taper"]),
        ("inventory retention", vec![Amanda(l1), Amanda(l2), Amanda(l3), Sh(used)], "", vec!["amtape", "@C", "inventory"]),
        ("taper other config", vec![Amanda(l1), Sh("sed -i 's/CONFIG:[^ ]*/CONFIG:other/' @ETC/tapelist")], "", vec!["amtape", "@C", "taper"]),
    ]
}

#[test]
fn same_results_as_amanda_side_by_side() {
    require_amanda();
    let env = AmandaEnv::new("cmp");
    let mut failures = Vec::new();
    let cases = side_by_side_cases();
    for (name, setup, extra, command) in &cases {
        let amanda = env.outcome(setup, extra, command, true);
        let ours = env.outcome(setup, extra, command, false);
        // Device errors are ours by design (they name the device and file).
        let device_text = |o: &Outcome| o.run.out.contains("No space left on device");
        if device_text(&amanda) && device_text(&ours) {
            let head = |s: &str| s.split("Error writing label:").next().unwrap_or("").to_owned();
            if (head(&amanda.run.out), amanda.run.code, &amanda.tapelist, &amanda.files)
                == (head(&ours.run.out), ours.run.code, &ours.tapelist, &ours.files)
            {
                continue;
            }
        }
        if amanda != ours {
            failures.push(format!("{name} ({command:?}):\n  Amanda: {amanda:?}\n  ours:   {ours:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs differ from Amanda's:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn amanda_reads_what_we_labelled() {
    require_amanda();
    let env = AmandaEnv::new("ours2am");
    env.ours_tool(&["amlabel", "@C", "TEST-1", "slot", "1"]).check(0, &LABELLED, &[]);
    env.ours_tool(&["amlabel", "@C", "TEST-3", "slot", "3"]).check(0, &strs(&labelled("TEST-3")), &[]);
    let n = &env.name;
    let ours = format!(
        "0 TEST-3 reuse BLOCKSIZE:32 POOL:{n} STORAGE:{n} CONFIG:{n}\n0 TEST-1 reuse BLOCKSIZE:32 POOL:{n} STORAGE:{n} CONFIG:{n}\n"
    );
    assert_eq!(env.tapelist(), ours);
    env.amanda(&["amtape", "@C", "show"]).check(
        0,
        &[],
        &[
            "scanning all 3 slots in changer:",
            "slot   1: date X              label TEST-1",
            "slot   2: unlabeled volume",
            "slot   3: date X              label TEST-3",
        ],
    );
    env.amanda(&["amtape", "@C", "inventory"]).check(
        0,
        &[
            "slot 1: label TEST-1 (current) [retention-no]",
            "slot 2: blank",
            "slot 3: label TEST-3 [retention-no]",
        ],
        &[],
    );
    // Amanda's amlabel reads our tapelist and our volumes.
    env.amanda(&["amlabel", "@C", "TEST-1", "slot", "2"]).check(
        1,
        &[],
        &["Label 'TEST-1' already on a volume"],
    );
    env.amanda(&["amlabel", "@C", "TEST-2", "slot", "3"]).check(
        1,
        &[
            "Reading label...",
            "Volume with label 'TEST-3' is active and contains data from this configuration.",
            "Not writing label.",
        ],
        &["Not writing label."],
    );
    env.amanda(&["amlabel", "@C", "TEST-2", "slot", "2"]).check(0, &strs(&labelled("TEST-2")), &[]);
    assert_eq!(
        env.tapelist(),
        format!("0 TEST-2 reuse BLOCKSIZE:32 POOL:{n} STORAGE:{n} CONFIG:{n}\n") + &ours
    );
    env.amanda(&["amtape", "@C", "label", "TEST-3"]).check(
        0,
        &["slot   3: TEST-3"],
        &["slot   3: time X              label TEST-3", "label TEST-3 is now loaded from slot 3"],
    );
}

#[test]
fn we_read_what_amanda_labelled() {
    require_amanda();
    let env = AmandaEnv::new("am2ours");
    env.amanda(&["amlabel", "@C", "TEST-1", "slot", "1"]).check(0, &LABELLED, &[]);
    env.amanda(&["amlabel", "--meta", "M1", "@C", "TEST-2", "slot", "2"]).check(
        0,
        &strs(&labelled("TEST-2")),
        &[],
    );
    env.amanda(&["amtape", "@C", "slot", "2"]);
    let amandas = env.tapelist();
    env.ours_tool(&["amtape", "@C", "show"]).check(
        0,
        &[],
        &[
            "scanning all 3 slots in changer:",
            "slot   1: date X              label TEST-1",
            "slot   2: date X              label TEST-2",
            "slot   3: unlabeled volume",
        ],
    );
    env.ours_tool(&["amtape", "@C", "inventory"]).check(
        0,
        &[
            "slot 1: label TEST-1 [retention-no]",
            "slot 2: label TEST-2 (M1) (current) [retention-no]",
            "slot 3: blank",
        ],
        &[],
    );
    env.ours_tool(&["amtape", "@C", "current"]).check(
        0,
        &[],
        &["slot   2: time X              label TEST-2", "changed to slot 2"],
    );
    // Our amlabel honours Amanda's tapelist, volumes and changer meta label.
    env.ours_tool(&["amlabel", "@C", "TEST-2", "slot", "3"]).check(
        1,
        &[],
        &["Label 'TEST-2' already on a volume"],
    );
    env.ours_tool(&["amlabel", "@C", "TEST-3", "slot", "1"]).check(
        1,
        &[
            "Reading label...",
            "Volume with label 'TEST-1' is active and contains data from this configuration.",
            "Not writing label.",
        ],
        &["Not writing label."],
    );
    assert_eq!(env.tapelist(), amandas);
    env.ours_tool(&["amlabel", "@C", "TEST-3", "slot", "3"]).check(0, &strs(&labelled("TEST-3")), &[]);
    let n = &env.name;
    assert_eq!(
        env.tapelist(),
        format!("0 TEST-3 reuse META:M1 BLOCKSIZE:32 POOL:{n} STORAGE:{n} CONFIG:{n}\n") + &amandas
    );
    // And Amanda sees the result.
    env.amanda(&["amtape", "@C", "show", "3"]).check(0, &[], &["slot   3: date X              label TEST-3"]);
    env.amanda(&["amtape", "@C", "taper"]).check(
        0,
        &[],
        &["slot 2: volume 'TEST-2'", "Will write to volume 'TEST-2' in slot 2."],
    );
}
