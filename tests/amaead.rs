//! The `amaead` filter program: round trip, wrong key, truncation, key file rules.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

fn run(args: &[&str], env_key: Option<&std::path::Path>, input: &[u8]) -> (i32, Vec<u8>, String) {
    let mut cmd = common::tool("amaead");
    cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.env_remove("AMAEAD_KEY_FILE");
    if let Some(k) = env_key {
        cmd.env("AMAEAD_KEY_FILE", k);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn key_file(dir: &std::path::Path, name: &str, hex_byte: &str, mode: u32) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("{}\n", hex_byte.repeat(32))).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

#[test]
fn filter_round_trip_and_failures() {
    let dir = common::scratch("amaead");
    let k1 = key_file(&dir, "k1", "3c", 0o600);
    let k2 = key_file(&dir, "k2", "4d", 0o600);
    let loose = key_file(&dir, "k3", "3c", 0o640);
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();

    let (rc, enc, err) = run(&["-k", k1.to_str().unwrap()], None, &data);
    assert_eq!((rc, err.as_str()), (0, ""));
    assert!(enc.len() > data.len() && enc.len() < data.len() + 200);
    assert_ne!(&enc[100..200], &data[68..168], "output must not be plaintext");

    // Key from the environment.
    let (rc, dec, err) = run(&["-d"], Some(&k1), &enc);
    assert_eq!((rc, err.as_str()), (0, ""));
    assert!(dec == data, "decrypted bytes differ");

    let (rc, dec, err) = run(&["-d", "-k", k2.to_str().unwrap()], None, &enc);
    assert_eq!(rc, 1);
    assert!(dec.is_empty());
    assert!(err.contains("wrong key"), "{err}");

    let (rc, dec, err) = run(&["-d", "-k", k1.to_str().unwrap()], None, &enc[..enc.len() - 5]);
    assert_eq!(rc, 1);
    assert!(err.contains("truncated in segment 2"), "{err}");
    assert_eq!(dec.len(), 2 << 20, "the two verified segments, nothing from the cut one");

    let (rc, _, err) = run(&["-d", "-k", loose.to_str().unwrap()], None, &enc);
    assert_eq!(rc, 1);
    assert!(err.contains("permissions 0640"), "{err}");
}

#[test]
fn amrestore_finds_the_key_through_the_configuration() {
    let dir = common::scratch("amaead-config");
    let key = key_file(&dir, "site.key", "5e", 0o600);
    let vt = dir.join("vt");
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("amanda.conf"), format!("encrypt_key_file \"{}\"\n", key.display())).unwrap();
    std::fs::write(conf.join("disklist"), "").unwrap();
    let out = common::tool("ambench")
        .args(["pipeline", "--synthetic", "3m", "--compress", "zstd:1", "--encrypt", "aes-256-gcm"])
        .args(["--key-file", key.to_str().unwrap(), "--holding", "none"])
        .arg("--device")
        .arg(format!("file:{}", vt.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let corpus = dir.join("corpus");
    let st = common::tool("ambench").args(["corpus", "3m"]).arg(&corpus).status().unwrap();
    assert!(st.success());
    let restored = common::tool("amrestore")
        .env_remove("AMAEAD_KEY_FILE")
        .arg("--config")
        .arg(&conf)
        .arg("-p")
        .arg(format!("file:{}", vt.display()))
        .output()
        .unwrap();
    assert!(restored.status.success(), "{}", String::from_utf8_lossy(&restored.stderr));
    assert!(restored.stdout == std::fs::read(&corpus).unwrap(), "restored bytes differ from the corpus");
}
