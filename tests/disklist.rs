//! disklist(5): the article's disklists (Figures 3 and 6) and the rest of the syntax.

mod common;

use amrs::config::{self, disklist, ConfigSource, Level, SectionKind};
use std::path::Path;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/icefloe");

fn load() -> (config::Config, disklist::Disklist) {
    let src = ConfigSource::resolve(FIXTURE);
    let cfg = config::load_server(&src, &[]);
    assert_eq!(cfg.level, Level::Ok, "{:?}", cfg.diagnostics);
    let dl = disklist::read_disklist(&cfg, &format!("{FIXTURE}/disklist"));
    (cfg, dl)
}

#[test]
fn article_disklists_parse() {
    let (_, dl) = load();
    assert_eq!(dl.level, Level::Ok, "{:?}", dl.diagnostics);
    let names: Vec<(&str, &str)> = dl.dles.iter().map(|d| (d.host.as_str(), d.disk.as_str())).collect();
    assert_eq!(
        names,
        vec![
            ("firewall.icefloehousing.com", "/var/log"),
            ("server.icefloehousing.com", "/home"),
            ("server.icefloehousing.com", "/shared"),
            ("server.icefloehousing.com", "/repository"),
            ("server.icefloehousing.com", "/usr/local"),
            ("server.icefloehousing.com", "/etc"),
            ("server.icefloehousing.com", "/var"),
            ("server.icefloehousing.com", "/var/lib/amanda/dumps"),
            ("server.icefloehousing.com", "//desktop/BADAPP1"),
            ("server.icefloehousing.com", "/srv/my share"),
        ]
    );
    // Lines are where each entry starts.
    assert_eq!(
        dl.dles.iter().map(|d| d.line).collect::<Vec<_>>(),
        vec![2, 6, 11, 15, 20, 24, 29, 33, 40, 45]
    );
}

#[test]
fn inline_dumptypes_inherit_and_override() {
    let (_, dl) = load();
    let cfg = &dl.config;
    let get = |disk: &str, parm: &str| {
        let d = dl.dles.iter().find(|d| d.disk == disk).unwrap();
        cfg.lookup(SectionKind::Dumptype, &d.dumptype).unwrap().get(parm).display_strs().join(" ")
    };
    assert_eq!(get("/home", "DUMPTYPE_COMPRESS"), "CLIENT FAST");
    assert_eq!(get("/home", "DUMPTYPE_PROGRAM"), "GNUTAR");
    assert_eq!(get("/home", "DUMPTYPE_HOLDINGDISK"), "AUTO");
    assert_eq!(get("/var/lib/amanda/dumps", "DUMPTYPE_HOLDINGDISK"), "NEVER");
    assert_eq!(get("/var", "DUMPTYPE_EXCLUDE"), "LIST \"/var/lib/amanda/ifh/exclude\" FILE");
    let d = dl.dles.iter().find(|d| d.disk == "/var/log").unwrap();
    assert_eq!(d.dumptype, "custom(firewall.icefloehousing.com:_var_log).1");
}

#[test]
fn spindle_interface_device_and_quotes() {
    let (_, dl) = load();
    let share = dl.dles.iter().find(|d| d.disk == "//desktop/BADAPP1").unwrap();
    assert_eq!((share.spindle, share.interface.as_str()), (1, "eth0"));
    let quoted = dl.dles.iter().find(|d| d.disk == "/srv/my share").unwrap();
    assert_eq!(quoted.device.as_deref(), Some("/dev/sdb1"));
    assert_eq!(quoted.dumptype, "comp-user-tar");
    assert_eq!((quoted.spindle, quoted.interface.as_str()), (-1, "default"));
}

fn errors_of(disklist_text: &str) -> Vec<String> {
    let dir = common::scratch(&format!(
        "dl-{:x}",
        disklist_text.len() * 31 + disklist_text.bytes().map(usize::from).sum::<usize>()
    ));
    for f in ["amanda.conf", "dumptypes"] {
        std::fs::copy(Path::new(FIXTURE).join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("disklist"), disklist_text).unwrap();
    let cfg = config::load_server(&ConfigSource::resolve(&dir.display().to_string()), &[]);
    let path = dir.join("disklist").display().to_string();
    let dl = disklist::read_disklist(&cfg, &path);
    assert_eq!(dl.level, Level::Errors);
    dl.diagnostics.iter().map(|d| d.replace(&path, "DL")).collect()
}

#[test]
fn disklist_errors_name_file_and_line() {
    assert_eq!(
        errors_of("h1 /a user-tar\nh1 /a user-tar\n"),
        vec!["\"DL\", line 2: duplicate disk record, previous on line 1"]
    );
    assert_eq!(errors_of("# c\nh1 /a nosuch\n"), vec!["\"DL\", line 2: disk dumptype 'nosuch' not found"]);
    assert_eq!(errors_of("h1 /a dev nosuch\n"), vec!["\"DL\", line 1: undefined dumptype `nosuch'"]);
    assert_eq!(errors_of("h1\n"), vec!["\"DL\", line 1: disk device name expected"]);
    assert_eq!(errors_of("h1 /a user-tar x\n"), vec!["\"DL\", line 1: non-integer spindle `x'"]);
    assert_eq!(
        errors_of("h1 /a user-tar 1 eth9\n"),
        vec!["\"DL\", line 1: undefined network interface `eth9'"]
    );
    assert_eq!(
        errors_of("h1 /a {\n user-tar }\n"),
        vec![
            "'DL', line 2: end of line is expected",
            "'DL', line 1: dumptype custom(h1:_a).1 is not closed: \"}\" is expected before the end of the file"
        ]
    );
    assert_eq!(
        errors_of("H1 /a user-tar\nh1 /b user-tar\n"),
        vec!["\"DL\", line 2: Same host with different case: \"H1\" and \"h1\"."]
    );
    assert_eq!(
        errors_of("h1 /a { user-tar }\n"),
        vec![
            "\"DL\", line 1: expected line break after `{', ignoring rest of line",
            "\"DL\", line 1: '}' on same line than '{'"
        ]
    );
}
