//! Bad input: each case gets a message naming the file and line, exit status 1, and
//! nothing on standard output. Messages are Amanda 3.5.1's (checked against the real
//! amgetconf where Amanda gives one), except where README.md lists an improvement.

mod common;

use std::path::PathBuf;

struct Outcome {
    exit: i32,
    stdout: String,
    stderr: Vec<String>,
    conf: String,
}

/// Writes `files` (name, text) into a fresh configuration directory, adds an empty
/// disklist unless given, and runs `amgetconf DIR org`.
fn run_case(case: &str, files: &[(&str, &str)]) -> Outcome {
    let root = common::scratch(&format!("errors-{case}"));
    let dir: PathBuf = root.join(case);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    if !files.iter().any(|(n, _)| *n == "disklist") {
        std::fs::write(dir.join("disklist"), "").unwrap();
    }
    let out = common::tool("amgetconf").arg(&dir).arg("org").output().unwrap();
    Outcome {
        exit: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).lines().map(str::to_string).collect(),
        conf: dir.join("amanda.conf").display().to_string(),
    }
}

/// Asserts a failed run whose diagnostics are exactly `want` (each `(line, message)`
/// about amanda.conf, or a full line when `line` is 0).
fn assert_errors(o: &Outcome, want: &[(i32, &str)]) {
    assert_eq!(o.exit, 1, "exit status; stderr: {:?}", o.stderr);
    assert_eq!(o.stdout, "", "nothing may be printed on stdout");
    let want: Vec<String> = want
        .iter()
        .map(
            |(line, msg)| {
                if *line == 0 {
                    msg.to_string()
                } else {
                    format!("'{}', line {line}: {msg}", o.conf)
                }
            },
        )
        .chain([
            "amgetconf: errors processing config file at /usr/sbin/amgetconf line 363.".to_string(),
            String::new(),
        ])
        .collect();
    assert_eq!(o.stderr, want);
}

#[test]
fn unterminated_string() {
    let o = run_case("unterminated", &[("amanda.conf", "inparallel 2\norg \"abc\ndumpcycle 3\n")]);
    assert_errors(&o, &[(2, "string not terminated")]);
}

#[test]
fn brace_not_at_end_of_line() {
    let o = run_case("brace", &[("amanda.conf", "org \"x\"\ndefine dumptype x { compress none }\n")]);
    // Amanda reads on after the complaint, treating the next lines as the block's.
    assert_eq!(o.stderr[0], format!("'{}', line 2: end of line is expected", o.conf));
    assert_eq!(o.exit, 1);
    assert_eq!(o.stdout, "");
}

#[test]
fn unknown_word() {
    // A word that is no keyword at all; Amanda then also complains about the rest.
    let o = run_case("unknown-word", &[("amanda.conf", "org \"x\"\n\nfrobnicate 5\n")]);
    assert_errors(&o, &[(3, "error: not a keyword."), (3, "end of line is expected")]);
}

#[test]
fn keyword_of_another_section() {
    let o = run_case("unknown-kw", &[("amanda.conf", "org \"x\"\n\ncompress client fast\n")]);
    assert_errors(&o, &[(3, "configuration keyword expected")]);
}

#[test]
fn unknown_keyword_in_section_names_its_token() {
    let o = run_case("unknown-kw-sec", &[("amanda.conf", "define tapetype t {\n  compress none\n}\n")]);
    // Amanda prints its internal token number before the message.
    assert_errors(&o, &[(2, "157 tapetype parameter expected"), (2, "end of line is expected")]);
}

#[test]
fn unknown_parent() {
    let o = run_case("parent", &[("amanda.conf", "define dumptype a {\n  global\n  compress none\n}\n")]);
    assert_errors(&o, &[(2, "dumptype parameter expected")]);
}

#[test]
fn inheritance_cycle_is_an_unknown_parent() {
    // A parent must be defined before its children, so a cycle cannot be closed: the
    // forward reference is reported where it is made, and so is a self-reference.
    let conf = "define dumptype a {\n  b\n}\ndefine dumptype b {\n  a\n}\ndefine dumptype c {\n  c\n}\n";
    let o = run_case("cycle", &[("amanda.conf", conf)]);
    assert_errors(&o, &[(2, "dumptype parameter expected"), (8, "dumptype parameter expected")]);
}

#[test]
fn undefined_tapetype() {
    let o = run_case("tapetype", &[("amanda.conf", "org \"x\"\ntapetype NOSUCH\n")]);
    assert_errors(&o, &[(2, "tapetype NOSUCH is not defined")]);
}

#[test]
fn undefined_holdingdisk() {
    let o = run_case("holding", &[("amanda.conf", "org \"x\"\nholdingdisk hd9\n")]);
    assert_errors(&o, &[(2, "holdingdisk hd9 is not defined")]);
}

#[test]
fn undefined_interface_in_disklist() {
    let o = run_case(
        "interface",
        &[
            ("amanda.conf", "define dumptype dt {\n  program \"GNUTAR\"\n}\n"),
            ("disklist", "# hosts\nhost1 /etc dt 1 nosuchif\n"),
        ],
    );
    let dl = o.conf.replace("amanda.conf", "disklist");
    assert_eq!(o.exit, 1);
    assert_eq!(
        o.stderr,
        vec![
            format!("\"{dl}\", line 2: undefined network interface `nosuchif'"),
            "amgetconf: Errors processing disklist at /usr/sbin/amgetconf line 373.".to_string(),
            String::new()
        ]
    );
}

#[test]
fn undefined_dumptype_in_disklist() {
    let o = run_case("dl-dumptype", &[("amanda.conf", ""), ("disklist", "host1 /etc nosuch-dt\n")]);
    let dl = o.conf.replace("amanda.conf", "disklist");
    assert_eq!(o.exit, 1);
    assert_eq!(o.stderr[0], format!("\"{dl}\", line 1: disk dumptype 'nosuch-dt' not found"));
}

#[test]
fn missing_include_file() {
    let o = run_case("include", &[("amanda.conf", "org \"x\"\nincludefile \"nosuch.conf\"\n")]);
    let missing = o.conf.replace("amanda.conf", "nosuch.conf");
    assert_errors(&o, &[(2, &format!("could not open conf file '{missing}': No such file or directory"))]);
}

#[test]
fn negative_where_forbidden() {
    let o = run_case("negative", &[("amanda.conf", "dumpcycle -1\ninparallel 0\nnetusage -5\n")]);
    assert_errors(
        &o,
        &[
            (1, "DUMPCYCLE must be nonnegative"),
            (2, "INPARALLEL must be positive"),
            (3, "NETUSAGE must be positive"),
        ],
    );
}

#[test]
fn non_integer_where_integer_expected() {
    let o = run_case("nonint", &[("amanda.conf", "inparallel abc\nmaxdumps 1.5\n")]);
    assert_errors(
        &o,
        &[
            (1, "an integer is expected"),
            (1, "INPARALLEL must be positive"),
            (2, "an integer is expected"),
            (2, "MAXDUMPS must be positive"),
        ],
    );
}

#[test]
fn unknown_suffix() {
    let o = run_case("suffix", &[("amanda.conf", "define tapetype t {\n  length 5 furlongs\n}\n")]);
    assert_errors(&o, &[(2, "end of line is expected")]);
}

#[test]
fn unclosed_section() {
    let o = run_case("unclosed", &[("amanda.conf", "org \"x\"\ndefine dumptype z {\n  compress none\n")]);
    assert_errors(&o, &[(2, "dumptype z is not closed: \"}\" is expected before the end of the file")]);
}

#[test]
fn bad_boolean() {
    let o = run_case("bool", &[("amanda.conf", "define dumptype d {\n  index maybe\n}\n")]);
    assert_errors(&o, &[(2, "YES, NO, TRUE, FALSE, ON, OFF, 0, 1 expected"), (2, "end of line is expected")]);
}

#[test]
fn duplicate_definition() {
    let conf = "define dumptype a {\n  compress none\n}\ndefine dumptype a {\n  compress best\n}\n";
    let o = run_case("dup", &[("amanda.conf", conf)]);
    let msg = format!("dumptype a already defined at {}:1", o.conf);
    assert_errors(&o, &[(6, &msg)]);
}

#[test]
fn predefined_dumptype_cannot_be_redefined() {
    let o = run_case("predef", &[("amanda.conf", "define dumptype NO-HOLD {\n  compress none\n}\n")]);
    assert_errors(&o, &[(3, "dumptype NO-HOLD is defined by default and cannot be redefined")]);
}

#[test]
fn all_problems_of_a_file_in_one_pass() {
    let conf = "org \"a\"\ninparallel abc\ndumpcycle -3\nindex yes\ndefine dumptype a {\n    compress maybe\n}\ntapetype NOSUCH\n";
    let o = run_case("many", &[("amanda.conf", conf)]);
    assert_errors(
        &o,
        &[
            (2, "an integer is expected"),
            (2, "INPARALLEL must be positive"),
            (3, "DUMPCYCLE must be nonnegative"),
            (4, "configuration keyword expected"),
            (6, "NONE, CLIENT FAST, CLIENT BEST, CLIENT CUSTOM, SERVER FAST, SERVER BEST or SERVER CUSTOM expected"),
            (8, "tapetype NOSUCH is not defined"),
        ],
    );
}

#[test]
fn deprecated_keyword_warns_and_succeeds() {
    let o = run_case("deprecated", &[("amanda.conf", "org \"ok\"\nusetimestamps yes\n")]);
    assert_eq!(o.exit, 0);
    assert_eq!(o.stdout, "ok\n");
    assert_eq!(
        o.stderr,
        vec![format!("'{}', line 2: warning: Keyword usetimestamps is deprecated.", o.conf)]
    );
}

#[test]
fn removed_keyword_is_not_a_keyword() {
    // Amanda 3.5 has a "Keyword tapebufs is deprecated" message, but the word is no
    // longer in its keyword table, so what it actually prints is this.
    let o = run_case("removed", &[("amanda.conf", "tapebufs 20\n")]);
    assert_errors(&o, &[(1, "error: not a keyword."), (1, "end of line is expected")]);
}
