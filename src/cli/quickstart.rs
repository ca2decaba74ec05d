//! `amrs quickstart`: the README's first command. For now it validates the built-in
//! default configuration and prints it with the values every tool would use; the
//! `amdump` issue turns it into a backup and restore of a directory.

use crate::config::{self, Level, SectionKind};

/// The built-in configuration: a vtape changer under a scratch directory, one holding
/// disk, one dumptype for GNU tar with fast compression.
pub const DEFAULT_AMANDA_CONF: &str = include_str!("../../dist/quickstart/amanda.conf");
pub const DEFAULT_DISKLIST: &str = include_str!("../../dist/quickstart/disklist");

pub fn main(_argv: &[String]) -> i32 {
    let dir = std::env::temp_dir().join(format!("amrs-quickstart-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(dir.join("amanda.conf"), DEFAULT_AMANDA_CONF))
        .and_then(|_| std::fs::write(dir.join("disklist"), DEFAULT_DISKLIST))
    {
        eprintln!("amrs quickstart: cannot write {}: {e}", dir.display());
        return 1;
    }
    let src = config::ConfigSource::resolve(&format!("{}", dir.display()));
    let cfg = config::load_server(&src, &[]);
    let code = report(&cfg, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    code
}

fn report(cfg: &config::Config, dir: &std::path::Path) -> i32 {
    for d in &cfg.diagnostics {
        eprintln!("{d}");
    }
    if cfg.level >= Level::Errors {
        eprintln!("amrs quickstart: the built-in configuration does not parse");
        return 1;
    }
    let dl = config::disklist::read_disklist(cfg, &dir.join("disklist").to_string_lossy());
    for d in &dl.diagnostics {
        eprintln!("{d}");
    }
    if dl.level >= Level::Errors {
        return 1;
    }
    println!("Built-in configuration (valid):");
    println!("----- amanda.conf -----");
    print!("{DEFAULT_AMANDA_CONF}");
    println!("----- disklist -----");
    print!("{DEFAULT_DISKLIST}");
    println!("----- resolved -----");
    for p in [
        "org",
        "dumpcycle",
        "runspercycle",
        "tapecycle",
        "tpchanger",
        "labelstr",
        "autolabel",
        "tapetype",
        "holdingdisk",
    ] {
        if let Some((_, v)) = cfg.param_by_name(p) {
            println!("{p:<14} {}", v.display_strs().join(" "));
        }
    }
    for d in &dl.dles {
        let dt = cfg.lookup(SectionKind::Dumptype, &d.dumptype);
        let comp = dt.map(|s| s.get("DUMPTYPE_COMPRESS").display_strs().join(" ")).unwrap_or_default();
        println!("DLE {} {} dumptype {} (compress {comp})", d.host, d.disk, d.dumptype);
    }
    0
}
