//! Amanda 3.5.1's `match.c`: host, disk, datestamp and level expressions, file and tar
//! globs, exact expressions and labelstr templates, as amanda-match(7) describes them and as
//! the C code actually behaves (including its corner cases).
//!
//! Expression rules, in the order Amanda applies them:
//!
//! - **Exact**: a pattern starting with `=` is compared byte for byte with the rest
//!   (case-sensitive even for hosts), for hosts, disks, datestamps and levels alike.
//! - **Host / disk** ("match_word"): the subject is wrapped in separators (`.` for hosts,
//!   `/` for disks) unless the pattern is anchored; the pattern becomes a regex where
//!   `?` = one non-separator character, `*` = any run of non-separators, `**` = anything,
//!   `[…]`/`[!…]` are bracket expressions, `\x` quotes `x`, and the other regex
//!   metacharacters are literal; a leading `^` / trailing `$` anchor to the start / end,
//!   otherwise the pattern must match whole separator-delimited words anywhere. Hosts are
//!   compared in ASCII lower case. A disk starting with `\\` and containing no `/` is a
//!   Windows UNC path: both it and the pattern (`\\` → `/`) are converted to slashes first.
//! - **Datestamp**: `*` = all; `A-B` = from A to B where B may be abbreviated to its
//!   trailing digits (`20260101-15`), compared as prefixes; otherwise a digit prefix;
//!   optional `^`, and `$` for an exact match; anything else is an error.
//! - **Level**: `A-B` numeric range, otherwise a digit prefix (`1` matches `1`, `10`),
//!   optional `^`, `$` exact; anything else is an error.
//! - **Globs** (`match_glob`): shell-like, `*`/`?` do not cross `/`, anchored both ends.
//!   **Tar globs** (`match_tar`): `*` crosses `/`, the match may start and end at any `/`.
//! - **Labelstr templates**: `%` = a digit, `!` = an upper-case letter, `$c`/`$o`/`$b`/
//!   `$m`/`$r` = config name / org / barcode / meta / storage, `$s` = digits, `$Ns` = N
//!   digits, `\x` = `x`, everything else is regex; see [`make_template`].
//!
//! Errors: where Amanda calls `error()` (printing a message and exiting) these functions
//! return a [`MatchError`] whose text is Amanda's message.

use std::cmp::Ordering;

use super::ere;
use crate::config::value::{AutoLabel, LabelStr};

/// An expression Amanda would reject; `Display` is Amanda's own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// A regular expression (possibly translated from a host or disk expression) does not
    /// compile.
    #[error("regex \"{regex}\": {message}")]
    Regex { regex: String, message: &'static str },
    /// A glob's translation does not compile.
    #[error("glob \"{glob}\" -> regex \"{regex}\": {message}")]
    Glob { glob: String, regex: String, message: &'static str },
    #[error("Illegal datestamp expression {0}")]
    Datestamp(String),
    #[error("Illegal level expression {0}")]
    Level(String),
    /// From `parse_dumpspecs`: a level argument that is not a valid regex.
    #[error("bad level regex \"{level}\": {message}")]
    LevelRegex { level: String, message: &'static str },
}

/// Amanda's `match()` (`do_match(regex, str, TRUE)`): POSIX ERE search with
/// `REG_NEWLINE`.
pub fn match_regex(regex: &str, subject: &str) -> Result<bool, MatchError> {
    do_match(regex, subject.as_bytes(), true)
}

/// Amanda's `match_no_newline()`: like [`match_regex`] without `REG_NEWLINE`.
pub fn match_regex_no_newline(regex: &str, subject: &str) -> Result<bool, MatchError> {
    do_match(regex, subject.as_bytes(), false)
}

fn do_match(regex: &str, subject: &[u8], newline: bool) -> Result<bool, MatchError> {
    let re = ere::cached(regex, newline)
        .map_err(|e| MatchError::Regex { regex: regex.to_string(), message: e.0 })?;
    Ok(re.is_match_bytes(subject))
}

/// Amanda's `validate_regexp`: `None` when valid, else the regcomp error message.
pub fn validate_regexp(regex: &str) -> Option<&'static str> {
    ere::validate_regexp(regex)
}

/// Amanda's `clean_regex`: backslash before every non-alphanumeric character, optionally
/// anchored. Bytes of non-ASCII characters are left unescaped (Amanda escapes each byte,
/// which is not valid UTF-8; both forms match the same text).
pub fn clean_regex(s: &str, anchor: bool) -> String {
    let mut out = String::with_capacity(2 * s.len() + 2);
    if anchor {
        out.push('^');
    }
    for c in s.chars() {
        if c.is_ascii() && !c.is_ascii_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    if anchor {
        out.push('$');
    }
    out
}

/// `should_be_escaped_except` + `full_amglob_from_expression`.
fn full_amglob_from_expression(s: &str, not_this_one: char) -> String {
    let mut out = String::with_capacity(2 * s.len() + 2);
    out.push('^');
    for c in s.chars() {
        if c != not_this_one && matches!(c, '\\' | '^' | '$' | '?' | '*' | '[' | ']' | '.' | '/') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('$');
    out
}

/// Amanda's `make_exact_disk_expression`: a disk expression matching exactly `disk`.
pub fn make_exact_disk_expression(disk: &str) -> String {
    full_amglob_from_expression(disk, '/')
}

/// Amanda's `make_exact_host_expression`: a host expression matching exactly `host`.
pub fn make_exact_host_expression(host: &str) -> String {
    full_amglob_from_expression(host, '.')
}

/// What `?`, `*` and `**` become (Amanda's `struct subst_table`).
struct Subst {
    question_mark: &'static str,
    star: &'static str,
    double_star: Option<&'static str>,
}

const GLOB_SUBST: Subst = Subst { question_mark: "[^/]", star: "[^/]*", double_star: None };
const TAR_SUBST: Subst = Subst { question_mark: "[^/]", star: ".*", double_star: None };
const MWORD_DOT_SUBST: Subst = Subst { question_mark: "[^.]", star: "[^.]*", double_star: Some(".*") };
const MWORD_SLASH_SUBST: Subst = Subst { question_mark: "[^/]", star: "[^/]*", double_star: Some(".*") };

/// Regex pieces for match_word (Amanda's `struct mword_regexes`).
struct MwordRegexes {
    double_sep: &'static str,
    begin_full: &'static str,
    separator: &'static str,
    end_full: &'static str,
}

const MWORD_DOT: MwordRegexes =
    MwordRegexes { double_sep: r"^\.\.$", begin_full: r"^\.", separator: r"\.", end_full: r"\.$" };
const MWORD_SLASH: MwordRegexes =
    MwordRegexes { double_sep: r"^\/\/$", begin_full: r"^\/", separator: r"\/", end_full: r"\/$" };

/// Amanda's `amglob_to_regex`. Its idea of where a bracket expression ends (the first `]`
/// not preceded by `\`) differs from POSIX's; that is reproduced, not fixed, because it
/// decides which characters get escaped.
fn amglob_to_regex(glob: &[u8], begin: &str, end: &str, table: &Subst) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(begin.len() + glob.len() * 5 + end.len());
    out.extend_from_slice(begin.as_bytes());
    let (mut in_class, mut in_quote) = (false, false);
    let at = |i: usize| glob.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while i < glob.len() {
        let c = glob[i];
        if in_class {
            in_class = c != b']' || at(i.wrapping_sub(1)) == b'\\';
            out.push(c);
        } else if in_quote {
            in_quote = false;
            out.push(c);
        } else if c == b'\\' {
            in_quote = true;
            out.push(c);
        } else if c == b'[' {
            out.push(c);
            in_class = true;
            if at(i + 1) == b'!' {
                out.push(b'^');
                i += 1;
            }
        } else if matches!(c, b'.' | b'(' | b')' | b'{' | b'}' | b'+' | b'^' | b'$' | b'|') {
            out.push(b'\\');
            out.push(c);
        } else if c == b'?' {
            out.extend_from_slice(table.question_mark.as_bytes());
        } else if c == b'*' {
            match table.double_star {
                Some(ds) if at(i + 1) == b'*' => {
                    i += 1;
                    out.extend_from_slice(ds.as_bytes());
                }
                _ => out.extend_from_slice(table.star.as_bytes()),
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    // A trailing lone backslash leaves the end off; the regex then fails to compile.
    if !in_quote {
        out.extend_from_slice(end.as_bytes());
    }
    // Only ASCII was inserted, at character boundaries: still UTF-8.
    String::from_utf8_lossy(&out).into_owned()
}

/// Amanda's `glob_to_regex`.
pub fn glob_to_regex(glob: &str) -> String {
    amglob_to_regex(glob.as_bytes(), "^", "$", &GLOB_SUBST)
}

/// Amanda's (static) `tar_to_regex`.
pub fn tar_to_regex(glob: &str) -> String {
    amglob_to_regex(glob.as_bytes(), "(^|/)", "($|/)", &TAR_SUBST)
}

/// Amanda's `validate_glob`: `None` when the glob's regex compiles, else the message.
pub fn validate_glob(glob: &str) -> Option<&'static str> {
    validate_regexp(&glob_to_regex(glob))
}

fn match_translated_glob(glob: &str, regex: String, subject: &str) -> Result<bool, MatchError> {
    match ere::cached(&regex, true) {
        Ok(re) => Ok(re.is_match_bytes(subject.as_bytes())),
        Err(e) => Err(MatchError::Glob { glob: glob.to_string(), regex, message: e.0 }),
    }
}

/// Amanda's `match_glob`.
pub fn match_glob(glob: &str, subject: &str) -> Result<bool, MatchError> {
    match_translated_glob(glob, glob_to_regex(glob), subject)
}

/// Amanda's `match_tar`.
pub fn match_tar(glob: &str, subject: &str) -> Result<bool, MatchError> {
    match_translated_glob(glob, tar_to_regex(glob), subject)
}

/// `glob_is_separator_only`: `.`, `^.`, `.$`, `^.$` (with the separator).
fn glob_is_separator_only(glob: &[u8], sep: u8) -> bool {
    match glob {
        [a] => *a == sep,
        [a, b] => (*a == b'^' && *b == sep) || (*a == sep && *b == b'$'),
        [a, b, c] => *a == b'^' && *b == sep && *c == b'$',
        _ => false,
    }
}

/// `wrap_word`: surround the subject with separators where the pattern does not anchor.
/// (Amanda reads `glob[-1]` for an empty pattern; that byte is a malloc header's zero.)
fn wrap_word(word: &[u8], sep: u8, glob: &[u8]) -> Vec<u8> {
    if word.is_empty() {
        return vec![sep];
    }
    if word == [sep] {
        return vec![sep, sep];
    }
    let mut out = Vec::with_capacity(word.len() + 2);
    if word[0] != sep && glob.first() != Some(&b'^') {
        out.push(sep);
    }
    out.extend_from_slice(word);
    if word[word.len() - 1] != sep && glob.last() != Some(&b'$') {
        out.push(sep);
    }
    out
}

/// Amanda's `match_word`, the core of host and disk matching.
fn match_word(glob: &[u8], word: &[u8], sep: u8) -> Result<bool, MatchError> {
    let wrapped = wrap_word(word, sep, glob);
    let (regexes, table) =
        if sep == b'/' { (&MWORD_SLASH, &MWORD_SLASH_SUBST) } else { (&MWORD_DOT, &MWORD_DOT_SUBST) };
    if glob_is_separator_only(glob, sep) {
        return do_match(regexes.double_sep, &wrapped, true);
    }
    let at = |i: usize| glob.get(i).copied().unwrap_or(0);

    // Beginning of the regex: unanchored separator, `^` + separator, `^`, or nothing.
    let mut begin = regexes.separator;
    let mut g = 0;
    if at(0) == b'^' {
        begin = "^";
        g = 1;
        if at(1) == sep {
            begin = regexes.begin_full;
            g = 2;
        }
    } else if at(0) == sep {
        begin = "";
    }

    // End of the regex, from the last character (an empty pattern reads a zero byte).
    let mut stop = glob.len();
    let mut end = regexes.separator;
    let last = glob.len().wrapping_sub(1);
    match at(last) {
        b'\\' => end = "",
        c if c == sep => end = "",
        b'$' => {
            // For the one-character pattern "$" Amanda reads glob[-1]: zero, as above.
            let prev = if last >= 1 { at(last - 1) } else { 0 };
            stop = last;
            if prev == sep {
                stop = last - 1;
                if last >= 2 && at(last - 2) == b'\\' {
                    stop = last - 2;
                }
                end = regexes.end_full;
            } else {
                end = "$";
            }
        }
        _ => {}
    }
    let body = &glob[g.min(stop)..stop];
    let regex = amglob_to_regex(body, begin, end, table);
    do_match(&regex, &wrapped, true)
}

/// Amanda's `match_host`: `pattern` is a host expression (see the module notes).
pub fn match_host(pattern: &str, host: &str) -> Result<bool, MatchError> {
    if let Some(exact) = pattern.strip_prefix('=') {
        return Ok(exact == host);
    }
    let glob = pattern.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    match_word(glob.as_bytes(), host.as_bytes(), b'.')
}

/// Amanda's `match_disk`: `pattern` is a disk expression (see the module notes).
pub fn match_disk(pattern: &str, disk: &str) -> Result<bool, MatchError> {
    if let Some(exact) = pattern.strip_prefix('=') {
        return Ok(exact == disk);
    }
    let windows_share = disk.starts_with("\\\\") && !disk.contains('/');
    if windows_share {
        // convert_winglob_to_unix: each `\\` pair becomes `/`; convert_unc_to_unix: each `\`.
        let glob = pattern.replace("\\\\", "/");
        let disk = disk.replace('\\', "/");
        return match_word(glob.as_bytes(), disk.as_bytes(), b'/');
    }
    match_word(pattern.as_bytes(), disk.as_bytes(), b'/')
}

/// C's `strncmp` on NUL-terminated strings (bytes compared unsigned).
fn strncmp(a: &[u8], b: &[u8], n: usize) -> Ordering {
    for i in 0..n {
        let (x, y) = (a.get(i).copied().unwrap_or(0), b.get(i).copied().unwrap_or(0));
        if x != y {
            return x.cmp(&y);
        }
        if x == 0 {
            break;
        }
    }
    Ordering::Equal
}

fn alldigits(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_digit)
}

/// Strips an initial `^` and a final `$` (the latter meaning "exact"). For the pattern
/// `^` alone Amanda inspects the byte before its buffer (garbage on the stack, in
/// practice never `$`), so the empty remainder is taken as not exact.
fn strip_anchors(exp: &[u8]) -> (Vec<u8>, bool) {
    let mut my = exp.strip_prefix(b"^").unwrap_or(exp).to_vec();
    let exact = my.last() == Some(&b'$');
    if exact {
        my.pop();
    }
    (my, exact)
}

/// Amanda's `match_datestamp`: `dateexp` is a datestamp expression (module notes).
pub fn match_datestamp(dateexp: &str, datestamp: &str) -> Result<bool, MatchError> {
    let illegal = || MatchError::Datestamp(dateexp.to_string());
    let e = dateexp.as_bytes();
    let ds = datestamp.as_bytes();
    if e.len() >= 100 || e.is_empty() {
        return Err(illegal());
    }
    if e == b"*" {
        return Ok(true);
    }
    if let Some(exact) = e.strip_prefix(b"=") {
        return Ok(exact == ds);
    }
    let (my, exact) = strip_anchors(e);
    if let Some(dash) = my.iter().position(|&c| c == b'-') {
        if exact || my[dash + 1..].contains(&b'-') {
            return Err(illegal());
        }
        // XXXYYYY-ZZZZ: from XXXYYYY to XXXZZZZ.
        let len = dash;
        let len_suffix = my.len() - dash - 1;
        if len_suffix > len {
            return Err(illegal());
        }
        let len_prefix = len - len_suffix;
        let first = &my[..len];
        let mut last = my[..len_prefix].to_vec();
        last.extend_from_slice(&my[dash + 1..]);
        if !alldigits(first) || !alldigits(&last) {
            return Err(illegal());
        }
        if strncmp(first, &last, first.len()) == Ordering::Greater {
            return Err(illegal());
        }
        Ok(strncmp(ds, first, first.len()) != Ordering::Less
            && strncmp(ds, &last, last.len()) != Ordering::Greater)
    } else {
        if !alldigits(&my) {
            return Err(illegal());
        }
        Ok(if exact { ds == my.as_slice() } else { ds.starts_with(&my) })
    }
}

/// C's `strtol(s, NULL, 10)`: the value and whether it overflowed (`errno == ERANGE`).
fn strtol(s: &[u8]) -> (i64, bool) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t'..=b'\r') {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    let mut overflow = false;
    while let Some(d @ b'0'..=b'9') = s.get(i).copied() {
        let d = i64::from(d - b'0');
        let next = v.checked_mul(10).and_then(|x| if neg { x.checked_sub(d) } else { x.checked_add(d) });
        match next {
            Some(x) => v = x,
            None => {
                overflow = true;
                v = if neg { i64::MIN } else { i64::MAX };
            }
        }
        i += 1;
    }
    (v, overflow)
}

/// Amanda's `match_level`: `levelexp` is a level expression (module notes); `level` is
/// the dump level as text.
pub fn match_level(levelexp: &str, level: &str) -> Result<bool, MatchError> {
    let illegal = || MatchError::Level(levelexp.to_string());
    let e = levelexp.as_bytes();
    if e.len() >= 100 || e.is_empty() {
        return Err(illegal());
    }
    if let Some(exact) = e.strip_prefix(b"=") {
        return Ok(exact == level.as_bytes());
    }
    let (my, exact) = strip_anchors(e);
    if let Some(dash) = my.iter().position(|&c| c == b'-') {
        if exact {
            return Err(illegal());
        }
        let (lo, hi) = (&my[..dash], &my[dash + 1..]);
        if !alldigits(lo) || !alldigits(hi) {
            return Err(illegal());
        }
        let (low, e1) = strtol(lo);
        let (high, e2) = strtol(hi);
        let (level_i, e3) = strtol(level.as_bytes());
        if e1 || e2 || e3 {
            return Err(illegal());
        }
        Ok(level_i >= low && level_i <= high)
    } else {
        if !alldigits(&my) {
            return Err(illegal());
        }
        Ok(if exact { level.as_bytes() == my.as_slice() } else { level.as_bytes().starts_with(&my) })
    }
}

/// The values a labelstr / autolabel template can refer to.
#[derive(Debug, Clone, Copy, Default)]
pub struct TemplateVars<'a> {
    /// `$c`: the configuration name.
    pub config_name: &'a str,
    /// `$o`: the `org` parameter.
    pub org: &'a str,
    /// `$b`: the barcode, if any.
    pub barcode: Option<&'a str>,
    /// `$m`: the meta label, if any.
    pub meta: Option<&'a str>,
    /// `$r`: the storage name, if any.
    pub storage: Option<&'a str>,
}

/// Amanda's `make_template`: turns a labelstr/autolabel template into a regex, anchored
/// (`^…$`) if asked. Substitutions: `%` → `[0-9]`, `!` → `[A-Z]`, `$c $o $b $m $r` →
/// the values (inserted as regex text, unescaped, as Amanda does), `$s` → `[0-9]*`, `$Ns`
/// → N × `[0-9]`, `$$` → `$`, a final `$` stays; `\x` → `x`. Quirks kept: `$` + another
/// character drops the `$` and emits that character twice (Amanda copies it without
/// advancing); `$N` + anything skips that character; a trailing `\` ends the template
/// and, as it copies the NUL, loses the closing `$` anchor.
///
/// Deliberate difference: Amanda loops forever on `$` followed by two or more digits (its
/// digit loop never advances); here all the digits are read as the count. It also reads
/// past the end after a final `$N`; here that simply ends the template.
pub fn make_template(anchored: bool, template: Option<&str>, vars: &TemplateVars<'_>) -> String {
    const DIGIT: &str = "[0-9]";
    let at = template.unwrap_or("").as_bytes();
    let mut t: Vec<u8> = Vec::with_capacity(at.len() * 2 + 2);
    if anchored {
        t.push(b'^');
    }
    let mut i = 0;
    let mut nul_copied = false;
    while i < at.len() {
        match at[i] {
            b'$' => {
                i += 1;
                match at.get(i).copied() {
                    Some(b'c') => t.extend_from_slice(vars.config_name.as_bytes()),
                    Some(b'o') => t.extend_from_slice(vars.org.as_bytes()),
                    Some(b'b') => t.extend_from_slice(vars.barcode.unwrap_or("").as_bytes()),
                    Some(b'm') => t.extend_from_slice(vars.meta.unwrap_or("").as_bytes()),
                    Some(b'r') => t.extend_from_slice(vars.storage.unwrap_or("").as_bytes()),
                    Some(b's') => t.extend_from_slice(b"[0-9]*"),
                    Some(b'0'..=b'9') => {
                        let mut num: usize = 0;
                        while let Some(d @ b'0'..=b'9') = at.get(i).copied() {
                            num = num.saturating_mul(10).saturating_add(usize::from(d - b'0'));
                            i += 1;
                        }
                        if at.get(i) == Some(&b's') {
                            for _ in 0..num {
                                t.extend_from_slice(DIGIT.as_bytes());
                            }
                        }
                        if i >= at.len() {
                            break;
                        }
                    }
                    Some(b'$') => t.push(b'$'),
                    None => {
                        t.push(b'$');
                        break;
                    }
                    Some(other) => {
                        // Copied, and not consumed: the loop sees it again.
                        t.push(other);
                        continue;
                    }
                }
                i += 1;
            }
            b'%' => {
                t.extend_from_slice(DIGIT.as_bytes());
                i += 1;
            }
            b'!' => {
                t.extend_from_slice(b"[A-Z]");
                i += 1;
            }
            b'\\' => {
                i += 1;
                match at.get(i) {
                    Some(&c) => t.push(c),
                    None => {
                        nul_copied = true;
                        break;
                    }
                }
                i += 1;
            }
            c => {
                t.push(c);
                i += 1;
            }
        }
    }
    if anchored && !nul_copied {
        t.push(b'$');
    }
    String::from_utf8_lossy(&t).into_owned()
}

/// Amanda's `match_labelstr_template`: the unanchored template as a regex against `label`.
pub fn match_labelstr_template(
    template: &str,
    label: &str,
    vars: &TemplateVars<'_>,
) -> Result<bool, MatchError> {
    match_regex(&make_template(false, Some(template), vars), label)
}

/// Amanda's `match_labelstr`: with `MATCH-AUTOLABEL` the autolabel template, anchored;
/// otherwise the labelstr template, unanchored.
pub fn match_labelstr(
    labelstr: &LabelStr,
    autolabel: &AutoLabel,
    label: &str,
    vars: &TemplateVars<'_>,
) -> Result<bool, MatchError> {
    let template = if labelstr.match_autolabel {
        make_template(true, autolabel.template.as_deref(), vars)
    } else {
        make_template(false, labelstr.template.as_deref(), vars)
    };
    match_regex(&template, label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_examples_from_amanda_match_7() {
        let ok = |p: &str, h: &str| match_host(p, h).unwrap();
        assert!(ok("foo", "foo.example.com"));
        assert!(ok("example", "foo.example.com"));
        assert!(!ok("exam", "foo.example.com"));
        assert!(ok("^foo", "foo.example.com"));
        assert!(ok("com$", "foo.example.com"));
        assert!(ok("FOO", "foo.example.com"));
        assert!(ok("f?o", "foo.example.com"));
        assert!(ok("*.example", "foo.example.com"));
        assert!(ok("foo.**", "foo.example.com"));
        assert!(!ok("=FOO.example.com", "foo.example.com"));
        assert!(ok("=foo.example.com", "foo.example.com"));
    }

    #[test]
    fn disk_examples() {
        let ok = |p: &str, d: &str| match_disk(p, d).unwrap();
        assert!(ok("/usr", "/usr"));
        assert!(ok("usr", "/usr/local"));
        assert!(!ok("/usr$", "/usr/local"));
        assert!(ok("/", "/"));
        assert!(!ok("/", "/usr"));
        assert!(ok("share", "\\\\host\\share"));
        assert!(ok("\\\\host\\\\share", "\\\\host\\share"));
        assert!(ok("//host/share", "//host/share"));
    }

    #[test]
    fn datestamps_and_levels() {
        assert!(match_datestamp("2026", "20260101").unwrap());
        assert!(match_datestamp("20260101-15", "20260110123456").unwrap());
        assert!(!match_datestamp("20260101-15", "20260116").unwrap());
        assert!(match_datestamp("2026$", "2026").unwrap());
        assert!(match_datestamp("x", "1").is_err());
        assert!(match_level("1", "10").unwrap());
        assert!(match_level("0-3", "2").unwrap());
        assert!(!match_level("1$", "10").unwrap());
        assert!(match_level("1+", "1").is_err());
    }

    #[test]
    fn globs_and_templates() {
        assert!(match_glob("*.c", "foo.c").unwrap());
        assert!(!match_glob("*.c", "a/foo.c").unwrap());
        assert!(match_tar("*.c", "a/foo.c").unwrap());
        assert_eq!(glob_to_regex("*.c[!a]"), r"^[^/]*\.c[^a]$");
        let v = TemplateVars { config_name: "Daily", org: "Org", ..Default::default() };
        assert_eq!(make_template(true, Some("$c-%%%"), &v), "^Daily-[0-9][0-9][0-9]$");
        assert_eq!(make_template(false, Some("$x"), &v), "xx");
        assert_eq!(make_template(false, Some("a$3sb"), &v), "a[0-9][0-9][0-9]b");
        assert_eq!(make_template(true, Some("a\\"), &v), "^a");
        assert!(match_labelstr_template("^Daily-%%$", "Daily-01", &v).unwrap());
    }
}
