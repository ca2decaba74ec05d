//! POSIX extended regular expressions exactly as Amanda compiles them (glibc `regcomp` with
//! `REG_EXTENDED | REG_NOSUB`, plus `REG_NEWLINE` for `match()`), in the C locale.
//!
//! Rules reproduced (they are glibc's, not POSIX's minimum, because that is what Amanda
//! 3.5.1 runs on):
//!
//! - One byte is one character (Amanda's C programs never set `LC_CTYPE`), so patterns and
//!   subjects are matched as bytes; classes such as `[:alpha:]` and `\w` are ASCII.
//! - Outside brackets: `|` `*` `+` `?` `{m,n}` `( )` `.` `^` `$` as usual; `^`/`$` are
//!   anchors anywhere (and, with `REG_NEWLINE`, also match after/before a `\n`); an
//!   unmatched `)` and a lone `}` are literals; a repetition operator at the start of the
//!   pattern, of a group or of an alternative, or after an anchor, is an error ("Invalid
//!   preceding regular expression"); `a**`, `a+?` etc. are allowed and nest.
//! - GNU escapes: `\w \W \s \S`, `\b \B \< \>` (word boundaries), `` \` `` and `\'`
//!   (buffer start/end), `\1`–`\9` back-references; any other `\c` is the literal `c`; a
//!   trailing `\` is an error.
//! - `{`: `{n}`, `{n,}`, `{,m}`, `{n,m}` with n ≤ m ≤ 32767; anything else is an error
//!   (glibc's `RE_INVALID_INTERVAL_ORD` is off for POSIX syntax).
//! - Brackets: a leading `]` (after an optional `^`) is literal; backslash is literal;
//!   `[:class:]`, `[=c=]` and `[.c.]` (single characters only in the C locale); ranges by
//!   byte value, a reversed range is an error; `-` is literal only first, last, or as a range
//!   end; `[^…]` never matches `\n` under `REG_NEWLINE`.
//! - `.` matches anything but NUL (and `\n` under `REG_NEWLINE`).
//!
//! - Without `REG_NEWLINE` (only [`crate::cmdline::match_regex_no_newline`]) `^`/`$` are
//!   the string's ends. glibc's DFA has a quirk there that is not reproduced: a `^`/`$`
//!   inside the pattern also matches next to a `\n` the pattern itself consumes.
//!
//! The parser follows glibc's recursive-descent structure (`parse_reg_exp`, `parse_branch`,
//! `parse_expression`, `parse_dup_op`, `parse_bracket_exp`) so that the same inputs are
//! rejected with the same message. The result is re-emitted in the `regex` crate's syntax
//! with every character class spelled out as an explicit byte set, so nothing depends on
//! how the two engines define a class. The one construct the `regex` crate cannot express,
//! a back-reference to a group that exists, is refused (`UNSUPPORTED_BACKREF`); it can only
//! arise from hand-written regexes, never from Amanda's own host/disk/glob translations
//! except through a pathological bracket mismatch.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

/// `RE_DUP_MAX` of glibc: the largest count allowed in `{m,n}`.
const RE_DUP_MAX: i64 = 0x7fff;

/// Limits that keep the recursive parser and emitter off deep stacks: groups nested deeper,
/// or more repetition operators stacked on one atom, are refused (`TOO_BIG`) although
/// glibc would accept them. No sensible host, disk or label pattern comes near.
const MAX_GROUP_NEST: usize = 64;
const MAX_STACKED_DUPS: usize = 32;

/// glibc's bracket symbol buffer (`BRACKET_NAME_BUF_SIZE`): longer names are rejected.
const BRACKET_NAME_MAX: usize = 32;

/// glibc's `regerror` texts, so that error messages read as Amanda's do.
pub mod msg {
    pub const BADPAT: &str = "Invalid regular expression";
    pub const ECOLLATE: &str = "Invalid collation character";
    pub const ECTYPE: &str = "Invalid character class name";
    pub const EESCAPE: &str = "Trailing backslash";
    pub const ESUBREG: &str = "Invalid back reference";
    pub const EBRACK: &str = "Unmatched [, [^, [:, [., or [=";
    pub const EPAREN: &str = "Unmatched ( or \\(";
    pub const EBRACE: &str = "Unmatched \\{";
    pub const BADBR: &str = "Invalid content of \\{\\}";
    pub const ERANGE: &str = "Invalid range end";
    pub const BADRPT: &str = "Invalid preceding regular expression";
    pub const ESIZE: &str = "Regular expression too big";
    /// Not glibc's: a valid back-reference, which the `regex` crate cannot match.
    pub const UNSUPPORTED_BACKREF: &str = "back-references are not supported by amrs";
    /// Not glibc's: the translated pattern exceeds the `regex` crate's size limits.
    pub const TOO_BIG: &str = "Regular expression too big for amrs";
}

/// Why a pattern does not compile; the text is glibc's `regerror` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EreError(pub &'static str);

impl std::fmt::Display for EreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// A compiled pattern: the translated `regex` plus nothing else (REG_NOSUB: match or not).
#[derive(Debug)]
pub struct Ere {
    re: regex::bytes::Regex,
}

impl Ere {
    /// Compiles `pattern` as `regcomp(REG_EXTENDED|REG_NOSUB|(newline ? REG_NEWLINE : 0))`.
    pub fn new(pattern: &str, newline: bool) -> Result<Ere, EreError> {
        let translated = translate(pattern.as_bytes(), newline)?;
        // Unicode mode off: bytes are characters, as in the C locale.
        let re = regex::bytes::RegexBuilder::new(&translated)
            .unicode(false)
            .size_limit(64 << 20)
            .nest_limit(4000)
            .build()
            .map_err(|_| EreError(msg::TOO_BIG))?;
        Ok(Ere { re })
    }

    /// `regexec(…) == 0`.
    pub fn is_match(&self, subject: &str) -> bool {
        self.re.is_match(subject.as_bytes())
    }

    /// `regexec(…) == 0` on raw bytes (Amanda's subjects are C strings, not UTF-8).
    pub fn is_match_bytes(&self, subject: &[u8]) -> bool {
        self.re.is_match(subject)
    }
}

type CacheMap = HashMap<(String, bool), Result<Arc<Ere>, EreError>>;

/// Like Amanda's `regex_cache`: each distinct pattern is compiled once. Bounded, because
/// patterns can come from user input; when full it is simply emptied.
fn cache() -> &'static Mutex<CacheMap> {
    static CACHE: OnceLock<Mutex<CacheMap>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

const CACHE_MAX: usize = 1024;

/// A compiled pattern from the cache, compiling it on first use.
pub fn cached(pattern: &str, newline: bool) -> Result<Arc<Ere>, EreError> {
    let key = (pattern.to_string(), newline);
    if let Some(hit) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return hit.clone();
    }
    // Compile outside the lock: a slow compile must not serialise other threads.
    let compiled = Ere::new(pattern, newline).map(Arc::new);
    let mut map = cache().lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= CACHE_MAX {
        map.clear();
    }
    map.insert(key, compiled.clone());
    compiled
}

// ---------------------------------------------------------------------------------------
// Parsing (glibc's regcomp.c structure, ERE syntax bits, C locale)

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Anchor {
    LineFirst,
    LineLast,
    BufFirst,
    BufLast,
    WordFirst,
    WordLast,
    WordDelim,
    NotWordDelim,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    End,
    /// An ordinary character (including escaped ones); the byte is glibc's `opr.c`.
    Char(u8),
    /// A `\` with nothing after it.
    BackSlash,
    /// `\1`–`\9`, as a 0-based group index.
    BackRef(u8),
    Anchor(Anchor),
    Word,
    NotWord,
    Space,
    NotSpace,
    Alt,
    Star,
    Plus,
    Question,
    OpenDup,
    CloseDup,
    OpenGroup,
    CloseGroup,
    OpenBracket,
    Period,
}

/// Tokens inside a bracket expression (glibc's `peek_token_bracket`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BTok {
    End,
    Char(u8),
    OpenColl,
    OpenEquiv,
    OpenClass,
    Range,
    Close,
    NonMatch,
}

impl BTok {
    /// The byte glibc stores in `opr.c` for the token.
    fn byte(self) -> u8 {
        match self {
            BTok::Char(c) => c,
            BTok::Range => b'-',
            BTok::Close => b']',
            BTok::NonMatch => b'^',
            BTok::OpenColl | BTok::OpenEquiv | BTok::OpenClass => b'[',
            BTok::End => 0,
        }
    }
}

/// A set of bytes (one bit per byte value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn set(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }
    fn has(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }
    fn invert(&mut self) {
        for w in &mut self.0 {
            *w = !*w;
        }
    }
    fn from_fn(f: impl Fn(u8) -> bool) -> ByteSet {
        let mut s = ByteSet::default();
        for b in 0..=255u8 {
            if f(b) {
                s.set(b);
            }
        }
        s
    }
    fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
}

/// The C locale's `<ctype.h>` classes, by name (`[:name:]`).
fn named_class(name: &[u8]) -> Option<ByteSet> {
    let f: fn(u8) -> bool = match name {
        b"alpha" => |b| b.is_ascii_alphabetic(),
        b"upper" => |b| b.is_ascii_uppercase(),
        b"lower" => |b| b.is_ascii_lowercase(),
        b"digit" => |b| b.is_ascii_digit(),
        b"xdigit" => |b| b.is_ascii_hexdigit(),
        b"space" => |b| matches!(b, b' ' | b'\t'..=b'\r'),
        b"print" => |b| (0x20..0x7f).contains(&b),
        b"punct" => |b| b.is_ascii_punctuation(),
        b"graph" => |b| (0x21..0x7f).contains(&b),
        b"cntrl" => |b| b < 0x20 || b == 0x7f,
        b"blank" => |b| b == b' ' || b == b'\t',
        b"alnum" => |b| b.is_ascii_alphanumeric(),
        _ => return None,
    };
    Some(ByteSet::from_fn(f))
}

#[derive(Clone, Debug)]
enum Node {
    Empty,
    Set(ByteSet),
    Anchor(Anchor),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    /// min, max (`None` = unbounded)
    Repeat(Box<Node>, u32, Option<u32>),
}

/// One element of a bracket expression (glibc's `bracket_elem_t`).
enum Elem {
    Char(u8),
    Coll(Vec<u8>),
    Equiv(Vec<u8>),
    Class(Vec<u8>),
}

struct Parser<'a> {
    re: &'a [u8],
    pos: usize,
    tok: Tok,
    nsub: usize,
    completed: u32,
    newline: bool,
}

type PResult<T> = Result<T, EreError>;

impl<'a> Parser<'a> {
    fn peek(&self) -> (Tok, usize) {
        let Some(&c) = self.re.get(self.pos) else { return (Tok::End, 0) };
        if c == b'\\' {
            let Some(&c2) = self.re.get(self.pos + 1) else { return (Tok::BackSlash, 1) };
            let t = match c2 {
                b'1'..=b'9' => Tok::BackRef(c2 - b'1'),
                b'<' => Tok::Anchor(Anchor::WordFirst),
                b'>' => Tok::Anchor(Anchor::WordLast),
                b'b' => Tok::Anchor(Anchor::WordDelim),
                b'B' => Tok::Anchor(Anchor::NotWordDelim),
                b'w' => Tok::Word,
                b'W' => Tok::NotWord,
                b's' => Tok::Space,
                b'S' => Tok::NotSpace,
                b'`' => Tok::Anchor(Anchor::BufFirst),
                b'\'' => Tok::Anchor(Anchor::BufLast),
                // `\|`, `\(`, `\{`, `\+`, `\?`… are literals in ERE syntax.
                _ => Tok::Char(c2),
            };
            return (t, 2);
        }
        let t = match c {
            b'|' => Tok::Alt,
            b'*' => Tok::Star,
            b'+' => Tok::Plus,
            b'?' => Tok::Question,
            b'{' => Tok::OpenDup,
            b'}' => Tok::CloseDup,
            b'(' => Tok::OpenGroup,
            b')' => Tok::CloseGroup,
            b'[' => Tok::OpenBracket,
            b'.' => Tok::Period,
            b'^' => Tok::Anchor(Anchor::LineFirst),
            b'$' => Tok::Anchor(Anchor::LineLast),
            _ => Tok::Char(c),
        };
        (t, 1)
    }

    fn fetch(&mut self) {
        let (t, len) = self.peek();
        self.pos += len;
        self.tok = t;
    }

    fn stops_branch(&self, nest: usize) -> bool {
        self.tok == Tok::Alt || self.tok == Tok::End || (nest != 0 && self.tok == Tok::CloseGroup)
    }

    fn parse_reg_exp(&mut self, nest: usize) -> PResult<Node> {
        let first = self.parse_branch(nest)?;
        if self.tok != Tok::Alt {
            return Ok(first);
        }
        let mut branches = vec![first];
        while self.tok == Tok::Alt {
            self.fetch();
            if self.stops_branch(nest) {
                branches.push(Node::Empty);
            } else {
                branches.push(self.parse_branch(nest)?);
            }
        }
        Ok(Node::Alt(branches))
    }

    fn parse_branch(&mut self, nest: usize) -> PResult<Node> {
        let mut items = vec![self.parse_expression(nest)?];
        while !self.stops_branch(nest) {
            items.push(self.parse_expression(nest)?);
        }
        Ok(if items.len() == 1 { items.pop().unwrap_or(Node::Empty) } else { Node::Concat(items) })
    }

    fn parse_expression(&mut self, nest: usize) -> PResult<Node> {
        let mut tree = match self.tok {
            Tok::Char(c) => literal(c),
            Tok::OpenGroup => self.parse_sub_exp(nest + 1)?,
            Tok::OpenBracket => self.parse_bracket()?,
            Tok::BackRef(i) => {
                return Err(EreError(if self.completed & (1 << i) != 0 {
                    msg::UNSUPPORTED_BACKREF
                } else {
                    msg::ESUBREG
                }))
            }
            // RE_CONTEXT_INVALID_OPS: nothing to repeat.
            Tok::OpenDup | Tok::Star | Tok::Plus | Tok::Question => return Err(EreError(msg::BADRPT)),
            // RE_UNMATCHED_RIGHT_PAREN_ORD (only reachable at nesting level 0).
            Tok::CloseGroup => literal(b')'),
            Tok::CloseDup => literal(b'}'),
            Tok::Anchor(a) => {
                // Anchors take no repetition: `^*` is an error, reported by the next call.
                self.fetch();
                return Ok(Node::Anchor(a));
            }
            Tok::Period => {
                let newline = self.newline;
                Node::Set(ByteSet::from_fn(|b| b != 0 && !(newline && b == b'\n')))
            }
            Tok::Word | Tok::NotWord => {
                let mut s = ByteSet::from_fn(|b| b.is_ascii_alphanumeric() || b == b'_');
                if self.tok == Tok::NotWord {
                    s.invert(); // glibc ignores REG_NEWLINE here: `\W` matches `\n`
                }
                Node::Set(s)
            }
            Tok::Space | Tok::NotSpace => {
                let mut s = named_class(b"space").unwrap_or_default();
                if self.tok == Tok::NotSpace {
                    s.invert();
                }
                Node::Set(s)
            }
            Tok::Alt | Tok::End => return Ok(Node::Empty),
            Tok::BackSlash => return Err(EreError(msg::EESCAPE)),
        };
        self.fetch();
        let mut dups = 0;
        while matches!(self.tok, Tok::Star | Tok::Plus | Tok::Question | Tok::OpenDup) {
            dups += 1;
            if dups > MAX_STACKED_DUPS {
                return Err(EreError(msg::TOO_BIG));
            }
            tree = self.parse_dup_op(tree)?;
        }
        Ok(tree)
    }

    fn parse_sub_exp(&mut self, nest: usize) -> PResult<Node> {
        if nest > MAX_GROUP_NEST {
            return Err(EreError(msg::TOO_BIG));
        }
        let idx = self.nsub;
        self.nsub += 1;
        self.fetch();
        let tree = if self.tok == Tok::CloseGroup {
            Node::Empty
        } else {
            let t = self.parse_reg_exp(nest)?;
            if self.tok != Tok::CloseGroup {
                return Err(EreError(msg::EPAREN));
            }
            t
        };
        if idx < 9 {
            self.completed |= 1 << idx;
        }
        Ok(tree)
    }

    /// glibc's `fetch_number`: -1 = no digits, -2 = invalid.
    fn fetch_number(&mut self) -> i64 {
        let mut num: i64 = -1;
        loop {
            self.fetch();
            match self.tok {
                Tok::End => return -2,
                Tok::CloseDup | Tok::Char(b',') => return num,
                Tok::Char(c @ b'0'..=b'9') if num != -2 => {
                    let d = i64::from(c - b'0');
                    num = if num == -1 { d } else { (num * 10 + d).min(RE_DUP_MAX + 1) };
                }
                _ => num = -2,
            }
        }
    }

    fn parse_dup_op(&mut self, elem: Node) -> PResult<Node> {
        let (start, end) = if self.tok == Tok::OpenDup {
            let mut start = self.fetch_number();
            let mut end = 0;
            if start == -1 {
                if self.tok == Tok::Char(b',') {
                    start = 0; // `{,m}` is `{0,m}`
                } else {
                    return Err(EreError(msg::BADBR)); // `{}`
                }
            }
            if start != -2 {
                end = match self.tok {
                    Tok::CloseDup => start,
                    Tok::Char(b',') => self.fetch_number(),
                    _ => -2,
                };
            }
            if start == -2 || end == -2 {
                return Err(EreError(if self.tok == Tok::End { msg::EBRACE } else { msg::BADBR }));
            }
            if (end != -1 && start > end) || self.tok != Tok::CloseDup {
                return Err(EreError(msg::BADBR));
            }
            if RE_DUP_MAX < (if end == -1 { start } else { end }) {
                return Err(EreError(msg::ESIZE));
            }
            (start, end)
        } else {
            let start = i64::from(self.tok == Tok::Plus);
            let end = if self.tok == Tok::Question { 1 } else { -1 };
            (start, end)
        };
        self.fetch();
        if matches!(elem, Node::Empty) || (start == 0 && end == 0) {
            return Ok(Node::Empty);
        }
        // Both fit in u32: they are at most RE_DUP_MAX here.
        let max = if end == -1 { None } else { Some(end as u32) };
        Ok(Node::Repeat(Box::new(elem), start as u32, max))
    }

    fn peek_bracket(&self) -> (BTok, usize) {
        let Some(&c) = self.re.get(self.pos) else { return (BTok::End, 0) };
        let t = match c {
            b'[' => match self.re.get(self.pos + 1) {
                Some(b'.') => return (BTok::OpenColl, 2),
                Some(b'=') => return (BTok::OpenEquiv, 2),
                Some(b':') => return (BTok::OpenClass, 2),
                _ => BTok::Char(b'['),
            },
            b'-' => BTok::Range,
            b']' => BTok::Close,
            b'^' => BTok::NonMatch,
            _ => BTok::Char(c),
        };
        (t, 1)
    }

    fn parse_bracket(&mut self) -> PResult<Node> {
        let mut set = ByteSet::default();
        let mut non_match = false;
        let (mut t, mut tl) = self.peek_bracket();
        if t == BTok::End {
            return Err(EreError(msg::BADPAT));
        }
        if t == BTok::NonMatch {
            non_match = true;
            if self.newline {
                set.set(b'\n'); // RE_HAT_LISTS_NOT_NEWLINE; inverted below
            }
            self.pos += tl;
            (t, tl) = self.peek_bracket();
            if t == BTok::End {
                return Err(EreError(msg::BADPAT));
            }
        }
        if t == BTok::Close {
            t = BTok::Char(b']');
        }
        let mut first = true;
        loop {
            let start = self.parse_bracket_element(t, tl, first)?;
            first = false;
            (t, tl) = self.peek_bracket();
            let mut range_end = None;
            if !matches!(start, Elem::Class(_) | Elem::Equiv(_)) {
                if t == BTok::End {
                    return Err(EreError(msg::EBRACK));
                }
                if t == BTok::Range {
                    self.pos += tl;
                    let (t2, tl2) = self.peek_bracket();
                    if t2 == BTok::End {
                        return Err(EreError(msg::EBRACK));
                    }
                    if t2 == BTok::Close {
                        // A '-' before the closing bracket is an ordinary character.
                        self.pos -= tl;
                        t = BTok::Char(b'-');
                    } else {
                        range_end = Some((t2, tl2));
                    }
                }
            }
            if let Some((t2, tl2)) = range_end {
                let end = self.parse_bracket_element(t2, tl2, true)?;
                (t, tl) = self.peek_bracket();
                build_range(&mut set, &start, &end)?;
            } else {
                add_elem(&mut set, &start)?;
            }
            if t == BTok::End {
                return Err(EreError(msg::EBRACK));
            }
            if t == BTok::Close {
                break;
            }
        }
        self.pos += tl;
        if non_match {
            set.invert();
        }
        // The caller fetches the token after the bracket.
        Ok(Node::Set(set))
    }

    fn parse_bracket_element(&mut self, t: BTok, tl: usize, accept_hyphen: bool) -> PResult<Elem> {
        self.pos += tl;
        match t {
            BTok::OpenColl | BTok::OpenEquiv | BTok::OpenClass => self.parse_bracket_symbol(t),
            BTok::Range if !accept_hyphen => {
                // A '-' that is not first, last or a range end.
                if self.peek_bracket().0 != BTok::Close {
                    return Err(EreError(msg::ERANGE));
                }
                Ok(Elem::Char(b'-'))
            }
            _ => Ok(Elem::Char(t.byte())),
        }
    }

    fn parse_bracket_symbol(&mut self, t: BTok) -> PResult<Elem> {
        let delim = match t {
            BTok::OpenColl => b'.',
            BTok::OpenEquiv => b'=',
            _ => b':',
        };
        if self.pos >= self.re.len() {
            return Err(EreError(msg::EBRACK));
        }
        let mut name = Vec::new();
        loop {
            if name.len() >= BRACKET_NAME_MAX {
                return Err(EreError(msg::EBRACK));
            }
            let ch = self.re[self.pos];
            self.pos += 1;
            if self.pos >= self.re.len() {
                return Err(EreError(msg::EBRACK));
            }
            if ch == delim && self.re[self.pos] == b']' {
                break;
            }
            name.push(ch);
        }
        self.pos += 1;
        Ok(match t {
            BTok::OpenColl => Elem::Coll(name),
            BTok::OpenEquiv => Elem::Equiv(name),
            _ => Elem::Class(name),
        })
    }
}

fn literal(c: u8) -> Node {
    let mut s = ByteSet::default();
    s.set(c);
    Node::Set(s)
}

fn add_elem(set: &mut ByteSet, e: &Elem) -> PResult<()> {
    match e {
        Elem::Char(c) => set.set(*c),
        // C locale: collating symbols and equivalence classes are single characters.
        Elem::Coll(n) | Elem::Equiv(n) => match n.as_slice() {
            [c] => set.set(*c),
            _ => return Err(EreError(msg::ECOLLATE)),
        },
        Elem::Class(n) => {
            let c = named_class(n).ok_or(EreError(msg::ECTYPE))?;
            for (w, x) in set.0.iter_mut().zip(c.0) {
                *w |= x;
            }
        }
    }
    Ok(())
}

fn build_range(set: &mut ByteSet, start: &Elem, end: &Elem) -> PResult<()> {
    fn seq(e: &Elem) -> PResult<u8> {
        match e {
            Elem::Char(c) => Ok(*c),
            Elem::Coll(n) if n.len() == 1 => Ok(n[0]),
            Elem::Coll(_) => Err(EreError(msg::ECOLLATE)),
            Elem::Equiv(_) | Elem::Class(_) => Err(EreError(msg::ERANGE)),
        }
    }
    if matches!(start, Elem::Equiv(_) | Elem::Class(_)) || matches!(end, Elem::Equiv(_) | Elem::Class(_)) {
        return Err(EreError(msg::ERANGE));
    }
    let (lo, hi) = (seq(start)?, seq(end)?);
    if lo > hi {
        return Err(EreError(msg::ERANGE)); // RE_NO_EMPTY_RANGES
    }
    for b in lo..=hi {
        set.set(b);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Emitting `regex` crate syntax (compiled with Unicode off: byte semantics)

fn emit(node: &Node, newline: bool, out: &mut String) {
    match node {
        Node::Empty => out.push_str("(?:)"),
        Node::Set(s) => emit_set(s, out),
        Node::Anchor(a) => out.push_str(match (a, newline) {
            (Anchor::LineFirst, true) => "(?m:^)",
            (Anchor::LineLast, true) => "(?m:$)",
            (Anchor::LineFirst, false) | (Anchor::BufFirst, _) => r"\A",
            (Anchor::LineLast, false) | (Anchor::BufLast, _) => r"\z",
            (Anchor::WordFirst, _) => r"\b{start}",
            (Anchor::WordLast, _) => r"\b{end}",
            (Anchor::WordDelim, _) => r"\b",
            (Anchor::NotWordDelim, _) => r"\B",
        }),
        Node::Concat(items) => {
            out.push_str("(?:");
            for i in items {
                emit(i, newline, out);
            }
            out.push(')');
        }
        Node::Alt(branches) => {
            out.push_str("(?:");
            for (n, b) in branches.iter().enumerate() {
                if n > 0 {
                    out.push('|');
                }
                emit(b, newline, out);
            }
            out.push(')');
        }
        Node::Repeat(inner, min, max) => {
            out.push_str("(?:");
            emit(inner, newline, out);
            out.push(')');
            let _ = match max {
                None => write!(out, "{{{min},}}"),
                Some(max) => write!(out, "{{{min},{max}}}"),
            };
        }
    }
}

fn emit_set(s: &ByteSet, out: &mut String) {
    match s.count() {
        0 => out.push_str(r"[^\x00-\xFF]"),
        256 => out.push_str(r"(?s:.)"),
        1 => {
            let b = (0..=255u8).find(|&b| s.has(b)).unwrap_or(0);
            let _ = write!(out, r"\x{b:02X}");
        }
        _ => {
            out.push('[');
            let mut b: u16 = 0;
            while b < 256 {
                if !s.has(b as u8) {
                    b += 1;
                    continue;
                }
                let lo = b;
                while b + 1 < 256 && s.has((b + 1) as u8) {
                    b += 1;
                }
                if lo == b {
                    let _ = write!(out, r"\x{lo:02X}");
                } else {
                    let _ = write!(out, r"\x{lo:02X}-\x{b:02X}");
                }
                b += 1;
            }
            out.push(']');
        }
    }
}

/// Parses `pattern` with glibc's rules and returns the equivalent `regex` crate pattern
/// (to be compiled with Unicode mode off).
pub fn translate(pattern: &[u8], newline: bool) -> Result<String, EreError> {
    let mut p = Parser { re: pattern, pos: 0, tok: Tok::End, nsub: 0, completed: 0, newline };
    p.fetch();
    let tree = p.parse_reg_exp(0)?;
    let mut out = String::with_capacity(pattern.len() * 4 + 8);
    emit(&tree, newline, &mut out);
    Ok(out)
}

/// Amanda's `validate_regexp`: `None` if the regex compiles (with `REG_NEWLINE`),
/// otherwise glibc's error message.
pub fn validate_regexp(regex: &str) -> Option<&'static str> {
    translate(regex.as_bytes(), true).err().map(|e| e.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(re: &str, s: &str) -> Result<bool, &'static str> {
        Ere::new(re, true).map(|r| r.is_match(s)).map_err(|e| e.0)
    }

    #[test]
    fn basics() {
        assert_eq!(m("^a.c$", "abc"), Ok(true));
        assert_eq!(m("^a.c$", "a\nc"), Ok(false));
        assert_eq!(m("[^a]", "\n"), Ok(false));
        assert_eq!(m(r"\W", "\n"), Ok(true));
        assert_eq!(m("a{2,3}", "aa"), Ok(true));
        assert_eq!(m("x)", "x)"), Ok(true));
        assert_eq!(m("a}", "a}"), Ok(true));
        assert_eq!(m("[]a]", "]"), Ok(true));
        assert_eq!(m("[a-]", "-"), Ok(true));
        assert_eq!(m(r"[\]", "\\"), Ok(true));
        assert_eq!(m("[[:digit:]]+", "x12"), Ok(true));
        assert_eq!(m("^b", "a\nb"), Ok(true));
        assert_eq!(m("a**", "b"), Ok(true));
        assert_eq!(m(r"\<foo\>", "a foo b"), Ok(true));
        assert_eq!(m(r"\`a", "b\na"), Ok(false));
    }

    proptest::proptest! {
        /// Any input either compiles or gives one of glibc's messages; never a panic.
        #[test]
        fn never_panics(p in "[ab.*+?|(){}\\[\\]^$\\\\,:=0-9\n-]{0,12}", subj in "[ab\n.-]{0,6}") {
            if let Ok(re) = Ere::new(&p, true) {
                let _ = re.is_match(&subj);
            }
        }
    }

    #[test]
    fn errors_are_glibcs() {
        assert_eq!(m("*a", ""), Err(msg::BADRPT));
        assert_eq!(m("^*", ""), Err(msg::BADRPT));
        assert_eq!(m("a|*", ""), Err(msg::BADRPT));
        assert_eq!(m("[", ""), Err(msg::BADPAT));
        assert_eq!(m("a[b", ""), Err(msg::EBRACK));
        assert_eq!(m("a{1", ""), Err(msg::EBRACE));
        assert_eq!(m("a{x}", ""), Err(msg::BADBR));
        assert_eq!(m("a{2,1}", ""), Err(msg::BADBR));
        assert_eq!(m("a{40000}", ""), Err(msg::ESIZE));
        assert_eq!(m("(a", ""), Err(msg::EPAREN));
        assert_eq!(m("a\\", ""), Err(msg::EESCAPE));
        assert_eq!(m(r"\1", ""), Err(msg::ESUBREG));
        assert_eq!(m(r"(a)\1", ""), Err(msg::UNSUPPORTED_BACKREF));
        assert_eq!(m("[z-a]", ""), Err(msg::ERANGE));
        assert_eq!(m("[a-c-e]", ""), Err(msg::ERANGE));
        assert_eq!(m("[[:foo:]]", ""), Err(msg::ECTYPE));
        assert_eq!(m("[[.ab.]]", ""), Err(msg::ECOLLATE));
        assert_eq!(m(&"(".repeat(100_000), ""), Err(msg::TOO_BIG));
        assert_eq!(m(&format!("a{}", "*".repeat(100_000)), ""), Err(msg::TOO_BIG));
        assert_eq!(m(&format!("{}a{}", "(".repeat(64), ")*".repeat(64)), "a"), Ok(true));
    }
}
