//! disklist(5): the list of DLEs (`host diskname [diskdevice] dumptype [spindle [interface]]`).
//!
//! Follows Amanda 3.5.1's `server-src/diskfile.c`:
//! - one DLE per line; `#` starts a comment; `includefile "name"` reads another file
//!   relative to the configuration directory;
//! - disk names and devices may be quoted (`"/my disk"`), Samba shares are written
//!   `//host/share`;
//! - the dumptype is a name, or `{` at the end of the line opening an inline dumptype
//!   that runs to a line starting with `}`; that line may carry the spindle and the
//!   interface after the brace;
//! - errors are `"<file>", line N: <message>` (double quotes, unlike amanda.conf's single
//!   quotes, as Amanda prints them), and reading stops at the first bad line.

use super::parser::{read_inline_dumptype, Config, Level, SectionKind};
use crate::format::quote::{sanitise_filename as sanitise, unquote_bytes as unquote};

/// One disklist entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Dle {
    pub host: String,
    pub disk: String,
    pub device: Option<String>,
    /// Name of the dumptype (for an inline block, the generated `custom(host:disk).N`).
    pub dumptype: String,
    pub spindle: i32,
    /// Interface name; `default` when none is given.
    pub interface: String,
    pub file: String,
    pub line: i32,
}

/// The result of reading a disklist: the DLEs, the configuration grown by the inline
/// dumptypes, and what was reported.
pub struct Disklist {
    pub dles: Vec<Dle>,
    pub config: Config,
    pub diagnostics: Vec<String>,
    pub level: Level,
}

/// Reads `path` against `cfg`.
pub fn read_disklist(cfg: &Config, path: &str) -> Disklist {
    let mut r = Reader {
        dl: Disklist { dles: Vec::new(), config: cfg.clone(), diagnostics: Vec::new(), level: Level::Ok },
        anonymous: 0,
    };
    r.read_file(path);
    r.dl
}

struct Reader {
    dl: Disklist,
    anonymous: u32,
}

/// Splits off one whitespace-delimited word; quotes group, a backslash escapes the next
/// byte (Amanda's `skip_quoted_string`).
fn next_word(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let b = s.as_bytes();
    let mut i = 0;
    let mut in_quote = false;
    while i < b.len() && (in_quote || !b[i].is_ascii_whitespace()) {
        if b[i] == b'"' {
            in_quote = !in_quote;
        } else if b[i] == b'\\' && i + 1 < b.len() {
            i += 1;
        }
        i += 1;
    }
    (&s[..i], &s[i..])
}

fn at_end(rest: &str) -> bool {
    let t = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
    t.is_empty() || t.starts_with('#')
}

fn unq(word: &str) -> String {
    String::from_utf8_lossy(&unquote(word.as_bytes())).into_owned()
}

impl Reader {
    fn error(&mut self, file: &str, line: i32, msg: &str) {
        self.dl.diagnostics.push(format!("\"{file}\", line {line}: {msg}"));
        self.dl.level = Level::Errors;
    }

    fn read_file(&mut self, path: &str) {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                self.dl
                    .diagnostics
                    .push(format!("Could not open '{path}': {}", super::parser::os_error_text(&e)));
                self.dl.level = Level::Errors;
                return;
            }
        };
        let mut pos = 0;
        let mut line_num = 0;
        while pos < bytes.len() {
            let end = bytes[pos..].iter().position(|b| *b == b'\n').map(|i| pos + i).unwrap_or(bytes.len());
            let line = String::from_utf8_lossy(&bytes[pos..end]).into_owned();
            pos = (end + 1).min(bytes.len());
            line_num += 1;
            if line.is_empty() {
                continue;
            }
            match self.parse_line(path, &bytes, &mut pos, &mut line_num, &line) {
                Ok(()) => {}
                Err(()) => return,
            }
        }
    }

    fn parse_line(
        &mut self,
        file: &str,
        bytes: &[u8],
        pos: &mut usize,
        line_num: &mut i32,
        line: &str,
    ) -> Result<(), ()> {
        let ln = *line_num;
        if at_end(line) {
            return Ok(());
        }
        let (host_word, rest) = next_word(line);
        if host_word == "includefile" {
            if at_end(rest) {
                self.error(file, ln, "include filename name expected");
                return Err(());
            }
            let (name, _) = next_word(rest);
            let name = unq(name);
            let path = match &self.dl.config.dir {
                Some(d) if !name.starts_with('/') => format!("{}/{name}", d.display()),
                _ => name,
            };
            self.read_file(&path);
            return if self.dl.level >= Level::Warnings { Err(()) } else { Ok(()) };
        }
        let mut host = host_word.to_string();
        if let Some(known) = self.dl.dles.iter().find(|d| d.host.eq_ignore_ascii_case(host_word)) {
            if known.host != host_word {
                let k = known.host.clone();
                self.error(file, ln, &format!("Same host with different case: \"{k}\" and \"{host_word}\"."));
                return Err(());
            }
            host = known.host.clone();
        }
        let shost = sanitise(&host);
        if let Some(other) = self.dl.dles.iter().find(|d| d.host != host && sanitise(&d.host) == shost) {
            let o = other.host.clone();
            self.error(file, ln, &format!("Two hosts are mapping to the same name: \"{o}\" and \"{host}\""));
            return Err(());
        }

        if at_end(rest) {
            self.error(file, ln, "disk device name expected");
            return Err(());
        }
        let (disk_word, rest) = next_word(rest);
        let disk = unq(disk_word);
        if disk.is_empty() {
            self.error(file, ln, "invalid empty diskname");
            return Err(());
        }
        if at_end(rest) {
            self.error(file, ln, "disk dumptype expected");
            return Err(());
        }
        let (mut dt_word, mut rest) = next_word(rest);
        let mut device = None;
        let mut dumptype = None;
        if !dt_word.starts_with('{') {
            let dt = unq(dt_word);
            if dt.is_empty() {
                self.error(file, ln, "invalid empty diskdevice");
                return Err(());
            }
            if self.dl.config.lookup(SectionKind::Dumptype, &dt).is_none() {
                if at_end(rest) {
                    self.error(file, ln, &format!("disk dumptype '{dt}' not found"));
                    return Err(());
                }
                device = Some(dt);
                let (w, r) = next_word(rest);
                dt_word = w;
                rest = r;
                if !dt_word.starts_with('{') {
                    dumptype = Some(unq(dt_word));
                }
            } else {
                dumptype = Some(dt);
            }
        }

        let dup = self.dl.dles.iter().find(|d| d.host == host && d.disk == disk).map(|d| d.line);
        if let Some(prev) = dup {
            self.error(file, ln, &format!("duplicate disk record, previous on line {prev}"));
        }
        let sdisk = sanitise(&disk);
        if let Some(other) =
            self.dl.dles.iter().find(|d| d.host == host && d.disk != disk && sanitise(&d.disk) == sdisk)
        {
            let o = other.disk.clone();
            self.error(
                file,
                ln,
                &format!("Two disks are mapping to the same name: \"{o}\" and \"{disk}\"; you must use different diskname"),
            );
            return Err(());
        }

        let mut tail: String;
        let dumptype_name = if let Some(after) = dt_word.strip_prefix('{') {
            let after_all = format!("{after}{rest}");
            if !at_end(&after_all) {
                self.error(file, ln, "expected line break after `{', ignoring rest of line");
            }
            let close = after_all.find('}');
            let hash = after_all.find('#');
            if close.is_some() && (hash.is_none() || close < hash) {
                self.error(file, ln, "'}' on same line than '{'");
                return Err(());
            }
            self.anonymous += 1;
            let name = format!("custom({host}:{disk}).{}", self.anonymous).replace('/', "_");
            let cfg = std::mem::replace(&mut self.dl.config, Config::placeholder());
            let (cfg, new_pos, new_line, diags, level) =
                read_inline_dumptype(cfg, bytes, *pos, file, *line_num, name.clone());
            self.dl.config = cfg;
            self.dl.diagnostics.extend(diags);
            if level > self.dl.level {
                self.dl.level = level;
            }
            *line_num = new_line;
            // The rest of the closing line (after `}`) carries spindle and interface.
            let end =
                bytes[new_pos..].iter().position(|b| *b == b'\n').map(|i| new_pos + i).unwrap_or(bytes.len());
            tail = String::from_utf8_lossy(&bytes[new_pos..end]).into_owned();
            *pos = (end + 1).min(bytes.len());
            if dup.is_some() {
                self.error(file, ln, "read of custom dumptype failed");
                return Err(());
            }
            name
        } else {
            let dt = dumptype.unwrap_or_default();
            if self.dl.config.lookup(SectionKind::Dumptype, &dt).is_none() {
                let q = crate::config::value::quote_always(&dt);
                let q = if dt.is_empty() || dt.bytes().any(|b| b <= b' ' || b"\"'\\:".contains(&b)) {
                    q
                } else {
                    dt.clone()
                };
                self.error(file, ln, &format!("undefined dumptype `{q}'"));
                return Err(());
            }
            tail = rest.to_string();
            self.dl.config.lookup(SectionKind::Dumptype, &dt).map(|s| s.name.clone()).unwrap_or(dt)
        };
        if dup.is_some() {
            return Err(());
        }

        let mut spindle = -1;
        let cur_line = *line_num;
        if !at_end(&tail) {
            let (w, r) = next_word(&tail);
            let digits = w.strip_prefix('-').unwrap_or(w);
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                self.error(file, cur_line, &format!("non-integer spindle `{w}'"));
                return Err(());
            }
            spindle = w.parse().unwrap_or(0);
            tail = r.to_string();
        }
        let mut interface = "default".to_string();
        if !at_end(&tail) {
            let (w, r) = next_word(&tail);
            match self.dl.config.lookup(SectionKind::Interface, &w.to_ascii_uppercase()) {
                Some(i) => interface = i.name.clone(),
                None => {
                    self.error(file, cur_line, &format!("undefined network interface `{w}'"));
                    return Err(());
                }
            }
            tail = r.to_string();
        }
        if !at_end(&tail) {
            self.error(file, cur_line, "end of line expected");
        }

        let dt = self.dl.config.lookup(SectionKind::Dumptype, &dumptype_name).cloned();
        if let Some(dt) = dt {
            let program = dt.get("DUMPTYPE_PROGRAM").as_str().unwrap_or("").to_string();
            let application = dt.get("DUMPTYPE_APPLICATION").as_str().map(str::to_string);
            if application.is_some() && program != "APPLICATION" {
                self.error(file, cur_line, "Both program and application set");
            }
            if program == "APPLICATION" && application.is_none() {
                self.error(file, cur_line, "program set to APPLICATION but no application set");
            }
            if let Some(app) = application {
                let plugin = self
                    .dl
                    .config
                    .lookup(SectionKind::Application, &app)
                    .and_then(|a| a.get("APPLICATION_PLUGIN").as_str().map(str::to_string))
                    .unwrap_or_default();
                if plugin.is_empty() {
                    self.error(file, cur_line, "plugin not set for application");
                }
            }
            if let crate::config::Value::IdentList(scripts) = &dt.get("DUMPTYPE_SCRIPTLIST").value {
                for s in scripts.clone() {
                    let plugin = self
                        .dl
                        .config
                        .lookup(SectionKind::Script, &s)
                        .and_then(|a| a.get("PP_SCRIPT_PLUGIN").as_str().map(str::to_string))
                        .unwrap_or_default();
                    if plugin.is_empty() {
                        self.error(file, cur_line, "plugin not set for script");
                    }
                }
            }
        }

        self.dl.dles.push(Dle {
            host,
            disk,
            device,
            dumptype: dumptype_name,
            spindle,
            interface,
            file: file.to_string(),
            line: ln,
        });
        Ok(())
    }
}
