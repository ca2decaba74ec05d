//! Amanda's changer state file: Perl `Data::Dumper` text, read and written under Amanda's
//! `file_lock` (an fcntl write lock on the file itself), so Amanda and amrs can share a
//! changer.
//!
//! # Format (what `Data::Dumper->new([$STATE], ["STATE"])->Purity(1)->Dump` writes)
//!
//! ```text
//! $STATE = {
//!            'current' => 'slot3',
//!            'drives' => {
//!                          'drive0' => {
//!                                        'pid' => 4711,
//!                                        'slot' => 'slot3'
//!                                      }
//!                        },
//!            'meta' => undef
//!          };
//! ```
//!
//! * Indentation is Data::Dumper's default (`Indent(2)`): the elements of a hash sit two
//!   columns right of its `{`, and its `}` in the column of the `{`; elements end in `,`
//!   except the last; an empty hash is `{}`.
//! * Keys are always single-quoted. A value is bare when it is a "safe decimal number"
//!   (`/^(?:0|-?[1-9]\d{0,8})$/`), `undef` for undefined, else single-quoted with `\` and
//!   `'` escaped by a backslash.
//! * Key order is Perl's hash order (random); we keep the order we read and append new
//!   keys. Amanda reads the file with `eval`, so any order and spacing works for it.
//!
//! Reading accepts that output and the usual variations: double-quoted strings (simple
//! escapes), arrays `[ … ]`, `#` comments, any whitespace, a missing final `;`. An empty
//! file is the empty hash (Amanda's initial state). Anything else is an error: Amanda
//! would discard such a file and start from `{}`; we refuse, so no state is lost silently.
//!
//! # Locking (common-src/amflock.c `file_lock_lock`)
//!
//! The file is opened `O_CREAT|O_RDWR` (mode 0666), locked with `fcntl(F_SETLK, F_WRLCK)`
//! over the whole file, read whole, rewritten in place (seek 0, write, truncate) and
//! unlocked by closing. Amanda retries a busy lock with a poll interval growing by 0.1 s
//! up to 10 s until `lock-timeout` (default 1000 s) has passed; so do we. fcntl locks are
//! per process, so, like Amanda, a process-wide table keeps two threads of one process
//! from holding the same state file at once.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg};
use nix::libc;

/// A Perl value as Data::Dumper writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerlValue {
    /// `undef`.
    Undef,
    /// A string or number (numbers are kept as their text).
    Scalar(String),
    /// A hash, in file order.
    Hash(Vec<(String, PerlValue)>),
    /// An array.
    Array(Vec<PerlValue>),
}

impl PerlValue {
    /// An empty hash.
    pub fn empty_hash() -> PerlValue {
        PerlValue::Hash(Vec::new())
    }

    /// The scalar's text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PerlValue::Scalar(text) => Some(text),
            _ => None,
        }
    }

    /// The value under `key`, if this is a hash holding it.
    pub fn get(&self, key: &str) -> Option<&PerlValue> {
        match self {
            PerlValue::Hash(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value at `path` of nested hash keys.
    pub fn get_path(&self, path: &[&str]) -> Option<&PerlValue> {
        path.iter().try_fold(self, |value, key| value.get(key))
    }

    /// The value under `key`, created as an empty hash (replacing a non-hash, as Perl's
    /// autovivification would complain but Amanda's code never meets) when missing.
    pub fn entry_hash(&mut self, key: &str) -> &mut PerlValue {
        if !matches!(self, PerlValue::Hash(_)) {
            *self = PerlValue::empty_hash();
        }
        let PerlValue::Hash(entries) = self else { unreachable!("made a hash above") };
        let index = match entries.iter().position(|(k, _)| k == key) {
            Some(index) => index,
            None => {
                entries.push((key.to_owned(), PerlValue::empty_hash()));
                entries.len() - 1
            }
        };
        let value = &mut entries[index].1;
        if !matches!(value, PerlValue::Hash(_)) {
            *value = PerlValue::empty_hash();
        }
        value
    }

    /// Sets `key` to `value` in this hash (keeping its position if present).
    pub fn insert(&mut self, key: &str, value: PerlValue) {
        if !matches!(self, PerlValue::Hash(_)) {
            *self = PerlValue::empty_hash();
        }
        let PerlValue::Hash(entries) = self else { unreachable!("made a hash above") };
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, existing)) => *existing = value,
            None => entries.push((key.to_owned(), value)),
        }
    }

    /// Sets the value at `path` of nested hash keys, creating the hashes on the way.
    pub fn insert_path(&mut self, path: &[&str], value: PerlValue) {
        let (last, parents) = path.split_last().expect("a non-empty key path");
        let mut node = self;
        for key in parents {
            node = node.entry_hash(key);
        }
        node.insert(last, value);
    }

    /// Removes `key` from this hash.
    pub fn remove(&mut self, key: &str) -> Option<PerlValue> {
        let PerlValue::Hash(entries) = self else { return None };
        let index = entries.iter().position(|(k, _)| k == key)?;
        Some(entries.remove(index).1)
    }

    /// The keys of this hash.
    pub fn keys(&self) -> Vec<String> {
        match self {
            PerlValue::Hash(entries) => entries.iter().map(|(k, _)| k.clone()).collect(),
            _ => Vec::new(),
        }
    }
}

/// Why a state file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// Parses `$STATE = {...};` (or an empty text, giving the empty hash).
pub fn parse_state(text: &str) -> Result<PerlValue, ParseError> {
    let mut parser = Parser { text: text.as_bytes(), at: 0 };
    parser.skip_space();
    if parser.at == parser.text.len() {
        return Ok(PerlValue::empty_hash());
    }
    parser.expect_word("$STATE")?;
    parser.expect(b'=')?;
    let value = parser.value()?;
    parser.skip_space();
    if parser.peek() == Some(b';') {
        parser.at += 1;
    }
    parser.skip_space();
    if parser.at != parser.text.len() {
        return Err(
            parser.error("unexpected text after the $STATE assignment (amrs reads only Data::Dumper output)")
        );
    }
    if !matches!(value, PerlValue::Hash(_)) {
        return Err(parser.error("$STATE is not a hash"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> ParseError {
        let line = 1 + self.text[..self.at.min(self.text.len())].iter().filter(|&&b| b == b'\n').count();
        ParseError { line, message: message.to_owned() }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(byte) = self.peek() {
            if byte.is_ascii_whitespace() {
                self.at += 1;
            } else if byte == b'#' {
                while self.peek().is_some_and(|b| b != b'\n') {
                    self.at += 1;
                }
            } else {
                break;
            }
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), ParseError> {
        self.skip_space();
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", byte as char)))
        }
    }

    fn expect_word(&mut self, word: &str) -> Result<(), ParseError> {
        self.skip_space();
        if self.text[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.error(&format!("expected {word}")))
        }
    }

    fn value(&mut self) -> Result<PerlValue, ParseError> {
        self.skip_space();
        match self.peek() {
            Some(b'{') => {
                self.at += 1;
                let mut entries = Vec::new();
                loop {
                    self.skip_space();
                    if self.peek() == Some(b'}') {
                        self.at += 1;
                        return Ok(PerlValue::Hash(entries));
                    }
                    let key = self.scalar()?;
                    self.skip_space();
                    if !self.text[self.at..].starts_with(b"=>") {
                        return Err(self.error("expected '=>'"));
                    }
                    self.at += 2;
                    let value = self.value()?;
                    entries.retain(|(k, _): &(String, PerlValue)| *k != key);
                    entries.push((key, value));
                    self.skip_space();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {}
                        _ => return Err(self.error("expected ',' or '}'")),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    if self.peek() == Some(b']') {
                        self.at += 1;
                        return Ok(PerlValue::Array(items));
                    }
                    items.push(self.value()?);
                    self.skip_space();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b']') => {}
                        _ => return Err(self.error("expected ',' or ']'")),
                    }
                }
            }
            _ => {
                if self.text[self.at..].starts_with(b"undef") {
                    let after = self.text.get(self.at + 5).copied();
                    if !after.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
                        self.at += 5;
                        return Ok(PerlValue::Undef);
                    }
                }
                self.scalar().map(PerlValue::Scalar)
            }
        }
    }

    /// A quoted string or a bare number/word.
    fn scalar(&mut self) -> Result<String, ParseError> {
        self.skip_space();
        match self.peek() {
            Some(quote @ (b'\'' | b'"')) => {
                self.at += 1;
                let mut bytes = Vec::new();
                loop {
                    let Some(byte) = self.peek() else { return Err(self.error("unterminated string")) };
                    self.at += 1;
                    if byte == quote {
                        break;
                    }
                    if byte != b'\\' {
                        bytes.push(byte);
                        continue;
                    }
                    let Some(escaped) = self.peek() else { return Err(self.error("unterminated string")) };
                    self.at += 1;
                    match (quote, escaped) {
                        (b'\'', b'\\' | b'\'') => bytes.push(escaped),
                        (b'\'', _) => bytes.extend_from_slice(&[b'\\', escaped]),
                        (_, b'n') => bytes.push(b'\n'),
                        (_, b't') => bytes.push(b'\t'),
                        (_, b'r') => bytes.push(b'\r'),
                        (_, b'0') => bytes.push(0),
                        (_, other) => bytes.push(other),
                    }
                }
                String::from_utf8(bytes).map_err(|_| self.error("string is not UTF-8"))
            }
            _ => {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.' | b'_'))
                {
                    self.at += 1;
                }
                if start == self.at {
                    return Err(self.error("expected a value"));
                }
                Ok(String::from_utf8_lossy(&self.text[start..self.at]).into_owned())
            }
        }
    }
}

/// Writes `$STATE = {...};\n` as Data::Dumper (Indent 2, Purity 1) does.
pub fn dump_state(state: &PerlValue) -> String {
    let mut out = String::from("$STATE = ");
    dump_value(&mut out, state, "$STATE = ".len());
    out.push_str(";\n");
    out
}

fn dump_value(out: &mut String, value: &PerlValue, column: usize) {
    match value {
        PerlValue::Undef => out.push_str("undef"),
        PerlValue::Scalar(text) => dump_scalar(out, text),
        PerlValue::Hash(entries) if entries.is_empty() => out.push_str("{}"),
        PerlValue::Array(items) if items.is_empty() => out.push_str("[]"),
        PerlValue::Hash(entries) => {
            out.push_str("{\n");
            let inner = column + 2;
            for (index, (key, value)) in entries.iter().enumerate() {
                let start = out.len();
                let _ = write!(out, "{:inner$}", "");
                dump_quoted(out, key);
                out.push_str(" => ");
                // A nested hash's braces line up under its opening `{`.
                let value_column = out.len() - start;
                dump_value(out, value, value_column);
                if index + 1 < entries.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            let _ = write!(out, "{:column$}}}", "");
        }
        PerlValue::Array(items) => {
            out.push_str("[\n");
            let inner = column + 2;
            for (index, item) in items.iter().enumerate() {
                let _ = write!(out, "{:inner$}", "");
                dump_value(out, item, inner);
                if index + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            let _ = write!(out, "{:column$}]", "");
        }
    }
}

fn dump_scalar(out: &mut String, text: &str) {
    if is_safe_decimal(text) {
        out.push_str(text);
    } else {
        dump_quoted(out, text);
    }
}

/// Data::Dumper's "safe decimal number": `/^(?:0|-?[1-9]\d{0,8})$/`.
fn is_safe_decimal(text: &str) -> bool {
    if text == "0" {
        return true;
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    let bytes = digits.as_bytes();
    (1..=9).contains(&bytes.len()) && bytes[0] != b'0' && bytes.iter().all(u8::is_ascii_digit)
}

fn dump_quoted(out: &mut String, text: &str) {
    out.push('\'');
    for c in text.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
}

// ---------------------------------------------------------------------------------------
// Locking

/// State files locked by this process (fcntl locks cannot tell our own threads apart).
static LOCALLY_LOCKED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Amanda's poll step and ceiling while waiting for a busy lock.
const LOCK_POLL_STEP: Duration = Duration::from_millis(100);
const LOCK_POLL_MAX: Duration = Duration::from_secs(10);

/// Why the state file could not be locked, read or written.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process (or thread) kept it locked past the timeout.
    #[error("still locked by another process after {0:?}")]
    Timeout(Duration),
    /// An I/O error.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The error.
        source: io::Error,
    },
}

/// A state file locked for a read-modify-write. Dropping it unlocks.
#[derive(Debug)]
pub struct LockedFile {
    file: File,
    path: PathBuf,
    contents: String,
}

impl LockedFile {
    /// Locks `path` (creating it empty if missing), waiting up to `timeout`, and reads it.
    pub fn lock(path: &Path, timeout: Duration) -> Result<LockedFile, LockError> {
        let deadline = Instant::now() + timeout;
        let mut poll = Duration::ZERO;
        loop {
            match LockedFile::try_lock(path)? {
                Some(locked) => return Ok(locked),
                None if Instant::now() >= deadline => return Err(LockError::Timeout(timeout)),
                None => {
                    poll = (poll + LOCK_POLL_STEP).min(LOCK_POLL_MAX);
                    std::thread::sleep(poll.min(deadline.saturating_duration_since(Instant::now())));
                }
            }
        }
    }

    fn try_lock(path: &Path) -> Result<Option<LockedFile>, LockError> {
        {
            let mut locked = LOCALLY_LOCKED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if locked.iter().any(|p| p == path) {
                return Ok(None);
            }
            locked.push(path.to_path_buf());
        }
        let unregister = || {
            let mut locked = LOCALLY_LOCKED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            locked.retain(|p| p != path);
        };
        let opened =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o666).open(path);
        let mut file = match opened {
            Ok(file) => file,
            Err(source) => {
                unregister();
                return Err(LockError::Io { action: "opening", source });
            }
        };
        let request = libc::flock {
            l_type: libc::F_WRLCK as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: 0,
            l_len: 0,
            l_pid: 0,
        };
        match fcntl(file.as_raw_fd(), FcntlArg::F_SETLK(&request)) {
            Ok(_) => {}
            Err(Errno::EACCES | Errno::EAGAIN) => {
                unregister();
                return Ok(None);
            }
            Err(errno) => {
                unregister();
                return Err(LockError::Io { action: "locking (fcntl F_SETLK)", source: errno.into() });
            }
        }
        let mut contents = String::new();
        if let Err(source) = file.read_to_string(&mut contents) {
            unregister();
            return Err(LockError::Io { action: "reading", source });
        }
        Ok(Some(LockedFile { file, path: path.to_path_buf(), contents }))
    }

    /// The contents read when the lock was taken.
    pub fn contents(&self) -> &str {
        &self.contents
    }

    /// Replaces the contents (in place, as Amanda's `file_lock_write`) and syncs them.
    pub fn write(&mut self, contents: &str) -> Result<(), LockError> {
        let io = |action| move |source| LockError::Io { action, source };
        self.file.seek(SeekFrom::Start(0)).map_err(io("seeking"))?;
        self.file.write_all(contents.as_bytes()).map_err(io("writing"))?;
        self.file.set_len(contents.len() as u64).map_err(io("truncating"))?;
        self.file.sync_data().map_err(io("syncing"))?;
        self.contents = contents.to_owned();
        Ok(())
    }
}

impl Drop for LockedFile {
    fn drop(&mut self) {
        // Closing the descriptor (after this) releases the fcntl lock.
        let mut locked = LOCALLY_LOCKED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        locked.retain(|p| p != &self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::test_support::TempDir;

    /// Written by Amanda 3.5.1's chg-disk (`amtape CONFIG slot 3`), verbatim.
    const AMANDA_STATE: &str = r"$STATE = {
           'current_slot' => {
                               'config' => {
                                             'amrs-dev-scratch' => {
                                                                     'storage' => {
                                                                                    'amrs-dev-scratch' => {
                                                                                                            'changer' => {
                                                                                                                           'chg-disk:/tmp/amrs-dev-scratch/vt' => 'slot3'
                                                                                                                         }
                                                                                                          }
                                                                                  }
                                                                   }
                                           }
                             },
           'current' => 'slot3',
           'drives' => {}
         };";

    #[test]
    fn amandas_state_round_trips_byte_for_byte() {
        let state = parse_state(AMANDA_STATE).unwrap();
        assert_eq!(state.get("current").and_then(PerlValue::as_str), Some("slot3"));
        let path = ["current_slot", "config", "amrs-dev-scratch", "storage", "amrs-dev-scratch", "changer"];
        let changer = state.get_path(&path).unwrap();
        assert_eq!(
            changer.get("chg-disk:/tmp/amrs-dev-scratch/vt").and_then(PerlValue::as_str),
            Some("slot3")
        );
        assert_eq!(dump_state(&state), format!("{AMANDA_STATE}\n"));
    }

    #[test]
    fn values_are_written_as_data_dumper_does() {
        let mut state = PerlValue::empty_hash();
        state.insert_path(&["drives", "drive0", "slot"], PerlValue::Scalar("slot3".into()));
        state.insert_path(&["drives", "drive0", "pid"], PerlValue::Scalar("4711".into()));
        state.insert("meta", PerlValue::Undef);
        state.insert("odd", PerlValue::Scalar("it's a \\ test".into()));
        state.insert(
            "list",
            PerlValue::Array(vec![PerlValue::Scalar("0".into()), PerlValue::Scalar("007".into())]),
        );
        let text = dump_state(&state);
        assert_eq!(
            text,
            "$STATE = {\n           'drives' => {\n                         'drive0' => {\n                                       'slot' => 'slot3',\n                                       'pid' => 4711\n                                     }\n                       },\n           'meta' => undef,\n           'odd' => 'it\\'s a \\\\ test',\n           'list' => [\n                       0,\n                       '007'\n                     ]\n         };\n"
        );
        assert_eq!(parse_state(&text).unwrap(), state);
    }

    #[test]
    fn parsing_is_tolerant_of_layout_but_not_of_garbage() {
        assert_eq!(parse_state("").unwrap(), PerlValue::empty_hash());
        assert_eq!(parse_state("  \n").unwrap(), PerlValue::empty_hash());
        let state = parse_state("$STATE={ \"a\"=>\"x\\ty\", 'b' => -12, # note\n 'c'=>undef }").unwrap();
        assert_eq!(state.get("a").and_then(PerlValue::as_str), Some("x\ty"));
        assert_eq!(state.get("b").and_then(PerlValue::as_str), Some("-12"));
        assert_eq!(state.get("c"), Some(&PerlValue::Undef));
        assert!(parse_state("$STATE = 'x';").is_err());
        let error = parse_state("$STATE = {\n 'a' => 'b',\n 'c' 'd' };").unwrap_err();
        assert_eq!(error.line, 3);
        assert!(parse_state("$STATE = { 'a' => 'b' }; system('rm -rf /');").is_err());
    }

    fn perl_value() -> impl proptest::strategy::Strategy<Value = PerlValue> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(PerlValue::Undef),
            "[ -~]{0,12}".prop_map(PerlValue::Scalar),
            "(0|-?[1-9][0-9]{0,10})".prop_map(PerlValue::Scalar),
            "\\PC{0,6}".prop_map(PerlValue::Scalar),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(PerlValue::Array),
                proptest::collection::btree_map("[ -~]{0,8}", inner, 0..5)
                    .prop_map(|entries| PerlValue::Hash(entries.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn dump_then_parse_gives_the_state_back(
            entries in proptest::collection::btree_map("[ -~]{0,8}", perl_value(), 0..6),
        ) {
            let state = PerlValue::Hash(entries.into_iter().collect());
            let text = dump_state(&state);
            proptest::prop_assert_eq!(parse_state(&text).unwrap(), state);
        }
    }

    #[test]
    fn locks_exclude_each_other_and_rewrite_in_place() {
        let dir = TempDir::new("statelock");
        let path = dir.path().join("state");
        let mut first = LockedFile::lock(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(first.contents(), "");
        first.write("$STATE = {\n           'current' => 'slot10'\n         };\n").unwrap();
        let error = LockedFile::lock(&path, Duration::from_millis(250)).unwrap_err();
        assert!(matches!(error, LockError::Timeout(_)), "{error}");
        first.write("$STATE = {};\n").unwrap();
        drop(first);
        let second = LockedFile::lock(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(second.contents(), "$STATE = {};\n");
    }
}
