//! `amgetconf`: print configuration parameters, byte for byte as Amanda 3.5.1 does.
//!
//! `amgetconf [--client] [--execute-where client|server] [-l|--list] [-o NAME=VALUE]…
//! CONFIG PARAM` — options and arguments in any order, parsed as Amanda's Getopt::Long does
//! ([`super::getopt`]).

use std::io::Write;

use crate::config::{self, ConfigSource, Level, Override, SectionKind};

use super::getopt::getopt;

const USAGE: &str = "Usage: amgetconf [--platform] [--distro] [--client] [--execute-where client|server] [-l|--list] [-o configoption]* <config> <paramname>
  (any ordering of options and arguments is acceptable)

--client is equivalent to --execute-where client

--execute-where tells amgetconf whether to operate on the client or the
server; the server is the default.

paramname can be one of
  dbopen.APPNAME -- open a debug file
  dbclose.APPNAME:FILENAME -- close debug file FILENAME
  build.PARAM -- get a build parameter
  PARAM -- get an Amanda configuration parameter

For all but Amanda configuration parameters, the <config> option is
ignored, but must be present.  For Amanda configuration parameters,
values in subsections are specified in the form TYPE:NAME:PARAMETER.

With --list, PARAM can be one of
    application
    changer
    device
    dumptype
    holdingdisk
    interactivity
    interface
    policy
    script
    storage
    taperscan
    tapetype
";

/// Where Amanda's Perl `die` says it stopped; scripts match on the whole line, so we
/// print the same location.
const DIE_AT: &str = "at /usr/sbin/amgetconf line";

struct Args {
    list: bool,
    client: bool,
    overrides: Vec<Override>,
    positional: Vec<String>,
}

fn usage() -> i32 {
    print!("{USAGE}");
    1
}

fn fail(msg: &str) -> i32 {
    eprintln!("{msg}");
    1
}

fn parse_args(argv: &[String]) -> Result<Args, i32> {
    // Amanda's GetOptions: the handlers (`--version`, `-o`, `--execute-where`, `--client`)
    // act in command-line order, a command-line error only shows as the usage text once
    // all options are read (Getopt::Long's warning goes to Amanda's debug log).
    // `--platform` and `--distro` are not provided: they are left unknown, so they give
    // the usage text.
    let parsed = getopt(argv, &["version", "list|l", "o=s", "execute-where=s", "client"]);
    let (options, bad_option, positional) = parsed.lenient();
    let mut a = Args { list: false, client: false, overrides: Vec::new(), positional };
    let mut where_set: Option<bool> = None;
    for (name, value) in options {
        let value = value.unwrap_or_default();
        match name {
            "list" => a.list = true,
            "client" => {
                if where_set == Some(false) {
                    return Err(fail(
                        "--execute-where=server conflicts with --execute-where=client or --client.",
                    ));
                }
                where_set = Some(true);
                a.client = true;
            }
            "execute-where" => {
                let client = match value.to_ascii_lowercase().as_str() {
                    "client" => true,
                    "server" => false,
                    _ => {
                        return Err(fail(&format!(
                            "Invalid value ({value}) for --execute-where. Must be client or server."
                        )))
                    }
                };
                if where_set.is_some_and(|w| w != client) {
                    return Err(fail(
                        "--execute-where=server conflicts with --execute-where=client or --client.",
                    ));
                }
                where_set = Some(client);
                a.client = client;
            }
            "version" => {
                println!("amgetconf-{}", env!("CARGO_PKG_VERSION"));
                return Err(0);
            }
            _ => a.overrides.push(Override::parse(&value).map_err(|m| fail(&m))?),
        }
    }
    if bad_option {
        return Err(usage());
    }
    Ok(a)
}

/// Build parameters of the Amanda installation we stand in for.
fn build_param(name: &str) -> Option<String> {
    use crate::config::parser::build::*;
    let v = match name {
        "version" => "3.5.1",
        "config_dir" => CONFIG_DIR,
        "amanda_tmpdir" => AMANDA_TMPDIR,
        "gnutar_listed_incremental_dir" | "listed_inc_dir" => GNUTAR_LISTED_INCREMENTAL_DIR,
        "amandates_file" | "default_amandates_file" => DEFAULT_AMANDATES_FILE,
        "default_config" => DEFAULT_CONFIG,
        "default_server" | "default_tape_server" => DEFAULT_SERVER,
        "client_login" => CLIENT_LOGIN,
        "security_file" => "/etc/amanda-security.conf",
        "compress_suffix" => ".gz",
        "compress_path" | "uncompress_path" => "/bin/gzip",
        "compress_fast_opt" => "--fast",
        "compress_best_opt" => "--best",
        "uncompress_opt" => "-dc",
        "gnutar" | "gnutar_path" => "/bin/tar",
        "use_version_suffixes" => "no",
        "__empty" => "",
        _ => return None,
    };
    Some(v.to_string())
}

pub fn main(argv: &[String]) -> i32 {
    let args = match parse_args(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let (config_name, param) = match args.positional.as_slice() {
        [p] => (None, p.clone()),
        [c, p, ..] => (Some(c.clone()), p.clone()),
        [] => return usage(),
    };

    if let Some(b) = param.strip_prefix("build.") {
        if args.list {
            return usage();
        }
        return match build_param(&b.to_ascii_lowercase()) {
            Some(v) => {
                println!("{v}");
                0
            }
            None => fail(&format!("amgetconf: no such parameter \"{param}\"")),
        };
    }

    let source = match &config_name {
        Some(c) => ConfigSource::resolve(c),
        None => {
            // No configuration named: Amanda reads ./amanda.conf if there is one.
            let cwd = std::env::current_dir().unwrap_or_default();
            if cwd.join("amanda.conf").exists() {
                ConfigSource::resolve(&format!("{}/", cwd.display()))
            } else {
                ConfigSource { dir: cwd, name: String::new(), global_file: None }
            }
        }
    };
    let cfg = if args.client {
        config::load_client(&source, &args.overrides)
    } else {
        config::load_server(&source, &args.overrides)
    };
    if cfg.level >= Level::Warnings {
        for d in &cfg.diagnostics {
            eprintln!("{d}");
        }
        if cfg.level >= Level::Errors {
            eprintln!("amgetconf: errors processing config file {DIE_AT} 363.\n");
            return 1;
        }
    }
    if !args.client && config_name.is_some() {
        let diskfile = cfg.global_str("CNF_DISKFILE").to_string();
        let path =
            if diskfile.starts_with('/') { diskfile } else { format!("{}/{diskfile}", source.dir.display()) };
        let dl = config::disklist::read_disklist(&cfg, &path);
        for d in &dl.diagnostics {
            eprintln!("{d}");
        }
        if dl.level >= Level::Errors {
            eprintln!("amgetconf: Errors processing disklist {DIE_AT} 373.\n");
            return 1;
        }
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.list {
        let Some(kind) = SectionKind::from_list_name(&param).filter(|_| is_subsection_name(&param)) else {
            return fail(&format!("amgetconf: no such parameter \"{param}\""));
        };
        for name in cfg.list(kind) {
            let _ = writeln!(out, "{name}");
        }
        return 0;
    }
    let lower = param.to_ascii_lowercase();
    for prefix in ["property:", "device-property:", "device_property:"] {
        if let Some(prop) = lower.strip_prefix(prefix) {
            let parm = if prefix == "property:" { "CNF_PROPERTY" } else { "CNF_DEVICE_PROPERTY" };
            if let config::Value::PropList(pl) = &cfg.global(parm).value {
                // Amanda's Perl looks the lower-cased name up in a hash keyed by the
                // stored names ("_" already turned into "-"), so "a_b" never matches.
                if let Some((_, p)) = pl.iter().find(|(k, _)| **k == prop) {
                    if let Some(v) = p.values.first() {
                        let _ = writeln!(out, "{v}");
                    }
                }
            }
            return 0;
        }
    }
    match cfg.param_by_name(&param) {
        None => fail(&format!("amgetconf: no such parameter \"{param}\"")),
        Some((_, val)) => {
            let lines = val.display_strs();
            if lines.is_empty() {
                return fail(&format!("amgetconf: no such parameter \"{param}\""));
            }
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
            0
        }
    }
}

/// `%Amanda::Config::subsection_names`: the names `--list` accepts, exactly.
fn is_subsection_name(name: &str) -> bool {
    matches!(
        name,
        "application"
            | "application-tool"
            | "script-tool"
            | "changer"
            | "device"
            | "dumptype"
            | "holdingdisk"
            | "interactivity"
            | "interface"
            | "policy"
            | "script"
            | "storage"
            | "taperscan"
            | "tapetype"
    )
}
