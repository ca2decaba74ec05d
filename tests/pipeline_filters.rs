//! External programs as filters on the write path, end to end through `ambench pipeline`:
//! programs that fail (exit non-zero, exit 0 without reading their input, cannot be
//! started, are killed by a signal) fail the dump cleanly — a message naming the program
//! and its status, no dump left looking complete on the holding disk or the vtape, no
//! program left running — and a dumptype of a real `amanda.conf` selects built-in or
//! external compression and encryption as Amanda would, with headers Amanda's own
//! amrestore (3.5.1, `/usr/sbin/amrestore`) follows.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Big enough that no program below can take all of it into a pipe buffer and exit
/// before the pipeline notices.
const FAULT_INPUT: &str = "8m";
const INPUT: &str = "3m";

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn ok(out: Output, what: &str) -> Vec<u8> {
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Processes whose command line mentions `needle` (our scripts run as `/bin/sh SCRIPT`).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if !e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// Every regular file below `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A failing dump must leave no holding file that looks complete: only `.tmp` chunks, or
/// chunks whose header says `PARTIAL=YES`.
fn assert_no_complete_holding_dump(hold: &Path, what: &str) {
    for f in files(hold) {
        if f.extension().is_some_and(|x| x == "tmp") {
            continue;
        }
        let head = std::fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&head[..head.len().min(32768)]).to_string();
        assert!(text.contains("\nPARTIAL=YES\n"), "{what}: {} looks like a complete dump", f.display());
    }
}

/// The vtape holds its label and nothing else.
fn assert_no_dump_on_volume(vt: &Path, what: &str) {
    let names: Vec<String> =
        files(vt).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| n.starts_with("00000.")), "{what}: dump files on the volume: {names:?}");
}

struct Fault {
    name: &'static str,
    /// `--compress` or `--encrypt` value; `PROG` is replaced by the program's path.
    args: &'static [&'static str],
    /// The script's body, or None for a program that does not exist.
    body: Option<&'static str>,
    role: &'static str,
    /// What the message says after the program's name.
    says: &'static str,
}

#[test]
fn failing_programs_fail_the_dump_cleanly() {
    let root = common::scratch("filters-faults");
    let faults = [
        Fault {
            name: "compress-exit3",
            args: &["--compress", "custom:PROG"],
            body: Some("head -c 100000 >/dev/null\necho 'compress-exit3: first line' >&2\necho 'compress-exit3: out of quota' >&2\nexit 3"),
            says: "exited with status 3: compress-exit3: out of quota",
            role: "compression program",
        },
        Fault {
            name: "compress-exit0",
            args: &["--compress", "custom:PROG"],
            body: Some("exit 0"),
            says: "exited with status 0 before reading all of its input",
            role: "compression program",
        },
        Fault {
            name: "compress-missing",
            args: &["--compress", "custom:PROG"],
            body: None,
            says: "could not be started: No such file or directory",
            role: "compression program",
        },
        Fault {
            name: "encrypt-killed",
            args: &["--compress", "zstd:1", "--encrypt", "custom:PROG"],
            body: Some("head -c 200000 >/dev/null\necho 'encrypt-killed: dying' >&2\nkill -9 $$"),
            says: "was killed by signal 9 (SIGKILL): encrypt-killed: dying",
            role: "encryption program",
        },
        Fault {
            name: "encrypt-exit3",
            args: &["--encrypt", "custom:PROG"],
            body: Some("head -c 300000 >/dev/null\nexit 3"),
            says: "exited with status 3",
            role: "encryption program",
        },
    ];
    for f in &faults {
        let prog = match f.body {
            Some(body) => script(&root, &format!("{}.sh", f.name), body),
            None => root.join(format!("{}.sh", f.name)),
        };
        for holding in [true, false] {
            let what = format!("{}-{}", f.name, if holding { "holding" } else { "direct" });
            let dir = root.join(&what);
            let (vt, hold) = (dir.join("vt"), dir.join("hold"));
            std::fs::create_dir_all(&hold).unwrap();
            let args: Vec<String> =
                f.args.iter().map(|a| a.replace("PROG", prog.to_str().unwrap())).collect();
            let out = common::tool("ambench")
                .args(["pipeline", "--synthetic", FAULT_INPUT, "--workers", "2"])
                .args(&args)
                .arg("--holding")
                .arg(if holding { hold.to_str().unwrap() } else { "none" })
                .arg("--device")
                .arg(format!("file:{}", vt.display()))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{what}: ambench must fail; stderr: {stderr}");
            assert!(out.stdout.is_empty(), "{what}: a failed dump printed a report");
            let want = format!("{} {} {}", f.role, prog.display(), f.says);
            assert!(stderr.contains(&want), "{what}: stderr {stderr:?} does not say {want:?}");
            assert_no_complete_holding_dump(&hold, &what);
            assert_no_dump_on_volume(&vt, &what);
            let left = processes_mentioning(prog.to_str().unwrap());
            assert!(left.is_empty(), "{what}: programs left running: {left:?}");
        }
    }
}

/// A program that passes 3 MB through and then fails, on the holding disk: the chunks
/// written so far must not be left as a complete dump.
#[test]
fn a_program_failing_after_output_leaves_no_complete_holding_dump() {
    let root = common::scratch("filters-late");
    let prog = script(&root, "late.sh", "head -c 3000000\necho 'late.sh: gave up' >&2\nexit 5");
    for (flag, role) in [("--compress", "compression program"), ("--encrypt", "encryption program")] {
        let hold = root.join(format!("hold{flag}"));
        std::fs::create_dir_all(&hold).unwrap();
        let out = common::tool("ambench")
            .args(["pipeline", "--synthetic", FAULT_INPUT, "--workers", "2", flag])
            .arg(format!("custom:{}", prog.display()))
            .arg("--holding")
            .arg(&hold)
            .arg("--device")
            .arg(format!("file:{}", root.join(format!("vt{flag}")).display()))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flag}: {stderr}");
        let want = format!("{role} {} exited with status 5: late.sh: gave up", prog.display());
        assert!(stderr.contains(&want), "{flag}: {stderr:?} does not say {want:?}");
        assert_no_complete_holding_dump(&hold, flag);
        assert_no_dump_on_volume(&root.join(format!("vt{flag}")), flag);
    }
}

/// The first executable `name` on PATH, as the resolver finds it.
fn on_path(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").expect("PATH");
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
        .unwrap_or_else(|| panic!("{name} must be installed for this test"))
}

fn first_dump_header(vt: &Path) -> String {
    let f = files(vt)
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("00001."))
        .unwrap();
    let bytes = std::fs::read(f).unwrap();
    String::from_utf8_lossy(&bytes[..32768]).trim_end_matches('\0').to_string()
}

/// Restores file 1 of `vt` with Amanda 3.5.1's amrestore as the backup user.
fn amanda_restore(dir: &Path, vt: &Path, env: &[(&str, &Path)]) -> Vec<u8> {
    let chown = Command::new("chown").args(["-R", "backup"]).arg(dir).status().unwrap();
    assert!(chown.success());
    let out_file = dir.join("amanda.out");
    let envs: String = env.iter().map(|(k, v)| format!("{k}='{}' ", v.display())).collect();
    let cmd = format!(
        "cd '{}' && {envs}/usr/sbin/amrestore -p 'file:{}' > '{}'",
        dir.display(),
        vt.display(),
        out_file.display()
    );
    let out = Command::new("su").args(["backup", "-s", "/bin/sh", "-c", &cmd]).output().unwrap();
    assert!(out.status.success(), "Amanda's amrestore: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(&out_file).unwrap()
}

#[test]
fn dumptypes_select_built_in_and_external_filters_as_amanda_would() {
    let root = common::scratch("filters-config");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let corpus = root.join("corpus");
    ok(common::tool("ambench").args(["corpus", INPUT]).arg(&corpus).output().unwrap(), "ambench corpus");
    let want = std::fs::read(&corpus).unwrap();
    let pass = root.join("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let enc = script(
        &root,
        "enc.sh",
        &format!("exec /usr/bin/openssl enc -aes-256-cbc -pbkdf2 -pass 'file:{}' \"$@\"", pass.display()),
    );
    let conf = root.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("amanda.conf"),
        format!(
            "define dumptype zstd-built-in {{\n    program \"GNUTAR\"\n    compress server custom\n    server_custom_compress \"zstd:3\"\n}}\n\
             define dumptype external {{\n    program \"GNUTAR\"\n    compress client custom\n    client_custom_compress \"/usr/bin/zstd\"\n    encrypt server\n    server_encrypt \"{}\"\n    server_decrypt_option \"-d\"\n}}\n\
             define dumptype no-program {{\n    compress server custom\n}}\n",
            enc.display()
        ),
    )
    .unwrap();
    let zstd = on_path("zstd");

    // The bare name: zstd built in, the header naming the standard program.
    let dir = root.join("bare");
    let vt = dir.join("vt");
    let json = ok(
        common::tool("ambench")
            .args(["pipeline", "--synthetic", INPUT, "--workers", "2", "--holding", "none"])
            .arg("--config")
            .arg(&conf)
            .args(["--dumptype", "zstd-built-in", "--device"])
            .arg(format!("file:{}", vt.display()))
            .output()
            .unwrap(),
        "ambench --dumptype zstd-built-in",
    );
    let stages = String::from_utf8_lossy(&json);
    assert!(!stages.contains("filter"), "the bare name must not run a program: {stages}");
    let header = first_dump_header(&vt);
    assert!(
        header.contains(&format!(" comp cust program GNUTAR server_custom_compress {}\n", zstd.display())),
        "{header}"
    );
    // The data is a zstd stream the standard tool reads.
    let file = files(&vt)
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("00001."))
        .unwrap();
    let data = std::fs::read(&file).unwrap()[32768..].to_vec();
    assert_eq!(&data[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd frame magic");
    let mut child = Command::new(&zstd)
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(out.status.success() && out.stdout == want, "zstd -dc does not give the input back");
    assert!(amanda_restore(&dir, &vt, &[]) == want, "Amanda's restore of the built-in zstd dump differs");

    // External programs from the configuration, through the holding disk: client custom
    // compression and server encryption, named in the client/server header fields.
    let dir = root.join("external");
    let (vt, hold) = (dir.join("vt"), dir.join("hold"));
    std::fs::create_dir_all(&hold).unwrap();
    let json = ok(
        common::tool("ambench")
            .args(["pipeline", "--synthetic", INPUT, "--workers", "2", "--holding"])
            .arg(&hold)
            .arg("--config")
            .arg(&conf)
            .args(["--dumptype", "external", "--device"])
            .arg(format!("file:{}", vt.display()))
            .output()
            .unwrap(),
        "ambench --dumptype external",
    );
    let stages = String::from_utf8_lossy(&json);
    assert!(stages.contains("\"compress-filter\"") && stages.contains("\"encrypt-filter\""), "{stages}");
    let header = first_dump_header(&vt);
    assert!(
        header.contains(&format!(
            " comp cust program GNUTAR crypt enc client_custom_compress /usr/bin/zstd server_encrypt {} server_decrypt_option -d\n",
            enc.display()
        )),
        "{header}"
    );
    let ours = ok(
        common::tool("amrestore").arg("-p").arg(format!("file:{}", vt.display())).output().unwrap(),
        "our amrestore",
    );
    assert!(ours == want, "our restore of the external dump differs");
    let chown = Command::new("chown").arg("backup").arg(&pass).status().unwrap();
    assert!(chown.success());
    assert!(amanda_restore(&dir, &vt, &[]) == want, "Amanda's restore of the external dump differs");

    // A bad dumptype is refused before anything runs, naming the dumptype.
    let out = common::tool("ambench")
        .args(["pipeline", "--synthetic", INPUT, "--holding", "none", "--device", "null:", "--config"])
        .arg(&conf)
        .args(["--dumptype", "no-program"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ambench: dumptype \"no-program\": compress server custom needs server_custom_compress\n"
    );
}
