//! Typed configuration values (Amanda's `val_t`) and how amgetconf displays them.
//!
//! Every parameter slot holds a [`Val`]: the value, the unit its integers are counted
//! in, and where it was last set ([`Seen`]). The display rules reproduce Amanda 3.5's
//! `val_t_display_strs()` exactly, because `amgetconf` output is compared byte for byte
//! with Amanda's.

use std::fmt::Write as _;

pub use crate::format::quote::quote_string_always as quote_always;

/// Where a value was set. `line` follows Amanda: 0 = never set (default), -1 = set by
/// a predefined dumptype, -2 = set by a `-o` override, > 0 = a line of `file`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Seen {
    pub file: Option<String>,
    pub line: i32,
    pub block: Option<String>,
}

impl Seen {
    pub fn is_set(&self) -> bool {
        self.line != 0
    }
}

/// The unit integers are counted in: plain numbers, or kibibytes (Amanda's
/// `CONF_UNIT_K`: a `b`/`bytes` suffix divides by 1024, `k` multiplies by 1, `m` by 1024).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    None,
    K,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compress {
    None,
    Fast,
    Best,
    Custom,
    ServerFast,
    ServerBest,
    ServerCustom,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encrypt {
    None,
    Client,
    Server,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holding {
    Never,
    Auto,
    Required,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimate {
    Client,
    Server,
    Calcsize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Standard,
    Skip,
    NoFull,
    NoInc,
    Hanoi,
    IncrOnly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaperAlgo {
    First,
    FirstFit,
    Largest,
    LargestFit,
    Smallest,
    Last,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendAmreport {
    All,
    Strange,
    Error,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataPath {
    Amanda,
    DirectTcp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecuteWhere {
    Client,
    Server,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartCacheType {
    None,
    Disk,
    Memory,
}

/// `exclude`/`include`: the `list` and `file` forms are kept apart, as Amanda does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExInclude {
    pub list: Vec<String>,
    pub file: Vec<String>,
    pub optional: bool,
}

/// One `property` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    pub append: bool,
    pub visible: bool,
    pub priority: bool,
    pub values: Vec<String>,
    pub seen: Seen,
}

/// A property list. Amanda keeps properties in a GLib hash table keyed by the
/// "amandaified" name, and prints them in the table's bucket order; [`PropList`]
/// reproduces that order (see `hash_order`) so that listings match Amanda's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PropList {
    /// Open-addressed slots, as GLib's table: `None` = empty, `Some(None)` = tombstone.
    slots: Vec<Option<Option<(String, Property)>>>,
    len: usize,
    occupied: usize,
}

/// GLib's `prime_mod` table, indexed by the table's shift.
const GLIB_PRIME_MOD: [u32; 12] = [1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039];
const GLIB_MIN_SHIFT: usize = 3;

impl PropList {
    /// Amanda's `g_str_amanda_hash`: like GLib's string hash, with `_` read as `-` and
    /// letters lower-cased.
    fn amanda_hash(key: &str) -> u32 {
        let mut h: u32 = 0;
        for b in key.bytes() {
            let c = if b == b'_' { b'-' } else { b.to_ascii_lowercase() };
            h = (h << 5).wrapping_sub(h).wrapping_add(u32::from(c));
        }
        h
    }

    fn shift(&self) -> usize {
        self.slots.len().trailing_zeros() as usize
    }

    fn ensure_init(&mut self) {
        if self.slots.is_empty() {
            self.slots = vec![None; 1 << GLIB_MIN_SHIFT];
        }
    }

    /// Finds `key`'s slot, or the slot an insertion would use (first tombstone seen, or
    /// the empty slot that ended the probe), following GLib's quadratic probing.
    fn probe(&self, key: &str) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let modulus = GLIB_PRIME_MOD[self.shift().min(GLIB_PRIME_MOD.len() - 1)];
        let mut idx = (Self::amanda_hash(key).wrapping_mul(11) % modulus) as usize;
        let mut step = 0;
        let mut first_tombstone = None;
        loop {
            match &self.slots[idx] {
                None => return (first_tombstone.unwrap_or(idx), false),
                Some(None) => {
                    if first_tombstone.is_none() {
                        first_tombstone = Some(idx);
                    }
                }
                Some(Some((k, _))) => {
                    if names_equal(k, key) {
                        return (idx, true);
                    }
                }
            }
            step += 1;
            idx = (idx + step) & mask;
        }
    }

    pub fn get(&self, key: &str) -> Option<&Property> {
        if self.slots.is_empty() {
            return None;
        }
        match self.probe(key) {
            (idx, true) => self.slots[idx].as_ref().and_then(|s| s.as_ref()).map(|(_, p)| p),
            _ => None,
        }
    }

    /// Inserts or replaces; a replaced entry keeps its key and slot (GLib keeps the old key).
    pub fn insert(&mut self, key: String, prop: Property) {
        self.ensure_init();
        let (idx, found) = self.probe(&key);
        if found {
            if let Some(Some((_, p))) = &mut self.slots[idx] {
                *p = prop;
            }
            return;
        }
        let was_empty = self.slots[idx].is_none();
        self.slots[idx] = Some(Some((key, prop)));
        self.len += 1;
        if was_empty {
            self.occupied += 1;
            self.maybe_resize();
        }
    }

    pub fn remove(&mut self, key: &str) {
        if self.slots.is_empty() {
            return;
        }
        if let (idx, true) = self.probe(key) {
            self.slots[idx] = Some(None);
            self.len -= 1;
            self.maybe_resize();
        }
    }

    fn maybe_resize(&mut self) {
        let size = self.slots.len();
        if (size > self.len * 4 && size > 1 << GLIB_MIN_SHIFT) || size <= self.occupied + self.occupied / 16 {
            let mut shift = 0;
            let mut n = self.len * 2;
            while n > 0 {
                n >>= 1;
                shift += 1;
            }
            let shift = shift.max(GLIB_MIN_SHIFT);
            let old = std::mem::take(&mut self.slots);
            self.slots = vec![None; 1 << shift];
            self.len = 0;
            self.occupied = 0;
            for (k, p) in old.into_iter().flatten().flatten() {
                let (idx, _) = self.probe(&k);
                self.slots[idx] = Some(Some((k, p)));
                self.len += 1;
                self.occupied += 1;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entries in the order Amanda prints them.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Property)> {
        self.slots.iter().filter_map(|s| match s {
            Some(Some((k, p))) => Some((k, p)),
            _ => None,
        })
    }
}

/// Property names compare with `-`/`_` equal and case folded (`g_str_amanda_equal`).
pub fn names_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).all(|(x, y)| {
            let dash = |c: u8| c == b'-' || c == b'_';
            (dash(x) && dash(y)) || x.eq_ignore_ascii_case(&y)
        })
}

/// Amanda's `amandaify_property_name`: lower case, `_` → `-`.
pub fn amandaify_property_name(name: &str) -> String {
    name.bytes().map(|b| if b == b'_' { '-' } else { b.to_ascii_lowercase() as char }).collect()
}

/// `autolabel` flags.
pub mod autolabel_flags {
    pub const OTHER_CONFIG: u32 = 1;
    pub const NON_AMANDA: u32 = 2;
    pub const VOLUME_ERROR: u32 = 4;
    pub const EMPTY: u32 = 8;
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AutoLabel {
    pub template: Option<String>,
    pub flags: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelStr {
    pub template: Option<String>,
    pub match_autolabel: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostLimit {
    pub match_pats: Vec<String>,
    pub same_host: bool,
    pub server: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TagSel {
    Name(String),
    All,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelSel {
    All,
    Full,
    Incr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DumpSelection {
    pub tag: TagSel,
    pub level: LevelSel,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Vault {
    pub storage: String,
    pub days: i32,
}

/// Names of the `execute-on` flags, in the order Amanda prints them (bit = 1 << value).
pub const EXECUTE_ON_NAMES: &[(&str, u32)] = &[
    ("PRE-AMCHECK", 0),
    ("PRE-DLE-AMCHECK", 1),
    ("PRE-HOST-AMCHECK", 2),
    ("POST-DLE-AMCHECK", 4),
    ("POST-HOST-AMCHECK", 5),
    ("POST-AMCHECK", 3),
    ("PRE-ESTIMATE", 6),
    ("PRE-DLE-ESTIMATE", 7),
    ("PRE-HOST-ESTIMATE", 8),
    ("POST-DLE-ESTIMATE", 10),
    ("POST-HOST-ESTIMATE", 11),
    ("POST-ESTIMATE", 9),
    ("PRE-BACKUP", 12),
    ("PRE-DLE-BACKUP", 13),
    ("PRE-HOST-BACKUP", 14),
    ("POST-BACKUP", 15),
    ("POST-DLE-BACKUP", 16),
    ("POST-HOST-BACKUP", 17),
    ("PRE-RECOVER", 18),
    ("POST-RECOVER", 19),
    ("PRE-LEVEL-RECOVER", 20),
    ("POST-LEVEL-RECOVER", 21),
    ("INTER-LEVEL-RECOVER", 22),
];

/// A configuration value. The variant is the display type Amanda gives the slot
/// when it initialises it (`conf_init_*`), which decides how it is printed.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i32),
    Int64(i64),
    Size(i64),
    Real(f64),
    Str(Option<String>),
    Ident(Option<String>),
    IdentList(Vec<String>),
    StrList(Vec<String>),
    Time(i64),
    Bool(bool),
    NoYesAll(i32),
    Compress(Compress),
    Encrypt(Encrypt),
    Holding(Holding),
    EstimateList(Vec<Estimate>),
    Strategy(Strategy),
    TaperAlgo(TaperAlgo),
    SendAmreport(SendAmreport),
    DataPath(DataPath),
    Priority(i32),
    Rate(f32, f32),
    ExInclude(ExInclude),
    IntRange(i32, i32),
    PropList(PropList),
    Application(Option<String>),
    ExecuteOn(u32),
    ExecuteWhere(ExecuteWhere),
    AutoLabel(AutoLabel),
    LabelStr(LabelStr),
    PartCacheType(PartCacheType),
    HostLimit(HostLimit),
    DumpSelection(Vec<DumpSelection>),
    VaultList(Vec<Vault>),
}

/// One parameter slot.
#[derive(Clone, Debug, PartialEq)]
pub struct Val {
    pub value: Value,
    pub unit: Unit,
    pub seen: Seen,
}

impl Val {
    pub fn new(value: Value) -> Val {
        Val { value, unit: Unit::None, seen: Seen::default() }
    }

    pub fn with_unit(value: Value, unit: Unit) -> Val {
        Val { value, unit, seen: Seen::default() }
    }

    pub fn str(s: &str) -> Val {
        Val::new(Value::Str(Some(s.to_string())))
    }

    pub fn int(i: i32) -> Val {
        Val::new(Value::Int(i))
    }

    pub fn int_k(i: i32) -> Val {
        Val::with_unit(Value::Int(i), Unit::K)
    }

    pub fn int64_k(i: i64) -> Val {
        Val::with_unit(Value::Int64(i), Unit::K)
    }

    pub fn bool(b: bool) -> Val {
        Val::new(Value::Bool(b))
    }

    /// The value as a string, for string-like slots (`val_t_to_str`).
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) | Value::Ident(s) | Value::Application(s) => s.as_deref(),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) | Value::Priority(i) | Value::NoYesAll(i) => Some(i64::from(i)),
            Value::Int64(i) | Value::Size(i) | Value::Time(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The lines amgetconf prints for this value (`val_t_display_strs` with
    /// `str_need_quote` = false, no source, no unit).
    pub fn display_strs(&self) -> Vec<String> {
        match &self.value {
            Value::Int(i) => vec![i.to_string()],
            Value::Int64(i) => vec![i.to_string()],
            // Amanda prints a size with %zu.
            Value::Size(i) => vec![(*i as u64).to_string()],
            Value::Real(r) => vec![format!("{r:.5}")],
            Value::Rate(a, b) => vec![format!("{:.5} {:.5}", f64::from(*a), f64::from(*b))],
            Value::IntRange(a, b) => vec![format!("{a},{b}")],
            Value::Ident(s) | Value::Str(s) => vec![s.clone().unwrap_or_default()],
            Value::IdentList(l) => {
                if l.is_empty() {
                    vec!["\"\"".to_string()]
                } else {
                    vec![l.join(" ")]
                }
            }
            Value::StrList(l) => {
                if l.is_empty() {
                    vec![]
                } else {
                    vec![l.iter().map(|s| quote_always(s)).collect::<Vec<_>>().join(" ")]
                }
            }
            Value::AutoLabel(a) => {
                let mut s = quote_always(a.template.as_deref().unwrap_or(""));
                use autolabel_flags::*;
                for (bit, name) in [
                    (OTHER_CONFIG, " OTHER-CONFIG"),
                    (NON_AMANDA, " NON-AMANDA"),
                    (VOLUME_ERROR, " VOLUME-ERROR"),
                    (EMPTY, " EMPTY"),
                ] {
                    if a.flags & bit != 0 {
                        s.push_str(name);
                    }
                }
                vec![s]
            }
            Value::LabelStr(l) => {
                if l.match_autolabel {
                    vec!["MATCH-AUTOLABEL".to_string()]
                } else {
                    vec![quote_always(l.template.as_deref().unwrap_or(""))]
                }
            }
            Value::Time(t) => vec![format!("{:2}{:02}", t / 100, t % 100)],
            Value::ExInclude(e) => vec![exinclude_str(e, false), exinclude_str(e, true)],
            Value::Bool(b) => vec![if *b { "yes" } else { "no" }.to_string()],
            Value::NoYesAll(v) => match v {
                0 => vec!["no".into()],
                1 => vec!["yes".into()],
                _ => vec!["all".into()],
            },
            Value::Strategy(s) => vec![match s {
                Strategy::Skip => "SKIP",
                Strategy::Standard => "STANDARD",
                Strategy::NoFull => "NOFULL",
                Strategy::NoInc => "NOINC",
                Strategy::Hanoi => "HANOI",
                Strategy::IncrOnly => "INCRONLY",
            }
            .into()],
            Value::Compress(c) => vec![match c {
                Compress::None => "NONE",
                Compress::Fast => "CLIENT FAST",
                Compress::Best => "CLIENT BEST",
                Compress::Custom => "CLIENT CUSTOM",
                Compress::ServerFast => "SERVER FAST",
                Compress::ServerBest => "SERVER BEST",
                Compress::ServerCustom => "SERVER CUSTOM",
            }
            .into()],
            Value::EstimateList(l) => vec![l
                .iter()
                .map(|e| match e {
                    Estimate::Client => "CLIENT",
                    Estimate::Server => "SERVER",
                    Estimate::Calcsize => "CALCSIZE",
                })
                .collect::<Vec<_>>()
                .join(" ")],
            Value::ExecuteWhere(w) => vec![match w {
                ExecuteWhere::Client => "CLIENT",
                ExecuteWhere::Server => "SERVER",
            }
            .into()],
            Value::SendAmreport(s) => vec![match s {
                SendAmreport::All => "ALL",
                SendAmreport::Strange => "STRANGE",
                SendAmreport::Error => "ERROR",
                SendAmreport::Never => "NEVER",
            }
            .into()],
            Value::DataPath(d) => vec![match d {
                DataPath::Amanda => "AMANDA",
                DataPath::DirectTcp => "DIRECTTCP",
            }
            .into()],
            Value::Encrypt(e) => vec![match e {
                Encrypt::None => "NONE",
                Encrypt::Client => "CLIENT",
                Encrypt::Server => "SERVER",
            }
            .into()],
            Value::PartCacheType(p) => vec![match p {
                PartCacheType::None => "NONE",
                PartCacheType::Disk => "DISK",
                PartCacheType::Memory => "MEMORY",
            }
            .into()],
            Value::HostLimit(h) => {
                let mut s = String::new();
                if h.same_host {
                    s.push_str("SAME-HOST ");
                }
                if h.server {
                    s.push_str("SERVER ");
                }
                for p in &h.match_pats {
                    s.push_str(&quote_always(p));
                    s.push(' ');
                }
                vec![s]
            }
            Value::Holding(h) => vec![match h {
                Holding::Never => "NEVER",
                Holding::Auto => "AUTO",
                Holding::Required => "REQUIRED",
            }
            .into()],
            Value::TaperAlgo(a) => vec![taperalgo_name(*a).into()],
            Value::Priority(p) => vec![match p {
                0 => "LOW".to_string(),
                1 => "MEDIUM".to_string(),
                2 => "HIGH".to_string(),
                n => n.to_string(),
            }],
            Value::PropList(pl) => pl
                .iter()
                .map(|(k, p)| {
                    let mut parts = vec![if p.visible { "visible" } else { "hidden" }.to_string()];
                    if p.priority {
                        parts.push("priority".into());
                    }
                    parts.push(quote_always(k));
                    parts.extend(p.values.iter().map(|v| quote_always(v)));
                    parts.join(" ")
                })
                .collect(),
            Value::Application(s) => vec![match s {
                Some(s) => quote_always(s),
                None => String::new(),
            }],
            Value::ExecuteOn(flags) => vec![EXECUTE_ON_NAMES
                .iter()
                .filter(|(_, bit)| flags & (1 << bit) != 0)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")],
            Value::DumpSelection(l) => l
                .iter()
                .map(|d| {
                    let tag = match &d.tag {
                        TagSel::Name(n) => quote_always(n),
                        TagSel::All => "ALL".into(),
                        TagSel::Other => "OTHER".into(),
                    };
                    let level = match d.level {
                        LevelSel::All => "ALL",
                        LevelSel::Full => "FULL",
                        LevelSel::Incr => "INCR",
                    };
                    format!("{tag} {level}")
                })
                .collect(),
            Value::VaultList(l) => {
                l.iter().map(|v| format!("{} {}", quote_always(&v.storage), v.days)).collect()
            }
        }
    }
}

pub fn taperalgo_name(a: TaperAlgo) -> &'static str {
    match a {
        TaperAlgo::First => "FIRST",
        TaperAlgo::FirstFit => "FIRSTFIT",
        TaperAlgo::Largest => "LARGEST",
        TaperAlgo::LargestFit => "LARGESTFIT",
        TaperAlgo::Smallest => "SMALLEST",
        TaperAlgo::Last => "LAST",
    }
}

fn exinclude_str(e: &ExInclude, file: bool) -> String {
    let mut s = String::from(if file { "FILE" } else { "LIST" });
    if e.optional {
        s.push_str(" OPTIONAL");
    }
    for name in if file { &e.file } else { &e.list } {
        let _ = write!(s, " {}", quote_always(name));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(v: &str) -> Property {
        Property {
            append: false,
            visible: true,
            priority: false,
            values: vec![v.into()],
            seen: Seen::default(),
        }
    }

    #[test]
    fn proplist_replaces_in_place_and_removes() {
        let mut pl = PropList::default();
        pl.insert("a".into(), prop("1"));
        pl.insert("b".into(), prop("2"));
        pl.insert("A".into(), prop("3"));
        assert_eq!(pl.len(), 2);
        assert_eq!(pl.get("a").unwrap().values, vec!["3".to_string()]);
        pl.remove("B");
        assert_eq!(pl.len(), 1);
        assert!(pl.get("b").is_none());
        for i in 0..40 {
            pl.insert(format!("k{i}"), prop("x"));
        }
        assert_eq!(pl.len(), 41);
        assert!((0..40).all(|i| pl.get(&format!("K{i}")).is_some()));
    }

    #[test]
    fn display_rules() {
        assert_eq!(Val::new(Value::Real(1.5)).display_strs(), vec!["1.50000"]);
        assert_eq!(Val::new(Value::Time(5)).display_strs(), vec![" 005"]);
        assert_eq!(Val::new(Value::Time(2230)).display_strs(), vec!["2230"]);
        assert_eq!(Val::new(Value::IdentList(vec![])).display_strs(), vec!["\"\""]);
        assert_eq!(
            Val::new(Value::ExecuteOn(1 | 1 << 3 | 1 << 4)).display_strs(),
            vec!["PRE-AMCHECK, POST-DLE-AMCHECK, POST-AMCHECK"]
        );
    }
}
