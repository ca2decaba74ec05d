//! The tools, one module each: argument parsing, calling the library, exit codes.
//!
//! All tools live in one multi-call binary (`amrs`) that dispatches on the name it was
//! started as (`amgetconf` → [`amgetconf::main`]); see ARCHITECTURE.md for why.

pub mod amaead;
pub mod ambench;
pub mod amgetconf;
pub mod amlabel;
pub mod amrestore;
pub mod amtape;
pub(crate) mod getopt;
pub mod quickstart;

/// A tool's entry point: arguments after the program name; returns the exit status.
pub type ToolMain = fn(&[String]) -> i32;

/// The tools this binary provides, by their Amanda names.
pub const TOOLS: &[(&str, ToolMain)] = &[
    ("amaead", amaead::main),
    ("ambench", ambench::main),
    ("amgetconf", amgetconf::main),
    ("amlabel", amlabel::main),
    ("amrestore", amrestore::main),
    ("amtape", amtape::main),
];

/// Finds a tool by name.
pub fn tool(name: &str) -> Option<ToolMain> {
    TOOLS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Runs the tool named by `argv[0]` (or by `argv[1]` when started as `amrs`).
pub fn dispatch(argv: Vec<String>) -> i32 {
    let prog = argv
        .first()
        .map(|a| {
            std::path::Path::new(a).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
        })
        .unwrap_or_default();
    if let Some(f) = tool(&prog) {
        return f(&argv[1..]);
    }
    match argv.get(1).map(String::as_str) {
        Some("install-links") => install_links(argv.get(2).map(String::as_str)),
        Some("quickstart") => quickstart::main(&argv[2..]),
        Some(name) => match tool(name) {
            Some(f) => f(&argv[2..]),
            None => {
                eprintln!("amrs: unknown tool '{name}'");
                usage()
            }
        },
        None => usage(),
    }
}

fn usage() -> i32 {
    eprintln!("usage: amrs TOOL [ARGS…]   (or run amrs under a tool's name)");
    eprintln!("       amrs install-links DIR   (create the tool links in DIR)");
    eprintln!("       amrs quickstart          (validate and show the built-in configuration)");
    let names: Vec<&str> = TOOLS.iter().map(|(n, _)| *n).collect();
    eprintln!("tools: {}", names.join(" "));
    2
}

/// Creates a symbolic link per tool in `dir`, pointing at this executable.
fn install_links(dir: Option<&str>) -> i32 {
    let Some(dir) = dir else {
        eprintln!("amrs install-links: a directory is required");
        return 2;
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("amrs install-links: {dir}: {e}");
        return 1;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("amrs install-links: cannot find this executable: {e}");
            return 1;
        }
    };
    for (name, _) in TOOLS {
        let link = std::path::Path::new(dir).join(name);
        let _ = std::fs::remove_file(&link);
        if let Err(e) = std::os::unix::fs::symlink(&exe, &link) {
            eprintln!("amrs install-links: {}: {e}", link.display());
            return 1;
        }
    }
    0
}
