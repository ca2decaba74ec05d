//! Amanda 3.5.1's command-line dump specifications (`server-src/cmdline.c`): parsing
//! `HOST [DISK [DATESTAMP [LEVEL]]] …` argument lists, formatting them back, and deciding
//! whether a dump matches a list of them.
//!
//! Format and rules:
//!
//! - Arguments are consumed in groups: host, disk, then a datestamp only with
//!   [`ParseFlags::PARSE_DATESTAMP`], then a level only with [`ParseFlags::PARSE_LEVEL`];
//!   an argument not taken as a datestamp or level starts the next group (it is the next
//!   host). So without flags `h1 d1 h2 d2` is two specs.
//! - [`ParseFlags::EXACT_MATCH`] (`--exact-match`) prefixes every argument with `=`
//!   unless it already starts with one, making each component an exact comparison.
//! - A level argument (without `EXACT_MATCH`, non-empty) must compile as a POSIX regex,
//!   a check Amanda makes although levels are not matched as regexes.
//! - [`ParseFlags::EMPTY_TO_WILDCARD`]: no arguments give one spec of empty strings
//!   (datestamp / level only if parsed), which matches everything.
//! - Formatting: components separated by one space, stopping at the first absent one;
//!   a component with anything but ASCII alphanumerics, `.` and `/` is single-quoted with
//!   `'` and `\` backslash-escaped; the empty string is `''`.
//! - Matching: an absent or empty component matches anything; others use
//!   `match_host` / `match_disk` / `match_datestamp` / `match_level` (the level as
//!   decimal text), checked in that order with short-circuit, so an invalid datestamp
//!   expression is only reported once host and disk matched.

use super::matching::{match_datestamp, match_disk, match_host, match_level, validate_regexp, MatchError};

/// One dump specification (Amanda's `dumpspec_t`). `None` is C's NULL: "not given".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpSpec {
    pub host: Option<String>,
    pub disk: Option<String>,
    pub datestamp: Option<String>,
    pub level: Option<String>,
    pub write_timestamp: Option<String>,
}

/// Flags of `cmdline_parse_dumpspecs`; the bit values are Amanda's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseFlags(u32);

impl ParseFlags {
    pub const NONE: ParseFlags = ParseFlags(0);
    /// `CMDLINE_PARSE_DATESTAMP`: a datestamp follows the disk.
    pub const PARSE_DATESTAMP: ParseFlags = ParseFlags(1 << 0);
    /// `CMDLINE_PARSE_LEVEL`: a level follows the datestamp.
    pub const PARSE_LEVEL: ParseFlags = ParseFlags(1 << 1);
    /// `CMDLINE_EMPTY_TO_WILDCARD`: no arguments give one match-everything spec.
    pub const EMPTY_TO_WILDCARD: ParseFlags = ParseFlags(1 << 2);
    /// `CMDLINE_EXACT_MATCH`: every argument is an exact (`=`) match.
    pub const EXACT_MATCH: ParseFlags = ParseFlags(1 << 3);

    pub const fn bits(self) -> u32 {
        self.0
    }
    pub const fn from_bits(bits: u32) -> ParseFlags {
        ParseFlags(bits & 0xf)
    }
    pub const fn contains(self, other: ParseFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for ParseFlags {
    type Output = ParseFlags;
    fn bitor(self, rhs: ParseFlags) -> ParseFlags {
        ParseFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for ParseFlags {
    fn bitor_assign(&mut self, rhs: ParseFlags) {
        self.0 |= rhs.0;
    }
}

/// Amanda's `cmdline_parse_dumpspecs`. The only error is a level that is not a valid
/// regex (Amanda exits with "bad level regex").
pub fn parse_dumpspecs<S: AsRef<str>>(args: &[S], flags: ParseFlags) -> Result<Vec<DumpSpec>, MatchError> {
    enum State {
        Host,
        Disk,
        Datestamp,
        Level,
    }
    let mut list: Vec<DumpSpec> = Vec::new();
    let mut state = State::Host;
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_ref();
        let name = if flags.contains(ParseFlags::EXACT_MATCH) && !arg.starts_with('=') {
            format!("={arg}")
        } else {
            arg.to_string()
        };
        match state {
            State::Host => {
                state = State::Disk;
                list.push(DumpSpec { host: Some(name), ..DumpSpec::default() });
            }
            State::Disk => {
                state = State::Datestamp;
                if let Some(last) = list.last_mut() {
                    last.disk = Some(name);
                }
            }
            State::Datestamp => {
                state = State::Level;
                if !flags.contains(ParseFlags::PARSE_DATESTAMP) {
                    continue; // same argument again, as a level or the next host
                }
                if let Some(last) = list.last_mut() {
                    last.datestamp = Some(name);
                }
            }
            State::Level => {
                state = State::Host;
                if !flags.contains(ParseFlags::PARSE_LEVEL) {
                    continue; // same argument again, as the next host
                }
                if !name.is_empty() && !flags.contains(ParseFlags::EXACT_MATCH) {
                    if let Some(message) = validate_regexp(&name) {
                        return Err(MatchError::LevelRegex { level: name, message });
                    }
                }
                if let Some(last) = list.last_mut() {
                    last.level = Some(name);
                }
            }
        }
        i += 1;
    }
    if list.is_empty() && flags.contains(ParseFlags::EMPTY_TO_WILDCARD) {
        let empty = |yes: bool| if yes { Some(String::new()) } else { None };
        list.push(DumpSpec {
            host: Some(String::new()),
            disk: Some(String::new()),
            datestamp: empty(flags.contains(ParseFlags::PARSE_DATESTAMP)),
            level: empty(flags.contains(ParseFlags::PARSE_LEVEL)),
            write_timestamp: Some(String::new()),
        });
    }
    Ok(list)
}

/// `quote_dumpspec_string`: conservative shell quoting.
fn quote_dumpspec_string(s: &str) -> String {
    if s.is_empty() {
        return "''".to_string();
    }
    let need_quotes = s.bytes().any(|b| !b.is_ascii_alphanumeric() && b != b'.' && b != b'/');
    let mut out = String::with_capacity(s.len() + 2);
    if need_quotes {
        out.push('\'');
    }
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    if need_quotes {
        out.push('\'');
    }
    out
}

/// Amanda's `cmdline_format_dumpspec_components`: `None` when there is no host.
pub fn format_dumpspec_components(
    host: Option<&str>,
    disk: Option<&str>,
    datestamp: Option<&str>,
    level: Option<&str>,
) -> Option<String> {
    let host = host?;
    let mut parts = vec![quote_dumpspec_string(host)];
    if let Some(disk) = disk {
        parts.push(quote_dumpspec_string(disk));
        if let Some(datestamp) = datestamp {
            parts.push(quote_dumpspec_string(datestamp));
            if let Some(level) = level {
                parts.push(quote_dumpspec_string(level));
            }
        }
    }
    Some(parts.join(" "))
}

/// Amanda's `cmdline_format_dumpspec` (the write timestamp is not shown).
pub fn format_dumpspec(spec: &DumpSpec) -> Option<String> {
    format_dumpspec_components(
        spec.host.as_deref(),
        spec.disk.as_deref(),
        spec.datestamp.as_deref(),
        spec.level.as_deref(),
    )
}

/// A component that constrains the match: present and non-empty.
fn given(c: &Option<String>) -> Option<&str> {
    c.as_deref().filter(|s| !s.is_empty())
}

/// A dump as the catalog lists it (the fields of Amanda's `find_result_t` that
/// `dumps_match_dumpspecs` looks at).
#[derive(Debug, Clone, Copy)]
pub struct CatalogDump<'a> {
    pub host: &'a str,
    pub disk: &'a str,
    /// The dump's timestamp (`YYYYMMDD` or `YYYYMMDDhhmmss`).
    pub timestamp: &'a str,
    /// When it was written to its volume.
    pub write_timestamp: &'a str,
    pub level: i32,
}

/// A timestamp shorter than 14 characters, right-padded with `0` to 14 (find.c does this
/// so that `20260101` also matches an expression like `20260101000000`).
fn zeropad14(ts: &str) -> Option<String> {
    (ts.len() < 14).then(|| {
        let mut padded = ts.to_string();
        while padded.len() < 14 {
            padded.push('0'); // bytes, as memset/memcpy count them
        }
        padded
    })
}

/// `match_datestamp(exp, ts) || (padded && match_datestamp(exp, padded))`.
fn datestamp_or_padded(exp: &str, ts: &str) -> Result<bool, MatchError> {
    if match_datestamp(exp, ts)? {
        return Ok(true);
    }
    match zeropad14(ts) {
        Some(p) => match_datestamp(exp, &p),
        None => Ok(false),
    }
}

impl DumpSpec {
    /// One spec against a dump header, as in Amanda's `header_matches_dumpspecs` (for
    /// dump and split-dump headers; the caller skips other header types): host, disk,
    /// datestamp, level (write timestamp not consulted).
    pub fn matches(&self, host: &str, disk: &str, datestamp: &str, level: i32) -> Result<bool, MatchError> {
        if let Some(h) = given(&self.host) {
            if !match_host(h, host)? {
                return Ok(false);
            }
        }
        if let Some(d) = given(&self.disk) {
            if !match_disk(d, disk)? {
                return Ok(false);
            }
        }
        if let Some(ds) = given(&self.datestamp) {
            if !match_datestamp(ds, datestamp)? {
                return Ok(false);
            }
        }
        if let Some(l) = given(&self.level) {
            if !match_level(l, &level.to_string())? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One spec against a holding-disk file, as `cmdline_match_holding`: host, disk and
    /// datestamp only.
    pub fn matches_holding(&self, host: &str, disk: &str, datestamp: &str) -> Result<bool, MatchError> {
        Ok((match given(&self.host) {
            Some(h) => match_host(h, host)?,
            None => true,
        }) && (match given(&self.disk) {
            Some(d) => match_disk(d, disk)?,
            None => true,
        }) && (match given(&self.datestamp) {
            Some(ds) => match_datestamp(ds, datestamp)?,
            None => true,
        }))
    }

    /// One spec against a catalog entry, as `dumps_match_dumpspecs` (find.c): also the
    /// write timestamp, and timestamps shorter than 14 digits are tried zero-padded too.
    /// (Its `ok` filter on the status is the caller's business.)
    pub fn matches_catalog(&self, dump: &CatalogDump<'_>) -> Result<bool, MatchError> {
        if let Some(h) = given(&self.host) {
            if !match_host(h, dump.host)? {
                return Ok(false);
            }
        }
        if let Some(d) = given(&self.disk) {
            if !match_disk(d, dump.disk)? {
                return Ok(false);
            }
        }
        if let Some(ds) = given(&self.datestamp) {
            if !datestamp_or_padded(ds, dump.timestamp)? {
                return Ok(false);
            }
        }
        if let Some(w) = given(&self.write_timestamp) {
            if !datestamp_or_padded(w, dump.write_timestamp)? {
                return Ok(false);
            }
        }
        if let Some(l) = given(&self.level) {
            if !match_level(l, &dump.level.to_string())? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Whether a dump header matches any of `specs`, as `$hdr->matches_dumpspecs` is used by
/// amrestore and friends: **an empty list matches everything** (Amanda's callers test
/// `!@dumpspecs or …`; `header_matches_dumpspecs` alone would say no). Specs are tried in
/// order and the first error ends the search, as Amanda's `error()` would.
pub fn matches_any(
    specs: &[DumpSpec],
    host: &str,
    disk: &str,
    datestamp: &str,
    level: i32,
) -> Result<bool, MatchError> {
    if specs.is_empty() {
        return Ok(true);
    }
    for spec in specs {
        if spec.matches(host, disk, datestamp, level)? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(h: &str, d: Option<&str>) -> DumpSpec {
        DumpSpec { host: Some(h.into()), disk: d.map(Into::into), ..DumpSpec::default() }
    }

    #[test]
    fn grouping_follows_flags() {
        let args = ["h1", "d1", "h2", "d2"];
        assert_eq!(
            parse_dumpspecs(&args, ParseFlags::NONE).unwrap(),
            vec![spec("h1", Some("d1")), spec("h2", Some("d2"))]
        );
        let all = ParseFlags::PARSE_DATESTAMP | ParseFlags::PARSE_LEVEL;
        let v = parse_dumpspecs(&["h", "d", "2026", "0-1", "x"], all).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].level.as_deref(), Some("0-1"));
        let v = parse_dumpspecs(&["h", "d", "x"], ParseFlags::EXACT_MATCH).unwrap();
        assert_eq!(v[1].host.as_deref(), Some("=x"));
        assert!(parse_dumpspecs(&["h", "d", "2026", "("], all).is_err());
        let w = parse_dumpspecs::<&str>(&[], ParseFlags::EMPTY_TO_WILDCARD).unwrap();
        assert_eq!(format_dumpspec(&w[0]).as_deref(), Some("'' ''"));
    }

    #[test]
    fn quoting() {
        assert_eq!(
            format_dumpspec_components(Some("a b"), Some("c'd"), None, Some("1")).unwrap(),
            r"'a b' 'c\'d'"
        );
        assert_eq!(format_dumpspec_components(None, Some("x"), None, None), None);
    }

    #[test]
    fn matching() {
        let s = parse_dumpspecs(
            &["foo", "/usr", "2026", "1"],
            ParseFlags::PARSE_DATESTAMP | ParseFlags::PARSE_LEVEL,
        )
        .unwrap();
        assert!(matches_any(&s, "foo.example.com", "/usr", "20260101", 1).unwrap());
        assert!(!matches_any(&s, "foo.example.com", "/usr", "20250101", 1).unwrap());
        assert!(matches_any(&[], "x", "y", "z", 0).unwrap());
        let w = DumpSpec { write_timestamp: Some("20260102000000".into()), ..DumpSpec::default() };
        let d = CatalogDump {
            host: "h",
            disk: "/",
            timestamp: "20260101",
            write_timestamp: "20260102",
            level: 0,
        };
        assert!(w.matches_catalog(&d).unwrap());
    }
}
