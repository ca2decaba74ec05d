//! From a dumptype's compression and encryption parameters to what the data path runs
//! (built-in codec, external programs, AEAD key) and what the dump's header says, exactly
//! as Amanda 3.5.1's dumper fills it (`server-src/dumper.c`, where it builds the dump
//! header), so Amanda's amrestore can undo any dump we write.
//!
//! | dumptype | runs | header |
//! |---|---|---|
//! | `compress none` | nothing | `comp N` |
//! | `compress client fast\|best` | gzip 1/9, built in | `comp .gz` (the client's recover command carries the `gzip -dc`) |
//! | `compress server fast\|best` | gzip 1/9, built in | `comp .gz`, uncompress `/bin/gzip -dc` |
//! | `compress client\|server custom` + `PROG` with a `/` | `PROG` (no arguments) | `comp cust`, `client\|server_custom_compress PROG`, uncompress `PROG -d` |
//! | … + a bare codec name `zstd[:L]`, `lz4`, `gzip[:L]` | that codec, built in | as above, naming the standard program found on `PATH` (e.g. `/usr/bin/zstd`) |
//! | … + another bare name | that program found on `PATH` | as above, naming the absolute path |
//! | `encrypt client\|server` + `PROG` | `PROG` (no arguments) | `crypt enc`, `client\|server_encrypt PROG`, `client\|server_decrypt_option OPT`, decrypt `PROG OPT` |
//! | … + `"amaead"` | the built-in AEAD, key from `encrypt_key_file` | as above, naming the `amaead` filter with `-d` |
//!
//! A program given without a `/` is resolved to an absolute path at dump time because
//! restores run later, possibly with another `PATH` (Amanda would write the bare name).
//! The uncompress and decrypt commands go into the header only together with a recover
//! command: Amanda prints them on the "To restore" line only then, and our header
//! builder refuses them without one.

use super::codec::Codec;
use super::filter::FilterProgram;
use crate::config::value::{Compress, Encrypt};
use crate::config::{Config, SectionKind, Value};
use crate::format::aead::Key;
use crate::format::header::DumpFile;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Debian's Amanda build: `UNCOMPRESS_PATH` and `UNCOMPRESS_OPT`.
const UNCOMPRESS_PATH: &str = "/bin/gzip";
const UNCOMPRESS_OPT: &str = "-dc";
/// The value of `client_encrypt`/`server_encrypt` that selects the built-in AEAD.
pub const BUILTIN_AEAD: &str = "amaead";
/// The option of the `amaead` filter that decrypts.
const AMAEAD_DECRYPT_OPTION: &str = "-d";

/// The dumptype parameters that decide compression and encryption, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSettings {
    pub dumptype: String,
    pub compress: Compress,
    pub client_custom_compress: String,
    pub server_custom_compress: String,
    pub encrypt: Encrypt,
    pub client_encrypt: String,
    pub server_encrypt: String,
    pub client_decrypt_option: String,
    pub server_decrypt_option: String,
    /// The dumptype's `encrypt_key_file` (which defaults to the global one).
    pub encrypt_key_file: String,
}

impl DataSettings {
    /// Reads the dumptype `name` of `cfg`.
    pub fn from_config(cfg: &Config, name: &str) -> Result<DataSettings, String> {
        let dt = cfg.lookup(SectionKind::Dumptype, name).ok_or_else(|| {
            format!(
                "dumptype \"{name}\" is not defined in {}",
                cfg.name.as_deref().unwrap_or("the configuration")
            )
        })?;
        let text = |parm: &str| dt.get(parm).as_str().unwrap_or("").to_string();
        let compress = match dt.get("DUMPTYPE_COMPRESS").value {
            Value::Compress(c) => c,
            ref v => return Err(format!("dumptype \"{name}\": compress has an unexpected value {v:?}")),
        };
        let encrypt = match dt.get("DUMPTYPE_ENCRYPT").value {
            Value::Encrypt(e) => e,
            ref v => return Err(format!("dumptype \"{name}\": encrypt has an unexpected value {v:?}")),
        };
        Ok(DataSettings {
            dumptype: dt.name.clone(),
            compress,
            client_custom_compress: text("DUMPTYPE_CLNTCOMPPROG"),
            server_custom_compress: text("DUMPTYPE_SRVCOMPPROG"),
            encrypt,
            client_encrypt: text("DUMPTYPE_CLNT_ENCRYPT"),
            server_encrypt: text("DUMPTYPE_SRV_ENCRYPT"),
            client_decrypt_option: text("DUMPTYPE_CLNT_DECRYPT_OPT"),
            server_decrypt_option: text("DUMPTYPE_SRV_DECRYPT_OPT"),
            encrypt_key_file: text("DUMPTYPE_ENCRYPT_KEY_FILE"),
        })
    }
}

/// What the environment contributes: where bare program names are looked up, where the
/// AEAD key is found when the configuration names none, and the `amaead` filter's path.
#[derive(Clone, Debug)]
pub struct Lookup {
    /// `$PATH`.
    pub path: Option<OsString>,
    /// Key files tried, in order, when `encrypt_key_file` is empty.
    pub key_fallbacks: Vec<PathBuf>,
    /// The `amaead` filter the header names (Amanda's amrestore runs it by this path);
    /// None: the link beside this executable ([`amaead_path`], made only when needed).
    pub amaead: Option<PathBuf>,
}

impl Lookup {
    /// This process's environment: `$PATH`; `$AMAEAD_KEY_FILE` then amaead's default key
    /// file; the `amaead` link beside this executable.
    pub fn from_env() -> Lookup {
        let mut key_fallbacks: Vec<PathBuf> = std::env::var_os("AMAEAD_KEY_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .into_iter()
            .collect();
        key_fallbacks.push(PathBuf::from(crate::cli::amaead::DEFAULT_KEY_FILE));
        Lookup { path: std::env::var_os("PATH"), key_fallbacks, amaead: None }
    }

    /// The first executable file called `name` in `$PATH`.
    pub fn which(&self, name: &str) -> Option<PathBuf> {
        let path = self.path.as_ref()?;
        std::env::split_paths(path).map(|d| d.join(name)).find(|p| is_executable(p))
    }
}

/// An absolute path to `amaead` for headers (Amanda's amrestore runs the decrypt program
/// without searching `PATH`): the `amaead` link beside this executable, made if missing.
pub fn amaead_path() -> PathBuf {
    let Ok(exe) = std::env::current_exe() else { return PathBuf::from(BUILTIN_AEAD) };
    let link = exe.with_file_name(BUILTIN_AEAD);
    if !link.exists() {
        let _ = std::os::unix::fs::symlink(&exe, &link);
    }
    link
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The header fields a dump's compression and encryption decide.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderFields {
    pub compressed: bool,
    pub compression_suffix: String,
    pub server_compress_program: String,
    pub client_compress_program: String,
    pub uncompress_cmd: String,
    pub encrypted: bool,
    pub encryption_suffix: String,
    pub server_encrypt_program: String,
    pub client_encrypt_program: String,
    pub server_decrypt_option: String,
    pub client_decrypt_option: String,
    pub decrypt_cmd: String,
}

impl HeaderFields {
    /// Writes the fields into `h`; the uncompress and decrypt commands only when `h` has a
    /// recover command (see the module notes).
    pub fn apply(&self, h: &mut DumpFile) {
        h.compressed = self.compressed;
        h.compression_suffix = self.compression_suffix.clone();
        h.server_compress_program = self.server_compress_program.clone();
        h.client_compress_program = self.client_compress_program.clone();
        h.encrypted = self.encrypted;
        h.encryption_suffix = self.encryption_suffix.clone();
        h.server_encrypt_program = self.server_encrypt_program.clone();
        h.client_encrypt_program = self.client_encrypt_program.clone();
        h.server_decrypt_option = self.server_decrypt_option.clone();
        h.client_decrypt_option = self.client_decrypt_option.clone();
        let with_commands = !h.recover_cmd.is_empty();
        h.uncompress_cmd = if with_commands { self.uncompress_cmd.clone() } else { String::new() };
        h.decrypt_cmd = if with_commands { self.decrypt_cmd.clone() } else { String::new() };
    }
}

/// What a dump of one dumptype runs, and what its header says.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub codec: Codec,
    pub compress_program: Option<FilterProgram>,
    pub encrypt_program: Option<FilterProgram>,
    /// The built-in AEAD's key, when `amaead` was selected.
    pub key: Option<Key>,
    pub key_file: Option<PathBuf>,
    pub header: HeaderFields,
}

/// Resolves the dumptype `name` of `cfg` in this process's environment.
pub fn resolve_dumptype(cfg: &Config, name: &str) -> Result<Resolved, String> {
    resolve(&DataSettings::from_config(cfg, name)?, &Lookup::from_env())
}

/// The bare codec names that select a built-in codec in `*_custom_compress`.
fn builtin_codec(value: &str) -> Option<&str> {
    let name = value.split_once(':').map_or(value, |(n, _)| n);
    (!value.contains('/') && matches!(name, "zstd" | "lz4" | "gzip")).then_some(name)
}

/// An external program named by `parameter`: a path must be an executable file; a bare
/// name is looked up on `PATH`.
fn external_program(s: &DataSettings, env: &Lookup, parameter: &str, value: &str) -> Result<PathBuf, String> {
    let dt = &s.dumptype;
    if value.contains('/') {
        let p = PathBuf::from(value);
        match std::fs::metadata(&p) {
            Err(e) => Err(format!("dumptype \"{dt}\": {parameter} \"{value}\": {e}")),
            Ok(m) if !m.is_file() => Err(format!("dumptype \"{dt}\": {parameter} \"{value}\" is not a file")),
            Ok(_) if !is_executable(&p) => {
                Err(format!("dumptype \"{dt}\": {parameter} \"{value}\" is not executable"))
            }
            Ok(_) => Ok(p),
        }
    } else {
        env.which(value)
            .ok_or_else(|| format!("dumptype \"{dt}\": {parameter} \"{value}\" is not found on PATH"))
    }
}

/// Resolves `s` (see the module table). Bad values are errors naming the dumptype.
pub fn resolve(s: &DataSettings, env: &Lookup) -> Result<Resolved, String> {
    let dt = &s.dumptype;
    let mut r = Resolved {
        codec: Codec::None,
        compress_program: None,
        encrypt_program: None,
        key: None,
        key_file: None,
        header: HeaderFields::default(),
    };
    let h = &mut r.header;
    match s.compress {
        Compress::None => {}
        Compress::Fast | Compress::Best | Compress::ServerFast | Compress::ServerBest => {
            let best = matches!(s.compress, Compress::Best | Compress::ServerBest);
            r.codec = Codec::Gzip { level: if best { 9 } else { 1 } };
            h.compressed = true;
            h.compression_suffix = ".gz".into();
            // Client compression reaches the header through the client's recover
            // command; the dumper writes an uncompress command only for its own.
            if matches!(s.compress, Compress::ServerFast | Compress::ServerBest) {
                h.uncompress_cmd = format!(" {UNCOMPRESS_PATH} {UNCOMPRESS_OPT} |");
            }
        }
        Compress::Custom | Compress::ServerCustom => {
            let server = s.compress == Compress::ServerCustom;
            let (parameter, value) = if server {
                ("server_custom_compress", s.server_custom_compress.as_str())
            } else {
                ("client_custom_compress", s.client_custom_compress.as_str())
            };
            let side = if server { "server" } else { "client" };
            if value.is_empty() {
                return Err(format!("dumptype \"{dt}\": compress {side} custom needs {parameter}"));
            }
            let program = if let Some(name) = builtin_codec(value) {
                r.codec = Codec::parse(value)
                    .map_err(|e| format!("dumptype \"{dt}\": {parameter} \"{value}\": {e}"))?;
                // The header names the standard program so `PROG -d` undoes the dump.
                let standard = r.codec.program().unwrap_or_default();
                env.which(name).unwrap_or_else(|| PathBuf::from(standard))
            } else {
                let p = external_program(s, env, parameter, value)?;
                r.compress_program = Some(FilterProgram::new(p.clone()));
                p
            };
            let program = program.display().to_string();
            h.compressed = true;
            h.compression_suffix = "cust".into();
            h.uncompress_cmd = format!(" {program} -d |");
            if server {
                h.server_compress_program = program;
            } else {
                h.client_compress_program = program;
            }
        }
    }
    match s.encrypt {
        Encrypt::None => {}
        Encrypt::Client | Encrypt::Server => {
            let server = s.encrypt == Encrypt::Server;
            let (parameter, value, option) = if server {
                ("server_encrypt", s.server_encrypt.as_str(), s.server_decrypt_option.as_str())
            } else {
                ("client_encrypt", s.client_encrypt.as_str(), s.client_decrypt_option.as_str())
            };
            let side = if server { "server" } else { "client" };
            if value.is_empty() {
                return Err(format!("dumptype \"{dt}\": encrypt {side} needs {parameter}"));
            }
            let (program, option) = if value == BUILTIN_AEAD {
                let (key, file) = load_key(s, env, parameter)?;
                r.key = Some(key);
                r.key_file = Some(file);
                let amaead = env.amaead.clone().unwrap_or_else(amaead_path);
                (amaead.display().to_string(), AMAEAD_DECRYPT_OPTION.to_string())
            } else {
                let p = external_program(s, env, parameter, value)?;
                r.encrypt_program = Some(FilterProgram::new(p.clone()));
                (p.display().to_string(), option.to_string())
            };
            h.encrypted = true;
            h.encryption_suffix = "enc".into();
            if server {
                h.decrypt_cmd = if option.is_empty() {
                    format!(" {program} |")
                } else {
                    format!(" {program} {option} |")
                };
                h.server_encrypt_program = program;
                h.server_decrypt_option = option;
            } else {
                // Amanda's dumper overwrites the client decrypt command with the
                // two-word form whatever the option is; mirror it.
                h.decrypt_cmd = format!(" {program} {option} |");
                h.client_encrypt_program = program;
                h.client_decrypt_option = option;
            }
        }
    }
    Ok(r)
}

/// The AEAD key: `encrypt_key_file`, else the first fallback that exists.
fn load_key(s: &DataSettings, env: &Lookup, parameter: &str) -> Result<(Key, PathBuf), String> {
    let dt = &s.dumptype;
    let file = if !s.encrypt_key_file.is_empty() {
        PathBuf::from(&s.encrypt_key_file)
    } else {
        env.key_fallbacks.iter().find(|p| p.exists()).cloned().ok_or_else(|| {
            format!(
                "dumptype \"{dt}\": {parameter} \"{BUILTIN_AEAD}\" needs a key file: set encrypt_key_file (tried {})",
                env.key_fallbacks.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            )
        })?
    };
    let key = Key::load(&file).map_err(|e| format!("dumptype \"{dt}\": {e}"))?;
    Ok((key, file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::header::build_header;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tempdir(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("amrs-resolve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    /// A PATH of one directory holding executable `zstd` and `pigz` stand-ins.
    fn env(dir: &Path) -> Lookup {
        for name in ["zstd", "pigz"] {
            let p = dir.join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Lookup {
            path: Some(dir.as_os_str().to_owned()),
            key_fallbacks: vec![dir.join("no-such.key")],
            amaead: Some(PathBuf::from("/opt/amrs/amaead")),
        }
    }

    fn config(dir: &Path, body: &str) -> Config {
        let cfg = crate::config::parse_text(body, dir, false);
        assert!(cfg.level < crate::config::Level::Errors, "{:?}", cfg.diagnostics);
        cfg
    }

    fn resolved(dir: &Path, dumptype_body: &str) -> Result<Resolved, String> {
        let cfg = config(dir, &format!("define dumptype dt {{\n{dumptype_body}\n}}\n"));
        resolve(&DataSettings::from_config(&cfg, "dt")?, &env(dir))
    }

    fn header(r: &Resolved, recover: bool) -> String {
        let mut h = DumpFile::new_file("20260101000000", "host", "/disk", 0, "GNUTAR");
        if recover {
            h.recover_cmd = "/bin/tar -xpGf - ...".into();
        }
        r.header.apply(&mut h);
        String::from_utf8_lossy(&build_header(&h, 32768).unwrap()).trim_end_matches('\0').to_string()
    }

    #[test]
    fn bare_zstd_is_built_in_and_names_the_standard_program() {
        let d = tempdir("zstd");
        let r = resolved(&d.0, "compress server custom\nserver_custom_compress \"zstd:3\"").unwrap();
        assert_eq!(r.codec, Codec::Zstd { level: 3 });
        assert!(r.compress_program.is_none() && r.encrypt_program.is_none() && r.key.is_none());
        let zstd = d.0.join("zstd").display().to_string();
        assert_eq!(r.header.server_compress_program, zstd);
        assert_eq!(r.header.compression_suffix, "cust");
        let text = header(&r, true);
        assert!(
            text.contains(&format!(" comp cust program GNUTAR server_custom_compress {zstd}\n")),
            "{text}"
        );
        assert!(text.contains(&format!("skip=1 |  {zstd} -d | /bin/tar")), "{text}");
        // Without a recover command the restore line has no uncompress stage.
        assert!(header(&r, false).ends_with("skip=1 | \n\x0c\n"));

        let r = resolved(&d.0, "compress client custom\nclient_custom_compress \"lz4\"").unwrap();
        assert_eq!(r.codec, Codec::Lz4);
        // lz4 is not in our PATH stand-in: the codec's standard path is named.
        assert_eq!(r.header.client_compress_program, "/usr/bin/lz4");
        assert!(r.header.server_compress_program.is_empty());
    }

    #[test]
    fn paths_and_other_bare_names_are_external_programs() {
        let d = tempdir("ext");
        let r = resolved(&d.0, "compress client custom\nclient_custom_compress \"/bin/cat\"").unwrap();
        assert_eq!(r.codec, Codec::None);
        assert_eq!(r.compress_program, Some(FilterProgram::new("/bin/cat")));
        assert_eq!(r.header.client_compress_program, "/bin/cat");
        assert!(header(&r, true).contains(" comp cust program GNUTAR client_custom_compress /bin/cat\n"));
        let r = resolved(&d.0, "compress server custom\nserver_custom_compress \"pigz\"").unwrap();
        assert_eq!(r.compress_program, Some(FilterProgram::new(d.0.join("pigz"))));
    }

    #[test]
    fn gzip_fast_and_best_follow_the_dumper() {
        let d = tempdir("gzip");
        let r = resolved(&d.0, "compress server best").unwrap();
        assert_eq!(r.codec, Codec::Gzip { level: 9 });
        assert_eq!(r.header.uncompress_cmd, " /bin/gzip -dc |");
        assert!(header(&r, true).contains(" comp .gz program GNUTAR\n"));
        let r = resolved(&d.0, "compress client fast").unwrap();
        assert_eq!(r.codec, Codec::Gzip { level: 1 });
        assert_eq!((r.header.compressed, r.header.uncompress_cmd.as_str()), (true, ""));
        let r = resolved(&d.0, "compress none").unwrap();
        assert_eq!((r.codec, r.header.compressed), (Codec::None, false));
        assert!(header(&r, false).contains(" comp N program GNUTAR\n"));
    }

    #[test]
    fn external_encryption_fills_program_option_and_decrypt_command() {
        let d = tempdir("enc");
        let r = resolved(&d.0, "encrypt server\nserver_encrypt \"/bin/cat\"\nserver_decrypt_option \"-D\"")
            .unwrap();
        assert_eq!(r.encrypt_program, Some(FilterProgram::new("/bin/cat")));
        assert!(r.key.is_none());
        assert_eq!(r.header.decrypt_cmd, " /bin/cat -D |");
        let text = header(&r, true);
        assert!(
            text.contains(
                " comp .gz program GNUTAR crypt enc server_encrypt /bin/cat server_decrypt_option -D\n"
            ),
            "{text}"
        );
        // The default option is -d, and the client side writes the client fields.
        let r = resolved(&d.0, "compress none\nencrypt client\nclient_encrypt \"/bin/cat\"").unwrap();
        assert_eq!(
            (r.header.client_encrypt_program.as_str(), r.header.client_decrypt_option.as_str()),
            ("/bin/cat", "-d")
        );
        assert!(r.header.server_encrypt_program.is_empty());
    }

    #[test]
    fn amaead_is_built_in_with_the_configured_key() {
        let d = tempdir("aead");
        let key = d.0.join("k.key");
        std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let body = format!(
            "compress none\nencrypt server\nserver_encrypt \"amaead\"\nserver_decrypt_option \"-x\"\nencrypt_key_file \"{}\"",
            key.display()
        );
        let r = resolved(&d.0, &body).unwrap();
        assert!(r.key.is_some() && r.encrypt_program.is_none());
        assert_eq!(r.key_file.as_deref(), Some(key.as_path()));
        assert_eq!(r.header.server_encrypt_program, "/opt/amrs/amaead");
        assert_eq!(r.header.server_decrypt_option, "-d");
        // The global encrypt_key_file is the dumptype's default.
        let cfg = config(
            &d.0,
            &format!(
                "encrypt_key_file \"{}\"\ndefine dumptype dt {{\nencrypt client\nclient_encrypt \"amaead\"\n}}\n",
                key.display()
            ),
        );
        let r = resolve(&DataSettings::from_config(&cfg, "dt").unwrap(), &env(&d.0)).unwrap();
        assert_eq!(r.key_file.as_deref(), Some(key.as_path()));
        assert_eq!(r.header.client_encrypt_program, "/opt/amrs/amaead");
    }

    #[test]
    fn bad_values_name_the_dumptype() {
        let d = tempdir("bad");
        let err = |body: &str| resolved(&d.0, body).unwrap_err();
        assert_eq!(
            err("compress server custom"),
            "dumptype \"dt\": compress server custom needs server_custom_compress"
        );
        assert_eq!(
            err("compress client custom\nclient_custom_compress \"/nonexistent/zip\""),
            "dumptype \"dt\": client_custom_compress \"/nonexistent/zip\": No such file or directory (os error 2)"
        );
        let plain = d.0.join("plain");
        std::fs::write(&plain, "x").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            err(&format!("compress client custom\nclient_custom_compress \"{}\"", plain.display())),
            format!("dumptype \"dt\": client_custom_compress \"{}\" is not executable", plain.display())
        );
        assert_eq!(
            err("compress server custom\nserver_custom_compress \"zstd:99\""),
            "dumptype \"dt\": server_custom_compress \"zstd:99\": zstd level 99 is not between 1 and 19"
        );
        assert_eq!(
            err("compress server custom\nserver_custom_compress \"bzip9\""),
            "dumptype \"dt\": server_custom_compress \"bzip9\" is not found on PATH"
        );
        assert_eq!(err("encrypt server"), "dumptype \"dt\": encrypt server needs server_encrypt");
        let e = err("encrypt server\nserver_encrypt \"amaead\"");
        assert!(
            e.starts_with(
                "dumptype \"dt\": server_encrypt \"amaead\" needs a key file: set encrypt_key_file"
            ),
            "{e}"
        );
        let e = err("encrypt client\nclient_encrypt \"amaead\"\nencrypt_key_file \"/nonexistent/k\"");
        assert!(e.starts_with("dumptype \"dt\": ") && e.contains("/nonexistent/k"), "{e}");
        let cfg = config(&d.0, "");
        assert!(DataSettings::from_config(&cfg, "nope")
            .unwrap_err()
            .contains("dumptype \"nope\" is not defined"));
    }
}
