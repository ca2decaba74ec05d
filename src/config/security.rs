//! The client-side access files: `/etc/amanda-security.conf` and `~/.amandahosts`.
//!
//! Formats, as Amanda 3.5.1 reads them (`common-src/security-file.c`,
//! `common-src/security-util.c: check_user_amandahosts`):
//!
//! `amanda-security.conf` — `#` starts a comment; other non-blank lines are
//! `key=value` with the key case-insensitive:
//! - `<program>:<symbolic>=<real path>` (e.g. `amgtar:gnutar_path=/bin/tar`): a program
//!   Amanda may run as root on the client's behalf; a key may appear several times;
//! - `restore_by_amanda_user=yes|no`;
//! - `tcp_port_range=LOW,HIGH` and `udp_port_range=LOW,HIGH`.
//!   The file must belong to root and not be writable by group or others (checked by
//!   [`check_security_file_permissions`]).
//!
//! `.amandahosts` — one entry per line, `host [user [service…]]`, fields separated by
//! blanks, services also by commas, `#` starts a comment. A missing user means the
//! local user; no services means `noop selfcheck sendsize sendbackup`, and the service
//! `amdump` stands for those four. Hosts compare case-insensitively; an entry
//! `localhost` or `localhost.localdomain` also matches a peer at 127.0.0.1 or ::1. The
//! file must belong to the local user and have no group or other permission bits.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A problem in one of these files, naming file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    #[error("'{file}', line {line}: {msg}")]
    Syntax { file: String, line: usize, msg: String },
    #[error("{file}: {msg}")]
    Access { file: String, msg: String },
}

/// `amanda-security.conf`, typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityConf {
    /// `(program, symbolic name, real path)`, in file order.
    pub paths: Vec<(String, String, String)>,
    pub restore_by_amanda_user: Option<bool>,
    pub tcp_port_range: Option<(u16, u16)>,
    pub udp_port_range: Option<(u16, u16)>,
}

fn parse_range(v: &str) -> Option<(u16, u16)> {
    let (a, b) = v.split_once(',')?;
    let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

impl SecurityConf {
    /// Parses the text of `file`.
    pub fn parse(file: &str, text: &str) -> Result<SecurityConf, SecurityError> {
        let mut conf = SecurityConf::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |msg: String| SecurityError::Syntax { file: file.to_string(), line: i + 1, msg };
            let Some((key, value)) = line.split_once('=') else {
                return Err(err(format!("expected key=value, got \"{line}\"")));
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "restore_by_amanda_user" => {
                    conf.restore_by_amanda_user = Some(match value.to_ascii_lowercase().as_str() {
                        "yes" | "true" | "1" => true,
                        "no" | "false" | "0" => false,
                        _ => {
                            return Err(err(format!(
                                "restore_by_amanda_user must be YES or NO, got \"{value}\""
                            )))
                        }
                    })
                }
                "tcp_port_range" | "udp_port_range" => {
                    let r = parse_range(value).ok_or_else(|| {
                        err(format!("{key} must be LOW,HIGH with LOW <= HIGH, got \"{value}\""))
                    })?;
                    if key.starts_with("tcp") {
                        conf.tcp_port_range = Some(r);
                    } else {
                        conf.udp_port_range = Some(r);
                    }
                }
                _ => {
                    let Some((program, symbolic)) = key.split_once(':') else {
                        return Err(err(format!("unknown key \"{key}\"")));
                    };
                    if program.is_empty() || symbolic.is_empty() || !value.starts_with('/') {
                        return Err(err(format!("expected PROGRAM:NAME=/absolute/path, got \"{line}\"")));
                    }
                    conf.paths.push((program.to_string(), symbolic.to_string(), value.to_string()));
                }
            }
        }
        Ok(conf)
    }

    /// Whether `program` may run `path` for `symbolic` (`amgtar`, `gnutar_path`, …).
    /// With no line for that pair, only `default` (the build's own path) is allowed.
    pub fn allows(&self, program: &str, symbolic: &str, path: &str, default: &str) -> bool {
        let mut listed = self
            .paths
            .iter()
            .filter(|(p, s, _)| p.eq_ignore_ascii_case(program) && s.eq_ignore_ascii_case(symbolic))
            .peekable();
        if listed.peek().is_none() {
            return path == default;
        }
        listed.any(|(_, _, real)| real == path)
    }
}

/// Refuses a security file not owned by root or writable by group or others.
pub fn check_security_file_permissions(path: &Path) -> Result<(), SecurityError> {
    let file = path.display().to_string();
    let md = std::fs::metadata(path)
        .map_err(|e| SecurityError::Access { file: file.clone(), msg: e.to_string() })?;
    if md.uid() != 0 {
        return Err(SecurityError::Access { file, msg: format!("owned by id {}, should be 0", md.uid()) });
    }
    if md.mode() & 0o022 != 0 {
        return Err(SecurityError::Access { file, msg: "must not be writable by group or others".into() });
    }
    Ok(())
}

/// One `.amandahosts` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub host: String,
    pub user: Option<String>,
    pub services: Vec<String>,
    pub line: usize,
}

/// The services allowed by an entry that names none, and implied by `amdump`.
pub const DEFAULT_SERVICES: [&str; 4] = ["noop", "selfcheck", "sendsize", "sendbackup"];

/// `.amandahosts`, typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AmandaHosts {
    pub entries: Vec<HostEntry>,
}

impl AmandaHosts {
    pub fn parse(text: &str) -> AmandaHosts {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("");
            let mut fields = line.split([' ', '\t']).filter(|f| !f.is_empty());
            let Some(host) = fields.next() else { continue };
            let user = fields.next().map(str::to_string);
            let services =
                fields.flat_map(|f| f.split(',')).filter(|s| !s.is_empty()).map(str::to_string).collect();
            entries.push(HostEntry { host: host.to_string(), user, services, line: i + 1 });
        }
        AmandaHosts { entries }
    }

    /// Reads `path`, refusing it unless it belongs to `owner_uid` and has no group or
    /// other permission bits (as Amanda does).
    pub fn load(path: &Path, owner_uid: u32) -> Result<AmandaHosts, SecurityError> {
        let file = path.display().to_string();
        let access = |msg: String| SecurityError::Access { file: file.clone(), msg };
        let md = std::fs::metadata(path).map_err(|e| access(format!("cannot open: {e}")))?;
        if md.uid() != owner_uid {
            return Err(access(format!("owned by id {}, should be {owner_uid}", md.uid())));
        }
        if md.mode() & 0o077 != 0 {
            return Err(access(format!(
                "incorrect permissions; file must be accessible only by its owner (chmod 600 {file})"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| access(format!("cannot read: {e}")))?;
        Ok(AmandaHosts::parse(&text))
    }

    /// Whether `remote_user` on `peer_host` (at `peer_ip`) may use `service` as
    /// `local_user`; `service` None asks only about host and user.
    pub fn allows(
        &self,
        peer_host: &str,
        peer_ip: Option<std::net::IpAddr>,
        remote_user: &str,
        local_user: &str,
        service: Option<&str>,
    ) -> bool {
        let loopback = peer_ip.is_some_and(|ip| ip.is_loopback());
        self.entries.iter().any(|e| {
            let host_match = e.host.eq_ignore_ascii_case(peer_host)
                || (loopback
                    && (e.host.eq_ignore_ascii_case("localhost")
                        || e.host.eq_ignore_ascii_case("localhost.localdomain")));
            let user = e.user.as_deref().unwrap_or(local_user);
            if !host_match || !user.eq_ignore_ascii_case(remote_user) {
                return false;
            }
            let Some(service) = service else { return true };
            if e.services.is_empty() {
                return DEFAULT_SERVICES.contains(&service);
            }
            e.services.iter().any(|s| s == service || (s == "amdump" && DEFAULT_SERVICES.contains(&service)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_conf_parses_and_checks_paths() {
        let text = "# comment\namgtar:gnutar_path=/bin/tar\nAMGTAR:GNUTAR_PATH=/usr/bin/tar\n\
                    restore_by_amanda_user=no\ntcp_port_range=840,860\n";
        let c = SecurityConf::parse("/etc/amanda-security.conf", text).unwrap();
        assert_eq!(c.paths.len(), 2);
        assert_eq!(c.restore_by_amanda_user, Some(false));
        assert_eq!(c.tcp_port_range, Some((840, 860)));
        assert!(c.allows("amgtar", "gnutar_path", "/usr/bin/tar", "/bin/tar"));
        assert!(!c.allows("amgtar", "gnutar_path", "/tmp/evil", "/bin/tar"));
        assert!(c.allows("ambsdtar", "bsdtar_path", "/usr/bin/bsdtar", "/usr/bin/bsdtar"));
        let e = SecurityConf::parse("f", "\n\nbogus line\n").unwrap_err();
        assert_eq!(e.to_string(), "'f', line 3: expected key=value, got \"bogus line\"");
        let e = SecurityConf::parse("f", "udp_port_range=900,800\n").unwrap_err();
        assert!(e.to_string().starts_with("'f', line 1: udp_port_range"));
    }

    #[test]
    fn amandahosts_rules() {
        let h = AmandaHosts::parse(
            "server.example.com backup amdump\nlocalhost root amindexd,amidxtaped\nplain\n# x\n",
        );
        assert_eq!(h.entries.len(), 3);
        let lo: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        assert!(h.allows("SERVER.example.com", None, "backup", "backup", Some("sendbackup")));
        assert!(!h.allows("server.example.com", None, "backup", "backup", Some("amindexd")));
        assert!(h.allows("myhost", Some(lo), "root", "backup", Some("amidxtaped")));
        assert!(!h.allows("myhost", None, "root", "backup", Some("amidxtaped")));
        assert!(h.allows("plain", None, "backup", "backup", Some("noop")));
        assert!(!h.allows("plain", None, "backup", "backup", Some("amindexd")));
        assert!(!h.allows("plain", None, "other", "backup", None));
    }
}
