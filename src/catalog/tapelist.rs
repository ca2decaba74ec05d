//! The `tapelist` file: one line per volume, newest first, rewritten atomically.
//!
//! Format (Amanda 3.5.1, `perl/Amanda/Tapelist.swg`), one line per volume:
//!
//! ```text
//! <datestamp> <label> reuse|no-reuse[ BARCODE:<bc>][ META:<meta>][ BLOCKSIZE:<kb>][ POOL:<pool>][ STORAGE:<st>][ CONFIG:<cfg>][ #<comment>]
//! ```
//!
//! - `datestamp` is digits: `0` for a volume labelled but never written, else the run's
//!   8- or 14-digit timestamp. Entries are kept in descending datestamp order (string
//!   comparison, as Amanda's Perl does), ties in file order.
//! - The optional fields appear in exactly that order; `BLOCKSIZE` is in KiB.
//! - Reading accepts any amount of blank space between fields and a missing
//!   `reuse`/`no-reuse` (meaning reuse). A line that does not start with digits is an
//!   error naming the file and line.
//! - Writing goes to `<tapelist>-new-<seconds>` in the same directory, is fsync'd,
//!   renamed over the old file and the directory fsync'd, under an exclusive POSIX
//!   (`fcntl`) lock on `<tapelist>.lock` — the lock Amanda's own tools take, so they and we
//!   never rewrite the list at once — and a crash leaves either the old or the new list.

use std::io::Write;
use std::path::{Path, PathBuf};

/// One volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapeEntry {
    pub datestamp: String,
    pub label: String,
    pub reuse: bool,
    pub barcode: Option<String>,
    pub meta: Option<String>,
    pub block_size_kib: Option<u64>,
    pub pool: Option<String>,
    pub storage: Option<String>,
    pub config: Option<String>,
    pub comment: Option<String>,
}

impl TapeEntry {
    /// A freshly labelled volume (datestamp `0`, reusable).
    pub fn new_labelled(label: &str) -> TapeEntry {
        TapeEntry {
            datestamp: "0".into(),
            label: label.into(),
            reuse: true,
            barcode: None,
            meta: None,
            block_size_kib: None,
            pool: None,
            storage: None,
            config: None,
            comment: None,
        }
    }

    /// The line as Amanda writes it (without the newline).
    pub fn to_line(&self) -> String {
        let mut s =
            format!("{} {} {}", self.datestamp, self.label, if self.reuse { "reuse" } else { "no-reuse" });
        let opt = |s: &mut String, key: &str, v: &Option<String>| {
            if let Some(v) = v {
                s.push_str(&format!(" {key}:{v}"));
            }
        };
        opt(&mut s, "BARCODE", &self.barcode);
        opt(&mut s, "META", &self.meta);
        opt(&mut s, "BLOCKSIZE", &self.block_size_kib.map(|b| b.to_string()));
        opt(&mut s, "POOL", &self.pool);
        opt(&mut s, "STORAGE", &self.storage);
        opt(&mut s, "CONFIG", &self.config);
        if let Some(c) = &self.comment {
            s.push_str(&format!(" #{c}"));
        }
        s
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TapelistError {
    #[error("{file}, line {line}: cannot parse tapelist line \"{text}\"")]
    Syntax { file: String, line: usize, text: String },
    #[error("{file}: {source}")]
    Io { file: String, source: std::io::Error },
}

/// The parsed tapelist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tapelist {
    pub entries: Vec<TapeEntry>,
}

/// Splits off one blank-separated word.
fn word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

impl Tapelist {
    /// Parses tapelist text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Tapelist, TapelistError> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let err = || TapelistError::Syntax { file: file.into(), line: i + 1, text: line.into() };
            let digits = line.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(err());
            }
            let datestamp = line[..digits].to_string();
            let (label, mut rest) = word(&line[digits..]);
            let mut e = TapeEntry::new_labelled(label);
            e.datestamp = datestamp;
            let (w, r) = word(rest);
            if w == "reuse" || w == "no-reuse" {
                e.reuse = w == "reuse";
                rest = r;
            }
            // Optional fields, in Amanda's fixed order; a comment runs to the end.
            let keys = ["BARCODE:", "META:", "BLOCKSIZE:", "POOL:", "STORAGE:", "CONFIG:"];
            let mut next_key = 0;
            loop {
                let trimmed = rest.trim_start();
                if trimmed.is_empty() {
                    break;
                }
                if let Some(c) = trimmed.strip_prefix('#') {
                    e.comment = Some(c.to_string());
                    break;
                }
                let (w, r) = word(trimmed);
                let Some(k) = keys[next_key..].iter().position(|k| w.starts_with(k)).map(|p| p + next_key)
                else {
                    return Err(err());
                };
                let v = w[keys[k].len()..].to_string();
                match k {
                    0 => e.barcode = Some(v),
                    1 => e.meta = Some(v),
                    2 => e.block_size_kib = Some(v.parse().map_err(|_| err())?),
                    3 => e.pool = Some(v),
                    4 => e.storage = Some(v),
                    _ => e.config = Some(v),
                }
                next_key = k + 1;
                rest = r;
            }
            entries.push(e);
        }
        // Newest first; a stable sort keeps file order among equal datestamps.
        entries.sort_by(|a, b| b.datestamp.cmp(&a.datestamp));
        Ok(Tapelist { entries })
    }

    /// Reads `path`; a missing file is an empty list (a new configuration).
    pub fn read(path: &Path) -> Result<Tapelist, TapelistError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Tapelist::parse(&path.display().to_string(), &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tapelist::default()),
            Err(e) => Err(TapelistError::Io { file: path.display().to_string(), source: e }),
        }
    }

    pub fn lookup(&self, label: &str) -> Option<&TapeEntry> {
        self.entries.iter().find(|e| e.label == label)
    }

    pub fn lookup_mut(&mut self, label: &str) -> Option<&mut TapeEntry> {
        self.entries.iter_mut().find(|e| e.label == label)
    }

    pub fn remove(&mut self, label: &str) {
        self.entries.retain(|e| e.label != label);
    }

    /// Adds a volume where Amanda puts it: before the first entry not newer than it.
    pub fn add(&mut self, entry: TapeEntry) {
        let pos =
            self.entries.iter().position(|e| e.datestamp <= entry.datestamp).unwrap_or(self.entries.len());
        self.entries.insert(pos, entry);
    }

    pub fn to_text(&self) -> String {
        self.entries.iter().map(|e| e.to_line() + "\n").collect()
    }
}

/// An exclusive lock on `<tapelist>.lock`, held while reading, changing and writing;
/// released when dropped (closing the file drops a POSIX lock).
pub struct TapelistLock {
    _file: std::fs::File,
    path: PathBuf,
}

impl TapelistLock {
    /// Waits for the lock.
    pub fn acquire(tapelist: &Path) -> Result<TapelistLock, TapelistError> {
        let lockname = PathBuf::from(format!("{}.lock", tapelist.display()));
        let io = |e: std::io::Error| TapelistError::Io { file: lockname.display().to_string(), source: e };
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&lockname).map_err(io)?;
        // Amanda::Util::file_lock takes a whole-file write lock with fcntl(F_SETLKW).
        let whole_file = nix::libc::flock {
            l_type: nix::libc::F_WRLCK as i16,
            l_whence: nix::libc::SEEK_SET as i16,
            l_start: 0,
            l_len: 0,
            l_pid: 0,
        };
        loop {
            match nix::fcntl::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                nix::fcntl::FcntlArg::F_SETLKW(&whole_file),
            ) {
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(io(std::io::Error::from(e))),
            }
        }
        Ok(TapelistLock { _file: file, path: tapelist.to_path_buf() })
    }

    pub fn read(&self) -> Result<Tapelist, TapelistError> {
        Tapelist::read(&self.path)
    }

    /// Replaces the tapelist atomically (temporary file, fsync, rename, fsync of the
    /// directory). On any error the old file is left as it was.
    pub fn write(&self, list: &Tapelist) -> Result<(), TapelistError> {
        let path = &self.path;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let tmp = PathBuf::from(format!("{}-new-{now}", path.display()));
        let io = |p: &Path, e: std::io::Error| TapelistError::Io { file: p.display().to_string(), source: e };
        let result = (|| {
            let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
            f.write_all(list.to_text().as_bytes()).map_err(|e| io(&tmp, e))?;
            f.sync_all().map_err(|e| io(&tmp, e))?;
            std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io(dir, e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMANDA_STYLE: &str =
        "20261121101500 DS-002 reuse BLOCKSIZE:32 POOL:DailySet1 STORAGE:DailySet1 CONFIG:DailySet1\n\
        20261120101500 DS-001 no-reuse BARCODE:B1 META:M1 #kept for audit\n\
        0 DS-003 reuse\n";

    #[test]
    fn parses_and_writes_back_byte_for_byte() {
        let t = Tapelist::parse("tapelist", AMANDA_STYLE).unwrap();
        assert_eq!(t.entries.len(), 3);
        assert_eq!(t.entries[1].barcode.as_deref(), Some("B1"));
        assert_eq!(t.entries[1].comment.as_deref(), Some("kept for audit"));
        assert!(!t.entries[1].reuse);
        assert_eq!(t.entries[0].block_size_kib, Some(32));
        assert_eq!(t.to_text(), AMANDA_STYLE);
    }

    #[test]
    fn sorts_newest_first_and_adds_in_place() {
        let mut t = Tapelist::parse("t", "0 A reuse\n20200101 B reuse\n20210101 C\n").unwrap();
        assert_eq!(t.entries.iter().map(|e| e.label.as_str()).collect::<Vec<_>>(), ["C", "B", "A"]);
        let mut e = TapeEntry::new_labelled("D");
        e.datestamp = "20200601".into();
        t.add(e);
        assert_eq!(t.entries.iter().map(|e| e.label.as_str()).collect::<Vec<_>>(), ["C", "D", "B", "A"]);
        t.add(TapeEntry::new_labelled("E"));
        assert_eq!(t.entries.last().unwrap().label, "A");
        assert_eq!(t.entries[3].label, "E");
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let e = Tapelist::parse("/x/tapelist", "0 A reuse\nbogus line\n").unwrap_err();
        assert_eq!(e.to_string(), "/x/tapelist, line 2: cannot parse tapelist line \"bogus line\"");
        assert!(Tapelist::parse("t", "0 A reuse META:x BARCODE:y\n").is_err(), "fields out of order");
    }

    #[test]
    fn atomic_rewrite_under_lock() {
        let dir = std::env::temp_dir().join(format!("amrs-tapelist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tapelist");
        let lock = TapelistLock::acquire(&path).unwrap();
        let mut t = lock.read().unwrap();
        assert!(t.entries.is_empty());
        t.add(TapeEntry::new_labelled("X-1"));
        lock.write(&t).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0 X-1 reuse\n");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("-new-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        drop(lock);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
