//! The data-path matrix: every compression × encryption × holding/direct × block size
//! writes a labelled vtape with `ambench`, and the restore must give back the input byte
//! for byte — with our amrestore for every combination, and with Amanda 3.5.1's amrestore
//! (which runs gzip, zstd, lz4 and our amaead filter as the headers say) for every
//! combination at the 32 KiB block size. External programs as filters (`custom:PATH`:
//! `/usr/bin/zstd` and a gzip script as compression, an `openssl enc` script as
//! encryption, alone and beside the built-in codecs and AEAD) restore the same way, at
//! 32 KiB, through the holding disk and directly.

mod common;

use std::path::Path;
use std::process::Command;

const INPUT: &str = "3m";

fn ok(out: std::process::Output, what: &str) -> Vec<u8> {
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn every_combination_restores_byte_identically() {
    let root = common::scratch("matrix");
    std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let key = root.join("k.key");
    std::fs::write(&key, format!("{}\n", "a7".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let corpus = root.join("corpus");
    ok(common::tool("ambench").args(["corpus", INPUT]).arg(&corpus).output().unwrap(), "ambench corpus");
    let want = std::fs::read(&corpus).unwrap();

    let mut combos = 0;
    let mut amanda_checked = 0;
    for codec in ["none", "fast", "best", "zstd:1", "lz4"] {
        for encrypt in ["none", "aes-256-gcm"] {
            for holding in [true, false] {
                for block in ["32k", "256k", "1m"] {
                    let name = format!(
                        "{}-{encrypt}-{}-{block}",
                        codec.replace(':', ""),
                        if holding { "h" } else { "d" }
                    );
                    let dir = root.join(&name);
                    let (vt, hd) = (dir.join("vt"), dir.join("hold"));
                    std::fs::create_dir_all(&hd).unwrap();
                    let out = common::tool("ambench")
                        .args(["pipeline", "--synthetic", INPUT, "--compress", codec, "--encrypt", encrypt])
                        .args(["--key-file", key.to_str().unwrap(), "--block-size", block, "--workers", "2"])
                        .arg("--holding")
                        .arg(if holding { hd.to_str().unwrap() } else { "none" })
                        .arg("--device")
                        .arg(format!("file:{}", vt.display()))
                        .output()
                        .unwrap();
                    ok(out, &format!("ambench {name}"));
                    let ours = ok(
                        common::tool("amrestore")
                            .env("AMAEAD_KEY_FILE", &key)
                            .arg("-p")
                            .arg(format!("file:{}", vt.display()))
                            .output()
                            .unwrap(),
                        &format!("our amrestore {name}"),
                    );
                    assert!(
                        ours == want,
                        "{name}: our restore differs ({} bytes, want {})",
                        ours.len(),
                        want.len()
                    );
                    if block == "32k" {
                        amanda_checked += amanda_restore(&root, &dir, &key, &want, &name);
                    }
                    combos += 1;
                }
            }
        }
    }
    assert_eq!(combos, 60);
    assert_eq!(amanda_checked, 20);

    // External filters: Amanda runs custom compression programs with no arguments and
    // restores with `PROG -d`; encryption programs with no arguments, restored with
    // `PROG <decrypt option>`.
    let gzip_sh =
        script(&root, "gzip.sh", "if [ \"$1\" = -d ]; then exec /bin/gzip -dc; else exec /bin/gzip -c; fi");
    let pass = root.join("pass");
    std::fs::write(&pass, "matrix passphrase\n").unwrap();
    let enc_sh = script(
        &root,
        "enc.sh",
        &format!("exec /usr/bin/openssl enc -aes-256-cbc -pbkdf2 -pass 'file:{}' \"$@\"", pass.display()),
    );
    let custom = |p: &Path| format!("custom:{}", p.display());
    let external = [
        ("custom:/usr/bin/zstd".to_string(), "none".to_string()),
        (custom(&gzip_sh), "aes-256-gcm".to_string()),
        ("none".to_string(), custom(&enc_sh)),
        ("zstd:1".to_string(), custom(&enc_sh)),
        ("custom:/usr/bin/zstd".to_string(), custom(&enc_sh)),
    ];
    let mut external_checked = 0;
    for (i, (codec, encrypt)) in external.iter().enumerate() {
        for holding in [true, false] {
            let name = format!("external{i}-{}", if holding { "h" } else { "d" });
            let dir = root.join(&name);
            let (vt, hd) = (dir.join("vt"), dir.join("hold"));
            std::fs::create_dir_all(&hd).unwrap();
            let out = common::tool("ambench")
                .args(["pipeline", "--synthetic", INPUT, "--compress", codec, "--encrypt", encrypt])
                .args(["--key-file", key.to_str().unwrap(), "--block-size", "32k", "--workers", "2"])
                .arg("--holding")
                .arg(if holding { hd.to_str().unwrap() } else { "none" })
                .arg("--device")
                .arg(format!("file:{}", vt.display()))
                .output()
                .unwrap();
            let json = ok(out, &format!("ambench {name} ({codec}, {encrypt})"));
            let json = String::from_utf8_lossy(&json);
            // The external programs really ran, as stages of their own.
            assert_eq!(json.contains("\"compress-filter\""), codec.starts_with("custom:"), "{name}: {json}");
            assert_eq!(json.contains("\"encrypt-filter\""), encrypt.starts_with("custom:"), "{name}: {json}");
            let ours = ok(
                common::tool("amrestore")
                    .env("AMAEAD_KEY_FILE", &key)
                    .arg("-p")
                    .arg(format!("file:{}", vt.display()))
                    .output()
                    .unwrap(),
                &format!("our amrestore {name}"),
            );
            assert!(ours == want, "{name}: our restore differs ({} bytes, want {})", ours.len(), want.len());
            // The passphrase must be readable by the backup user Amanda's restore runs as.
            let chown = Command::new("chown").arg("backup").arg(&pass).status().unwrap();
            assert!(chown.success());
            external_checked += amanda_restore(&root, &dir, &key, &want, &name);
        }
    }
    assert_eq!(external_checked, 10);
}

fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p
}

/// Restores with Amanda's amrestore as the backup user; returns 1 when it matched.
fn amanda_restore(root: &Path, dir: &Path, key: &Path, want: &[u8], name: &str) -> usize {
    let key_b = dir.join("kb.key");
    std::fs::copy(key, &key_b).unwrap();
    let chown =
        Command::new("chown").args(["-R", "backup"]).arg(dir).arg(root.join("corpus")).status().unwrap();
    assert!(chown.success());
    let out_file = dir.join("amanda.out");
    let cmd = format!(
        "cd '{}' && AMAEAD_KEY_FILE='{}' amrestore -p 'file:{}' > '{}'",
        dir.display(),
        key_b.display(),
        dir.join("vt").display(),
        out_file.display()
    );
    let out = Command::new("su").args(["backup", "-s", "/bin/sh", "-c", &cmd]).output().unwrap();
    assert!(out.status.success(), "Amanda's amrestore {name}: {}", String::from_utf8_lossy(&out.stderr));
    let got = std::fs::read(&out_file).unwrap();
    assert!(got == want, "{name}: Amanda's restore differs ({} bytes, want {})", got.len(), want.len());
    1
}
