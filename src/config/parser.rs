//! The amanda.conf(5) / amanda-client.conf(5) reader: lexer, parser, checks and defaults.
//!
//! This is a port of the behaviour of Amanda 3.5.1's `common-src/conffile.c`, written
//! afresh. Amanda's users rely on the quirks as much as on the rules, so the port keeps
//! them deliberately:
//! - Line numbers count *logical* lines: the parser bumps the counter once per line it
//!   starts reading, not once per newline character.
//! - A word is looked up in the keyword table that is active when it is read (numeric
//!   suffixes, booleans, or the main table), and again if it is pushed back.
//! - A number's type is fixed when it is lexed (`int` when an int was expected, a real
//!   when it has a `.` or a real was expected, else a 64-bit int); a pushed-back number
//!   keeps that type.
//! - Errors are collected, not thrown: every problem of a file is reported in one pass,
//!   as `'<file>', line N: <message>` (or `argument '<value>': …` for `-o` overrides).
//! - Dumptype defaults are taken from the global values *as they stand when the
//!   dumptype is defined*, and a parent must be defined before its children (so an
//!   inheritance cycle shows up as an unknown parent).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::tables::*;
use super::value::*;
use crate::format::quote::unquote_bytes as unquote;

/// Declared type of a parameter (from the tables); only `Str` matters to the parser:
/// an override of a string parameter is quoted before it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeclType {
    Autolabel,
    Boolean,
    DataPath,
    DumpSelection,
    Estimatelist,
    ExecuteOn,
    ExecuteWhere,
    Exinclude,
    Holding,
    HostLimit,
    Ident,
    Identlist,
    Int,
    Int64,
    Intrange,
    Labelstr,
    NoYesAll,
    PartCacheType,
    Priority,
    Proplist,
    Real,
    SendAmreportOn,
    Size,
    Str,
    StrList,
    Taperalgo,
    Time,
    VaultList,
}

/// How a parameter's value is read (Amanda's `read_*` functions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    Autolabel,
    Bool,
    Compress,
    Dapplication,
    DataPath,
    Dinteractivity,
    Dpolicy,
    DppScript,
    Dtaperscan,
    DumpSelection,
    Encrypt,
    Estimatelist,
    ExecuteOn,
    ExecuteWhere,
    Exinclude,
    HiddenProperty,
    Holding,
    Holdingdisk,
    HostLimit,
    Ident,
    Int,
    Int64,
    IntOrStr,
    Intrange,
    Labelstr,
    NoYesAll,
    PartCacheType,
    Priority,
    Rate,
    Real,
    SendAmreportOn,
    Size,
    StorageIdentlist,
    Str,
    StrList,
    Strategy,
    Taperalgo,
    Time,
    VaultList,
    VisibleProperty,
}

/// How a parameter's value is checked after reading (Amanda's `validate_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validate {
    Blocksize,
    Bumpmult,
    Bumppercent,
    Chunksize,
    Columnspec,
    Debug,
    DeprecatedChangerfile,
    Displayunit,
    DumpLimit,
    NoSpaceDquote,
    NonZero,
    Nonnegative,
    Positive,
    Program,
    Reserve,
    ReservedPortRange,
    Runspercycle,
    Tmpdir,
    UnreservedPortRange,
    Use,
}

/// One row of a parameter table.
#[derive(Debug)]
pub struct ParamDef {
    pub tok: &'static str,
    pub ty: DeclType,
    pub read: Read,
    pub parm: &'static str,
    pub validate: Option<Validate>,
}

/// Amanda's DISK_BLOCK_KB.
const DISK_BLOCK_KB: i64 = 32;

/// Build-time constants of Debian's Amanda 3.5.1 package, which set several defaults.
pub mod build {
    pub const DEFAULT_CONFIG: &str = "DailySet1";
    pub const DEFAULT_SERVER: &str = "localhost";
    pub const DEFAULT_TAPE_SERVER: &str = "localhost";
    pub const DEFAULT_TAPE_DEVICE: Option<&str> = None;
    pub const DEFAULT_MAILER: &str = "/usr/bin/mail";
    pub const CLIENT_LOGIN: &str = "backup";
    pub const AMANDA_TMPDIR: &str = "/tmp/amanda";
    pub const GNUTAR_LISTED_INCREMENTAL_DIR: &str = "/var/lib/amanda/gnutar-lists";
    pub const DEFAULT_AMANDATES_FILE: &str = "/var/lib/amanda/amandates";
    pub const AMANDA_DEBUG_DAYS: i32 = 4;
    pub const CONFIG_DIR: &str = "/etc/amanda";
}

/// The section types of amanda.conf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SectionKind {
    Holdingdisk,
    Dumptype,
    Tapetype,
    Interface,
    Application,
    Script,
    Device,
    Changer,
    Interactivity,
    Taperscan,
    Policy,
    Storage,
}

impl SectionKind {
    pub const ALL: [SectionKind; 12] = [
        SectionKind::Holdingdisk,
        SectionKind::Dumptype,
        SectionKind::Tapetype,
        SectionKind::Interface,
        SectionKind::Application,
        SectionKind::Script,
        SectionKind::Device,
        SectionKind::Changer,
        SectionKind::Interactivity,
        SectionKind::Taperscan,
        SectionKind::Policy,
        SectionKind::Storage,
    ];

    /// The word used in `current_block` ("dumptype NAME") and in duplicate messages.
    pub fn block_word(self) -> &'static str {
        match self {
            SectionKind::Holdingdisk => "holdingdisk",
            SectionKind::Dumptype => "dumptype",
            SectionKind::Tapetype => "tapetype",
            SectionKind::Interface => "interface",
            SectionKind::Application => "application",
            SectionKind::Script => "script",
            SectionKind::Device => "device",
            SectionKind::Changer => "changer",
            SectionKind::Interactivity => "interactivity",
            SectionKind::Taperscan => "taperscan",
            SectionKind::Policy => "policy",
            SectionKind::Storage => "storage",
        }
    }

    /// The prefix of `-o TYPE:NAME:PARAM` overrides and `amgetconf TYPE:NAME:PARAM`.
    fn override_word(self) -> &'static str {
        match self {
            SectionKind::Holdingdisk => "HOLDINGDISK",
            SectionKind::Dumptype => "DUMPTYPE",
            SectionKind::Tapetype => "TAPETYPE",
            SectionKind::Interface => "INTERFACE",
            SectionKind::Application => "APPLICATION",
            SectionKind::Script => "SCRIPT",
            SectionKind::Device => "DEVICE",
            SectionKind::Changer => "CHANGER",
            SectionKind::Interactivity => "INTERACTIVITY",
            SectionKind::Taperscan => "TAPERSCAN",
            SectionKind::Policy => "POLICY",
            SectionKind::Storage => "STORAGE",
        }
    }

    /// The token used for `validate_name` messages ("HOLDINGDISK must not contains space").
    fn token(self) -> &'static str {
        match self {
            SectionKind::Holdingdisk => "HOLDING",
            SectionKind::Script => "SCRIPT",
            SectionKind::Device => "DEVICE",
            SectionKind::Changer => "CHANGER",
            other => other.override_word(),
        }
    }

    pub fn table(self) -> &'static [ParamDef] {
        match self {
            SectionKind::Holdingdisk => HOLDING_VAR,
            SectionKind::Dumptype => DUMPTYPE_VAR,
            SectionKind::Tapetype => TAPETYPE_VAR,
            SectionKind::Interface => INTERFACE_VAR,
            SectionKind::Application => APPLICATION_VAR,
            SectionKind::Script => PP_SCRIPT_VAR,
            SectionKind::Device => DEVICE_CONFIG_VAR,
            SectionKind::Changer => CHANGER_CONFIG_VAR,
            SectionKind::Interactivity => INTERACTIVITY_VAR,
            SectionKind::Taperscan => TAPERSCAN_VAR,
            SectionKind::Policy => POLICY_VAR,
            SectionKind::Storage => STORAGE_VAR,
        }
    }

    fn param_expected(self) -> &'static str {
        match self {
            SectionKind::Holdingdisk => "holding disk parameter expected",
            SectionKind::Dumptype => "dumptype parameter expected",
            SectionKind::Tapetype => "tapetype parameter expected",
            SectionKind::Interface => "interface parameter expected",
            SectionKind::Application => "application parameter expected",
            SectionKind::Script => "script parameter expected",
            SectionKind::Device => "device parameter expected",
            SectionKind::Changer => "changer parameter expected",
            SectionKind::Interactivity => "interactivity parameter expected",
            SectionKind::Taperscan => "taperscan parameter expected",
            SectionKind::Policy => "policy parameter expected",
            SectionKind::Storage => "storage parameter expected",
        }
    }

    /// The message when a parent named in a block does not exist.
    fn unknown_parent(self) -> &'static str {
        match self {
            SectionKind::Holdingdisk => "holdingdisk parameter expected",
            SectionKind::Tapetype => "tape type parameter expected",
            other => other.param_expected(),
        }
    }

    /// Looks a section type up by the name amgetconf accepts (upper case, `_` for `-`).
    pub fn from_override_word(word: &str) -> Option<SectionKind> {
        Some(match word {
            "TAPETYPE" => SectionKind::Tapetype,
            "DUMPTYPE" => SectionKind::Dumptype,
            "HOLDINGDISK" => SectionKind::Holdingdisk,
            "INTERFACE" => SectionKind::Interface,
            "APPLICATION_TOOL" | "APPLICATION" => SectionKind::Application,
            "SCRIPT_TOOL" | "SCRIPT" => SectionKind::Script,
            "DEVICE" => SectionKind::Device,
            "CHANGER" => SectionKind::Changer,
            "INTERACTIVITY" => SectionKind::Interactivity,
            "TAPERSCAN" => SectionKind::Taperscan,
            "POLICY" => SectionKind::Policy,
            "STORAGE" => SectionKind::Storage,
            _ => return None,
        })
    }

    /// Looks a section type up by the name `--list` accepts.
    pub fn from_list_name(name: &str) -> Option<SectionKind> {
        match name.to_ascii_lowercase().as_str() {
            "tapetype" => Some(SectionKind::Tapetype),
            "dumptype" => Some(SectionKind::Dumptype),
            "holdingdisk" => Some(SectionKind::Holdingdisk),
            "interface" => Some(SectionKind::Interface),
            "application_tool" | "application-tool" | "application" => Some(SectionKind::Application),
            "script_tool" | "script-tool" | "script" => Some(SectionKind::Script),
            "device" => Some(SectionKind::Device),
            "changer" => Some(SectionKind::Changer),
            "interactivity" => Some(SectionKind::Interactivity),
            "taperscan" => Some(SectionKind::Taperscan),
            "policy" => Some(SectionKind::Policy),
            "storage" => Some(SectionKind::Storage),
            _ => None,
        }
    }
}

/// A named section (a dumptype, a tapetype, …) with its parameter slots.
#[derive(Clone, Debug)]
pub struct Section {
    pub name: String,
    pub seen: Seen,
    pub values: BTreeMap<&'static str, Val>,
}

impl Section {
    pub fn get(&self, parm: &str) -> &Val {
        self.values.get(parm).unwrap_or_else(|| panic!("section {} has no slot {parm}", self.name))
    }
}

/// Severity of a configuration diagnostic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warnings,
    Errors,
}

/// A parsed configuration: global slots and the named sections.
#[derive(Clone, Debug)]
pub struct Config {
    pub client: bool,
    pub name: Option<String>,
    pub dir: Option<PathBuf>,
    pub globals: BTreeMap<&'static str, Val>,
    pub sections: BTreeMap<SectionKind, Vec<Section>>,
    /// Everything reported while reading, in order, with the worst level.
    pub diagnostics: Vec<String>,
    pub level: Level,
}

impl Config {
    pub fn global(&self, parm: &str) -> &Val {
        self.globals.get(parm).unwrap_or_else(|| panic!("no global slot {parm}"))
    }

    pub fn global_str(&self, parm: &str) -> &str {
        self.global(parm).as_str().unwrap_or("")
    }

    pub fn lookup(&self, kind: SectionKind, name: &str) -> Option<&Section> {
        self.sections.get(&kind)?.iter().find(|s| s.name.eq_ignore_ascii_case(name))
    }

    fn lookup_mut(&mut self, kind: SectionKind, name: &str) -> Option<&mut Section> {
        self.sections.get_mut(&kind)?.iter_mut().find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Names of the sections of one type, in definition order (`getconf_list`).
    pub fn list(&self, kind: SectionKind) -> Vec<&str> {
        self.sections.get(&kind).map(|v| v.iter().map(|s| s.name.as_str()).collect()).unwrap_or_default()
    }

    fn keytab(&self) -> &'static [(&'static str, &'static str)] {
        if self.client {
            CLIENT_KEYTAB
        } else {
            SERVER_KEYTAB
        }
    }

    fn parsetab(&self) -> &'static [ParamDef] {
        if self.client {
            CLIENT_VAR
        } else {
            SERVER_VAR
        }
    }

    /// Resolves `PARAM` or `TYPE:NAME:PARAM` as amgetconf does (`parm_key_info`):
    /// case-insensitive, `-` read as `_`, the subsection name may itself contain `:`.
    pub fn param_by_name(&self, key: &str) -> Option<(&'static ParamDef, &Val)> {
        let (pd, kind, name) = self.resolve_key(key)?;
        match kind {
            None => Some((pd, self.globals.get(pd.parm)?)),
            Some(kind) => Some((pd, self.lookup(kind, &name)?.values.get(pd.parm)?)),
        }
    }

    #[allow(clippy::type_complexity)]
    fn resolve_key(&self, key: &str) -> Option<(&'static ParamDef, Option<SectionKind>, String)> {
        let key = key.to_ascii_uppercase();
        match key.split_once(':') {
            Some((ty, rest)) => {
                let ty = ty.replace('-', "_");
                let (name, param) = rest.rsplit_once(':')?;
                let param = param.replace('-', "_");
                let tok = self.keytab().iter().find(|(kw, _)| *kw == param)?.1;
                let kind = SectionKind::from_override_word(&ty)?;
                let pd = kind.table().iter().find(|p| p.tok == tok)?;
                self.lookup(kind, name)?;
                Some((pd, Some(kind), name.to_string()))
            }
            None => {
                let key = key.replace('-', "_");
                let tok = self.keytab().iter().find(|(kw, _)| *kw == key)?.1;
                let pd = self.parsetab().iter().find(|p| p.tok == tok)?;
                Some((pd, None, String::new()))
            }
        }
    }
}

/// Where a configuration comes from.
#[derive(Clone, Debug)]
pub struct ConfigSource {
    /// The directory holding `amanda.conf` (e.g. `/etc/amanda/DailySet1`).
    pub dir: PathBuf,
    /// The configuration's name (the last component of `dir`).
    pub name: String,
    /// A site-wide `amanda.conf` read first, if it exists (`/etc/amanda/amanda.conf`).
    pub global_file: Option<PathBuf>,
}

impl ConfigSource {
    /// Amanda's rule, extended as this project documents: `CONFIG` names a directory
    /// under `$AMANDA_CONFIG_DIR` (default `/etc/amanda`), unless it contains a `/`, in
    /// which case it is the configuration directory itself.
    pub fn resolve(config: &str) -> ConfigSource {
        if config.contains('/') {
            let dir = absolute(Path::new(config));
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| config.trim_end_matches('/').to_string());
            ConfigSource { dir, name, global_file: None }
        } else {
            let root = absolute(&config_root());
            ConfigSource {
                dir: root.join(config),
                name: config.to_string(),
                global_file: Some(root.join("amanda.conf")),
            }
        }
    }
}

/// `p` made absolute against the current directory (no symlinks resolved, `.` dropped):
/// relative names are shown absolute in messages, as Amanda shows its own paths.
fn absolute(p: &Path) -> PathBuf {
    let joined = if p.is_relative() {
        std::env::current_dir().map(|cwd| cwd.join(p)).unwrap_or_else(|_| p.to_path_buf())
    } else {
        p.to_path_buf()
    };
    joined.components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect()
}

/// `$AMANDA_CONFIG_DIR`, or `/etc/amanda`.
pub fn config_root() -> PathBuf {
    std::env::var_os("AMANDA_CONFIG_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(build::CONFIG_DIR))
}

/// A `-o NAME=VALUE` override.
#[derive(Clone, Debug)]
pub struct Override {
    pub key: String,
    pub value: String,
    applied: bool,
}

impl Override {
    /// Parses `NAME=VALUE`; the value may contain further `=`.
    pub fn parse(opt: &str) -> Result<Override, String> {
        match opt.split_once('=') {
            Some((k, v)) => Ok(Override { key: k.to_string(), value: v.to_string(), applied: false }),
            None => Err(format!("Must specify a value for {opt}.")),
        }
    }
}

/// Reads a server configuration the way Amanda's tools do (`config_init_with_global`).
pub fn load_server(src: &ConfigSource, overrides: &[Override]) -> Config {
    load(src, overrides, false)
}

/// Reads `amanda-client.conf` for `src` (client tools).
pub fn load_client(src: &ConfigSource, overrides: &[Override]) -> Config {
    load(src, overrides, true)
}

/// Parses configuration text held in memory, as if it were `file` in `dir`.
pub fn parse_text(text: &str, dir: &Path, client: bool) -> Config {
    parse_bytes(text.as_bytes(), dir, client)
}

/// As [`parse_text`], for input that need not be UTF-8 (fuzzing, files read raw).
pub fn parse_bytes(bytes: &[u8], dir: &Path, client: bool) -> Config {
    let mut p = Parser::new(client, Vec::new());
    p.cfg.dir = Some(dir.to_path_buf());
    p.cfg.name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    p.read_source(dir.join(if client { "amanda-client.conf" } else { "amanda.conf" }), bytes.to_vec());
    p.set_active_storage_default();
    p.update_derived_values();
    p.finish()
}

fn load(src: &ConfigSource, overrides: &[Override], client: bool) -> Config {
    let mut p = Parser::new(client, overrides.to_vec());
    let file_name = if client { "amanda-client.conf" } else { "amanda.conf" };
    // Pass 1: the site-wide file, whose absence is fine; overrides are applied
    // silently, as Amanda does before the real configuration is known.
    if let Some(global) = &src.global_file.as_ref().map(|g| g.with_file_name(file_name)) {
        if let Some(root) = global.parent() {
            p.cfg.dir = Some(root.to_path_buf());
        }
        p.apply_overrides(false);
        if global.exists() {
            p.read_conffile(global.to_string_lossy().into_owned());
        }
        p.set_active_storage_default();
        p.apply_overrides(false);
        if p.cfg.level >= Level::Warnings {
            return p.finish();
        }
    }
    // Pass 2: the configuration itself, overlaid (a parameter set twice is not an error).
    p.allow_overwrites = true;
    p.cfg.dir = Some(src.dir.clone());
    p.cfg.name = Some(src.name.clone());
    p.apply_overrides(false);
    let path = src.dir.join(file_name);
    p.read_conffile(path.to_string_lossy().into_owned());
    p.set_active_storage_default();
    p.apply_overrides(true);
    let unapplied: Vec<String> = p.overrides.iter().filter(|o| !o.applied).map(|o| o.key.clone()).collect();
    for key in unapplied {
        p.error(&format!("unknown parameter '{key}'"));
    }
    p.update_derived_values();
    p.finish()
}

/// A token as the parser sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok {
    Unknown,
    Any,
    Comma,
    LBrace,
    RBrace,
    Nl,
    End,
    Ident,
    Int,
    Int64,
    Real,
    Str,
    /// A keyword of the active table, by token name (e.g. "CLNTCOMPPROG", "MULT1K").
    Kw(&'static str),
}

impl Tok {
    /// The number Amanda's tok_t gives this token (printed by a few messages).
    fn number(self) -> usize {
        let name = match self {
            Tok::Unknown => "UNKNOWN",
            Tok::Any => "ANY",
            Tok::Comma => "COMMA",
            Tok::LBrace => "LBRACE",
            Tok::RBrace => "RBRACE",
            Tok::Nl => "NL",
            Tok::End => "END",
            Tok::Ident => "IDENT",
            Tok::Int => "INT",
            Tok::Int64 => "INT64",
            Tok::Real => "REAL",
            Tok::Str => "STRING",
            Tok::Kw(k) => k,
        };
        TOKEN_ORDER.iter().position(|t| *t == name).unwrap_or(0)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Keytab {
    Main,
    Numb,
    Bool,
    NoYesAll,
}

/// The token text buffer limit of Amanda's lexer (`tkbuf`).
const TOKEN_MAX_BYTES: usize = 4096;

/// One open input: a file's bytes, or the text of a `-o` override.
struct Input {
    bytes: Vec<u8>,
    pos: usize,
}

struct Parser {
    cfg: Config,
    overrides: Vec<Override>,
    input: Input,
    file: Option<String>,
    line: i32,
    /// The text of the override being read, if any (`current_line` in Amanda).
    fake_line: Option<String>,
    keytab: Keytab,
    tok: Tok,
    tv_s: String,
    tv_i: i32,
    tv_i64: i64,
    tv_r: f64,
    pushed: Option<(Tok, String, i32, i64, f64)>,
    allow_overwrites: bool,
    current_block: Option<String>,
    /// Name of the dumptype being read, for anonymous application/script names.
    dp_name: String,
    anonymous_count: u32,
    warned_deprecated: Vec<&'static str>,
    include_depth: u32,
    /// Where each `holdingdisk NAME` reference was made, to point at it if NAME is
    /// never defined.
    holding_refs: Vec<(String, Option<String>, i32)>,
}

/// Deep `includefile` recursion is a configuration error, not a stack overflow.
const MAX_INCLUDE_DEPTH: u32 = 64;

impl Parser {
    fn new(client: bool, overrides: Vec<Override>) -> Parser {
        let mut p = Parser::new_with(Config {
            client,
            name: None,
            dir: None,
            globals: BTreeMap::new(),
            sections: SectionKind::ALL.iter().map(|k| (*k, Vec::new())).collect(),
            diagnostics: Vec::new(),
            level: Level::Ok,
        });
        p.overrides = overrides;
        p.init_defaults();
        p
    }

    /// A parser working on an existing configuration (no defaults are set).
    fn new_with(cfg: Config) -> Parser {
        Parser {
            cfg,
            overrides: Vec::new(),
            input: Input { bytes: Vec::new(), pos: 0 },
            file: None,
            line: 0,
            fake_line: None,
            keytab: Keytab::Main,
            tok: Tok::Unknown,
            tv_s: String::new(),
            tv_i: 0,
            tv_i64: 0,
            tv_r: 0.0,
            pushed: None,
            allow_overwrites: false,
            current_block: None,
            dp_name: String::new(),
            anonymous_count: 0,
            warned_deprecated: Vec::new(),
            include_depth: 0,
            holding_refs: Vec::new(),
        }
    }

    fn finish(self) -> Config {
        self.cfg
    }

    // ----- diagnostics -------------------------------------------------------------

    fn report(&mut self, level: Level, msg: &str) {
        let text = if let Some(line) = &self.fake_line {
            format!("argument '{line}': {msg}")
        } else if let (Some(file), true) = (&self.file, self.line > 0) {
            format!("'{file}', line {}: {msg}", self.line)
        } else {
            format!("parse error: {msg}")
        };
        self.cfg.diagnostics.push(text);
        if level > self.cfg.level {
            self.cfg.level = level;
        }
    }

    fn error(&mut self, msg: &str) {
        self.report(Level::Errors, msg);
    }

    /// Reports at a remembered place (a line > 0), or without one.
    fn error_at(&mut self, file: Option<String>, line: i32, msg: &str) {
        let saved = (self.file.take(), self.line);
        if line > 0 {
            self.file = file;
            self.line = line;
        }
        self.error(msg);
        (self.file, self.line) = saved;
    }

    fn warn(&mut self, msg: &str) {
        self.report(Level::Warnings, msg);
    }

    // ----- lexer -------------------------------------------------------------------

    fn getc(&mut self) -> Option<u8> {
        let b = self.input.bytes.get(self.input.pos).copied();
        if b.is_some() {
            self.input.pos += 1;
        }
        b
    }

    fn ungetc(&mut self, c: Option<u8>) {
        if c.is_some() && self.input.pos > 0 {
            self.input.pos -= 1;
        }
    }

    fn active_keytab(&self) -> &'static [(&'static str, &'static str)] {
        match self.keytab {
            Keytab::Main => self.cfg.keytab(),
            Keytab::Numb => NUMB_KEYTAB,
            Keytab::Bool => BOOL_KEYTAB,
            Keytab::NoYesAll => NO_YES_ALL_KEYTAB,
        }
    }

    fn lookup_keyword(&self, word: &str) -> Tok {
        let folded = word.replace('-', "_");
        self.active_keytab()
            .iter()
            .find(|(kw, _)| kw.eq_ignore_ascii_case(&folded))
            .map(|(_, tok)| Tok::Kw(tok))
            .unwrap_or(Tok::Ident)
    }

    /// The keyword of `token` in the main table (`get_token_name`), for messages.
    fn token_name(&self, token: &str) -> &'static str {
        self.cfg.keytab().iter().find(|(_, t)| *t == token).map(|(kw, _)| *kw).unwrap_or("")
    }

    fn unget(&mut self) {
        self.pushed = Some((self.tok, std::mem::take(&mut self.tv_s), self.tv_i, self.tv_i64, self.tv_r));
        self.tok = Tok::Unknown;
    }

    fn get(&mut self, exp: Tok) {
        self.get_inner(exp, false)
    }

    /// `CONF_PREFERED_IDENT`: an identifier is wanted, but anything is accepted quietly.
    fn get_prefered_ident(&mut self) {
        self.get_inner(Tok::Ident, true)
    }

    fn get_inner(&mut self, exp: Tok, prefered_ident: bool) {
        if let Some((tok, s, i, i64v, r)) = self.pushed.take() {
            self.tv_s = s;
            self.tv_i = i;
            self.tv_i64 = i64v;
            self.tv_r = r;
            self.tok = match tok {
                Tok::Int64
                | Tok::Int
                | Tok::Real
                | Tok::Str
                | Tok::LBrace
                | Tok::RBrace
                | Tok::Comma
                | Tok::Nl
                | Tok::End
                | Tok::Unknown => tok,
                _ => {
                    if exp == Tok::Ident {
                        Tok::Ident
                    } else {
                        self.lookup_keyword(&self.tv_s.clone())
                    }
                }
            };
        } else {
            self.lex(exp);
        }

        if exp != Tok::Any && self.tok != exp {
            let what = match exp {
                Tok::LBrace => "\"{\"".to_string(),
                Tok::RBrace => "\"}\"".to_string(),
                Tok::Comma => "\",\"".to_string(),
                Tok::Nl => "end of line".to_string(),
                Tok::End => "end of file".to_string(),
                Tok::Int => "an integer".to_string(),
                Tok::Real => "a real number".to_string(),
                Tok::Str => "a quoted string".to_string(),
                Tok::Ident => "an identifier".to_string(),
                _ => "token not".to_string(),
            };
            if !prefered_ident || exp != Tok::Ident {
                self.error(&format!("{what} is expected"));
                self.tok = exp;
                if exp == Tok::Int {
                    self.tv_i = 0;
                } else {
                    self.tv_s.clear();
                }
            }
        }
    }

    fn lex(&mut self, exp: Tok) {
        let mut ch = self.getc();
        while let Some(c) = ch {
            if c != b'\n' && c.is_ascii_whitespace() {
                ch = self.getc();
            } else {
                break;
            }
        }
        if ch == Some(b'#') {
            loop {
                ch = self.getc();
                if ch.is_none() || ch == Some(b'\n') {
                    break;
                }
            }
        }
        match ch {
            Some(c) if c.is_ascii_alphabetic() => {
                let mut buf = Vec::new();
                let mut overflow = false;
                let mut c = Some(c);
                loop {
                    if buf.len() < TOKEN_MAX_BYTES - 1 {
                        buf.push(c.unwrap_or(0));
                    } else if !overflow {
                        overflow = true;
                        let head = String::from_utf8_lossy(&buf[..20]).into_owned();
                        self.error(&format!("token too long: {head}..."));
                    }
                    c = self.getc();
                    match c {
                        Some(x) if x.is_ascii_alphanumeric() || x == b'_' || x == b'-' => {}
                        _ => break,
                    }
                }
                self.ungetc(c);
                self.tv_s = String::from_utf8_lossy(&buf).into_owned();
                self.tok = if overflow {
                    Tok::Unknown
                } else if exp == Tok::Ident {
                    Tok::Ident
                } else {
                    self.lookup_keyword(&self.tv_s.clone())
                };
            }
            Some(c) if c.is_ascii_digit() => self.lex_number(c, 1, exp),
            Some(b'"') => self.lex_string(exp),
            Some(b'-') => {
                let c = self.getc();
                match c {
                    Some(d) if d.is_ascii_digit() => self.lex_number(d, -1, exp),
                    _ => {
                        self.ungetc(c);
                        self.tok = Tok::Unknown;
                    }
                }
            }
            Some(b',') => self.tok = Tok::Comma,
            Some(b'{') => self.tok = Tok::LBrace,
            Some(b'}') => self.tok = Tok::RBrace,
            Some(b'\n') => self.tok = Tok::Nl,
            None => self.tok = Tok::End,
            Some(_) => self.tok = Tok::Unknown,
        }
    }

    fn lex_number(&mut self, first: u8, sign: i64, exp: Tok) {
        let mut v: i64 = 0;
        let mut c = Some(first);
        while let Some(d) = c.filter(u8::is_ascii_digit) {
            v = v.wrapping_mul(10).wrapping_add(i64::from(d - b'0'));
            c = self.getc();
        }
        if c != Some(b'.') {
            if exp == Tok::Int {
                self.tok = Tok::Int;
                self.tv_i = (sign as i32).wrapping_mul(v as i32);
            } else if exp != Tok::Real {
                self.tok = Tok::Int64;
                self.tv_i64 = sign.wrapping_mul(v);
            } else {
                self.tok = Tok::Real;
                self.tv_r = sign as f64 * v as f64;
            }
        } else {
            let mut r = sign as f64 * v as f64;
            let mut frac: i64 = 0;
            let mut d: i64 = 1;
            c = self.getc();
            while let Some(x) = c.filter(u8::is_ascii_digit) {
                frac = frac.wrapping_mul(10).wrapping_add(i64::from(x - b'0'));
                d = d.wrapping_mul(10);
                c = self.getc();
            }
            // Amanda keeps the divisor in an int, which wraps after nine digits.
            let d32 = d as i32;
            if d32 != 0 {
                r += sign as f64 * (frac as f64) / f64::from(d32);
            }
            self.tv_r = r;
            self.tok = Tok::Real;
        }
        self.ungetc(c);
    }

    fn lex_string(&mut self, exp: Tok) {
        let mut buf: Vec<u8> = vec![b'"'];
        let mut overflow = false;
        let mut escape = false;
        loop {
            let c = self.getc();
            let Some(c) = c else { break };
            if c == b'\n' {
                if !escape {
                    self.error("string not terminated");
                    self.ungetc(Some(c));
                    break;
                }
                escape = false;
                buf.pop();
            } else if c == b'\\' && !escape {
                escape = true;
            } else {
                let closing = c == b'"' && !escape;
                escape = false;
                if closing {
                    if buf.len() >= TOKEN_MAX_BYTES - 1 {
                        overflow = true;
                    }
                    buf.push(c);
                    break;
                }
            }
            if buf.len() >= TOKEN_MAX_BYTES - 1 {
                if !overflow {
                    let head = String::from_utf8_lossy(&buf[..20]).into_owned();
                    self.error(&format!("string too long: {head}..."));
                }
                overflow = true;
                break;
            }
            buf.push(c);
        }
        self.tv_s = String::from_utf8_lossy(&unquote(&buf)).into_owned();
        self.tok = if overflow {
            Tok::Unknown
        } else if exp == Tok::Ident {
            Tok::Ident
        } else {
            Tok::Str
        };
    }

    // ----- files -------------------------------------------------------------------

    fn dir_relative(&self, name: &str) -> String {
        match &self.cfg.dir {
            Some(dir) if !name.starts_with('/') => {
                let d = dir.to_string_lossy();
                if d.ends_with('/') {
                    format!("{d}{name}")
                } else {
                    format!("{d}/{name}")
                }
            }
            _ => name.to_string(),
        }
    }

    fn read_conffile(&mut self, name: String) {
        let path = self.dir_relative(&name);
        match std::fs::read(&path) {
            Ok(bytes) => self.read_source(PathBuf::from(path), bytes),
            Err(e) => {
                // Amanda names the missing file with the includer's line number; we name
                // the including file, whose line it is (an improvement).
                self.error(&format!("could not open conf file '{path}': {}", os_error_text(&e)));
            }
        }
    }

    fn read_source(&mut self, path: PathBuf, bytes: Vec<u8>) {
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            self.error(&format!("includefile nested too deeply at '{}'", path.display()));
            return;
        }
        self.include_depth += 1;
        let saved_input = std::mem::replace(&mut self.input, Input { bytes, pos: 0 });
        let saved_file = self.file.replace(path.to_string_lossy().into_owned());
        let saved_line = self.line;
        let saved_pushed = self.pushed.take();
        self.line = 0;
        while self.read_confline() {}
        self.input = saved_input;
        self.file = saved_file;
        self.line = saved_line;
        self.pushed = saved_pushed;
        self.include_depth -= 1;
    }

    fn handle_deprecated_keyword(&mut self) {
        const WARN: [&str; 7] = [
            "LABEL_NEW_TAPES",
            "AMRECOVER_DO_FSF",
            "AMRECOVER_CHECK_LABEL",
            "TAPE_SPLITSIZE",
            "SPLIT_DISKBUFFER",
            "FALLBACK_SPLITSIZE",
            "USETIMESTAMPS",
        ];
        if let Tok::Kw(k) = self.tok {
            if let Some(w) = WARN.iter().find(|w| **w == k) {
                if !self.warned_deprecated.contains(w) {
                    self.warned_deprecated.push(w);
                    let text = self.tv_s.clone();
                    self.warn(&format!("warning: Keyword {text} is deprecated."));
                }
            }
        }
    }

    fn handle_invalid_keyword(&mut self) {
        const GONE: [&str; 3] = ["rawtapedev", "tapebufs", "file-pad"];
        let folded = self.tv_s.replace('_', "-");
        if GONE.iter().any(|g| g.eq_ignore_ascii_case(&folded)) {
            let t = self.tv_s.clone();
            self.error(&format!("error: Keyword {t} is deprecated."));
            return;
        }
        self.error("configuration keyword expected");
        loop {
            let c = self.getc();
            if c.is_none() || c == Some(b'\n') {
                self.ungetc(c);
                return;
            }
        }
    }

    /// Reads one logical line of the file; false at end of file.
    fn read_confline(&mut self) -> bool {
        self.line += 1;
        self.get(Tok::Any);
        self.handle_deprecated_keyword();
        match self.tok {
            Tok::Kw("INCLUDEFILE") => {
                self.get(Tok::Str);
                let name = self.tv_s.clone();
                self.read_conffile(name);
            }
            Tok::Kw("DEFINE") => {
                self.get(Tok::Any);
                let kind = match self.tok {
                    Tok::Kw("APPLICATION_TOOL") | Tok::Kw("APPLICATION") => Some(SectionKind::Application),
                    Tok::Kw("SCRIPT_TOOL") | Tok::Kw("SCRIPT") => Some(SectionKind::Script),
                    _ if self.cfg.client => None,
                    Tok::Kw("DUMPTYPE") => Some(SectionKind::Dumptype),
                    Tok::Kw("TAPETYPE") => Some(SectionKind::Tapetype),
                    Tok::Kw("INTERFACE") => Some(SectionKind::Interface),
                    Tok::Kw("DEVICE") => Some(SectionKind::Device),
                    Tok::Kw("CHANGER") => Some(SectionKind::Changer),
                    Tok::Kw("HOLDING") => Some(SectionKind::Holdingdisk),
                    Tok::Kw("INTERACTIVITY") => Some(SectionKind::Interactivity),
                    Tok::Kw("TAPERSCAN") => Some(SectionKind::Taperscan),
                    Tok::Kw("POLICY") => Some(SectionKind::Policy),
                    Tok::Kw("STORAGE") => Some(SectionKind::Storage),
                    _ => None,
                };
                match kind {
                    Some(SectionKind::Holdingdisk) => self.get_holdingdisk(true),
                    Some(kind) => {
                        self.read_section(kind, None);
                    }
                    None if self.cfg.client => self.error("APPLICATION or SCRIPT expected"),
                    None => self.error("DUMPTYPE, INTERFACE, TAPETYPE, HOLDINGDISK, APPLICATION, SCRIPT, DEVICE, CHANGER, INTERACTIVITY, TAPERSCAN, POLICY or STORAGE expected"),
                }
                self.current_block = None;
                if self.tok == Tok::End {
                    // The block ran to the end of the file (already reported).
                    return false;
                }
            }
            Tok::Nl => {}
            Tok::End => return false,
            Tok::LBrace | Tok::RBrace | Tok::Ident | Tok::Int | Tok::Int64 | Tok::Real | Tok::Str => {
                self.error("error: not a keyword.")
            }
            _ => {
                let tok = self.tok;
                match self.cfg.parsetab().iter().find(|p| Tok::Kw(p.tok) == tok) {
                    None => self.handle_invalid_keyword(),
                    Some(pd) => self.read_global(pd),
                }
            }
        }
        if self.tok != Tok::Nl {
            self.get(Tok::Nl);
        }
        true
    }

    // ----- sections ----------------------------------------------------------------

    fn validate_name(&mut self, kind: SectionKind, name: &str) {
        let tokname = self.token_name(kind.token());
        if name.contains(' ') {
            self.error(&format!("{tokname} must not contains space"));
        }
        if name.contains('"') {
            self.error(&format!("{tokname} must not contains double quotes"));
        }
    }

    /// Reads a `define <kind> NAME { … }` block (or, with `name` given, the body of an
    /// anonymous or disklist block whose `{` was already consumed) and saves it.
    /// Returns the saved section's name.
    fn read_section(&mut self, kind: SectionKind, name: Option<String>) -> Option<String> {
        let saved_block = self.current_block.take();
        let saved_overwrites = self.allow_overwrites;
        self.allow_overwrites = true;
        let read_brace = name.is_none();
        let name = match name {
            Some(n) => n,
            None => {
                self.get(Tok::Ident);
                let n = self.tv_s.clone();
                self.validate_name(kind, &n);
                n
            }
        };
        let block = format!("{} {}", kind.block_word(), name);
        self.current_block = Some(block.clone());
        let saved_dp = if kind == SectionKind::Dumptype {
            Some(std::mem::replace(&mut self.dp_name, name.clone()))
        } else {
            None
        };
        let mut sec = Section {
            name: name.clone(),
            seen: Seen { file: self.file.clone(), line: self.line, block: Some(block) },
            values: self.section_defaults(kind),
        };
        if self.read_block(kind, &mut sec, read_brace) && read_brace {
            self.get(Tok::Nl);
        }
        if kind == SectionKind::Tapetype {
            let bs = sec.get("TAPETYPE_BLOCKSIZE").as_int().unwrap_or(0);
            let rbs = sec.get("TAPETYPE_READBLOCKSIZE").as_int().unwrap_or(0);
            if rbs < bs {
                sec.values.insert("TAPETYPE_READBLOCKSIZE", Val::with_unit(Value::Size(bs), Unit::K));
            }
        }
        let saved_name = self.save_section(kind, sec);
        if let Some(dp) = saved_dp {
            self.dp_name = dp;
        }
        self.allow_overwrites = saved_overwrites;
        self.current_block = saved_block;
        saved_name
    }

    fn save_section(&mut self, kind: SectionKind, sec: Section) -> Option<String> {
        if let Some(prev) = self.cfg.lookup(kind, &sec.name) {
            let msg = if kind == SectionKind::Dumptype && prev.seen.line == -1 {
                format!("dumptype {} is defined by default and cannot be redefined", prev.name)
            } else {
                format!(
                    "{} {} already defined at {}:{}",
                    kind.block_word(),
                    prev.name,
                    prev.seen.file.clone().unwrap_or_else(|| "(null)".into()),
                    prev.seen.line
                )
            };
            let prev_name = prev.name.clone();
            self.error(&msg);
            return Some(prev_name);
        }
        let name = sec.name.clone();
        self.cfg.sections.get_mut(&kind).expect("kind").push(sec);
        Some(name)
    }

    /// Reads a block's lines up to its `}`; false when the file ended first (reported
    /// here, at the line that opened the block).
    fn read_block(&mut self, kind: SectionKind, sec: &mut Section, read_brace: bool) -> bool {
        if read_brace {
            self.get(Tok::LBrace);
            self.get(Tok::Nl);
        }
        loop {
            self.line += 1;
            self.get(Tok::Any);
            self.handle_deprecated_keyword();
            let mut done = false;
            match self.tok {
                Tok::RBrace | Tok::End => done = true,
                Tok::Nl => {}
                Tok::Ident | Tok::Str => self.copy_parent(kind, sec),
                tok => match kind.table().iter().find(|p| Tok::Kw(p.tok) == tok) {
                    None => {
                        let n = tok.number();
                        self.error(&format!("{n} {}", kind.param_expected()));
                    }
                    Some(pd) => {
                        let mut val = sec.values.remove(pd.parm).expect("section slot");
                        self.read_value(pd, &mut val);
                        sec.values.insert(pd.parm, val);
                    }
                },
            }
            if !matches!(self.tok, Tok::Nl | Tok::End | Tok::RBrace) {
                self.get(Tok::Nl);
            }
            if done {
                break;
            }
        }
        let closed = self.tok != Tok::End;
        if !closed {
            // Amanda only says "end of line is expected" past the last line; say which
            // block was left open, and where it began (a deliberate improvement).
            let (line, file) = (self.line, self.file.clone());
            self.line = sec.seen.line;
            self.file = sec.seen.file.clone();
            let word = kind.block_word();
            let name = sec.name.clone();
            self.error(&format!(
                "{word} {name} is not closed: \"}}\" is expected before the end of the file"
            ));
            self.line = line;
            self.file = file;
        }
        self.apply_section_overrides(kind, sec);
        closed
    }

    fn copy_parent(&mut self, kind: SectionKind, sec: &mut Section) {
        let parent_name = self.tv_s.clone();
        let Some(parent) = self.cfg.lookup(kind, &parent_name).cloned() else {
            self.error(kind.unknown_parent());
            return;
        };
        for (parm, pval) in &parent.values {
            if !pval.seen.is_set() {
                continue;
            }
            let dst = sec.values.get_mut(parm).expect("same table");
            self.merge_val(dst, pval);
            if kind == SectionKind::Dumptype && *parm == "DUMPTYPE_SCRIPTLIST" {
                if let Value::IdentList(l) = &mut dst.value {
                    let mut v = std::mem::take(l);
                    v.sort_by_key(|n| self.script_order(n));
                    *l = v;
                }
            }
        }
    }

    fn merge_val(&self, dst: &mut Val, src: &Val) {
        match (&mut dst.value, &src.value) {
            (Value::PropList(d), Value::PropList(s)) => {
                if d.is_empty() {
                    dst.seen =
                        Seen { file: self.file.clone(), line: self.line, block: self.current_block.clone() };
                }
                for (k, p) in s.iter() {
                    let mut existing = d.get(k).cloned();
                    if existing.is_some() && !p.append {
                        d.remove(k);
                        existing = None;
                    }
                    let mut np = existing.unwrap_or_else(|| Property { values: Vec::new(), ..p.clone() });
                    np.values.extend(p.values.iter().cloned());
                    d.insert(k.clone(), np);
                }
            }
            (Value::IdentList(d), Value::IdentList(s)) | (Value::StrList(d), Value::StrList(s)) => {
                d.extend(s.iter().cloned());
            }
            _ => *dst = src.clone(),
        }
    }

    fn script_order(&self, name: &str) -> i64 {
        self.cfg
            .lookup(SectionKind::Script, name)
            .and_then(|s| s.values.get("PP_SCRIPT_ORDER"))
            .and_then(Val::as_int)
            .unwrap_or(0)
    }

    fn get_holdingdisk(&mut self, is_define: bool) {
        let saved_block = self.current_block.take();
        let saved_overwrites = self.allow_overwrites;
        self.allow_overwrites = true;
        self.get(Tok::Ident);
        let mut name = self.tv_s.clone();
        self.validate_name(SectionKind::Holdingdisk, &name);
        let block = format!("holdingdisk {name}");
        self.current_block = Some(block.clone());
        let seen = Seen { file: self.file.clone(), line: self.line, block: Some(block) };
        self.get(Tok::Any);
        if self.tok == Tok::LBrace {
            if self.cfg.lookup(SectionKind::Holdingdisk, &name).is_some() {
                self.error(&format!("holding disk '{name}' already defined"));
            } else {
                self.unget();
                let mut sec = Section {
                    name: name.clone(),
                    seen,
                    values: self.section_defaults(SectionKind::Holdingdisk),
                };
                if self.read_block(SectionKind::Holdingdisk, &mut sec, true) {
                    self.get(Tok::Nl);
                }
                self.cfg.sections.get_mut(&SectionKind::Holdingdisk).expect("kind").push(sec);
                if !is_define {
                    self.push_holdingdisk_ref(name.clone());
                }
            }
        } else {
            self.unget();
            if is_define {
                self.error("holdingdisk definition must specify holdingdisk parameters");
            }
            loop {
                let used = match &self.cfg.global("CNF_HOLDINGDISK").value {
                    Value::IdentList(l) => l.contains(&name),
                    _ => false,
                };
                if used {
                    self.error(&format!("holding disk '{name}' already in use"));
                } else {
                    self.push_holdingdisk_ref(name.clone());
                }
                self.get(Tok::Any);
                if matches!(self.tok, Tok::Ident | Tok::Str) {
                    name = self.tv_s.clone();
                } else {
                    if self.tok != Tok::Nl {
                        self.error("IDENT or NL expected");
                    }
                    break;
                }
            }
        }
        self.allow_overwrites = saved_overwrites;
        self.current_block = saved_block;
    }

    fn push_holdingdisk_ref(&mut self, name: String) {
        self.holding_refs.push((name.clone(), self.file.clone(), self.line));
        if let Some(Val { value: Value::IdentList(l), .. }) = self.cfg.globals.get_mut("CNF_HOLDINGDISK") {
            l.push(name);
        }
    }

    fn apply_section_overrides(&mut self, kind: SectionKind, sec: &mut Section) {
        if self.overrides.is_empty() {
            return;
        }
        let prefix = format!("{}:{}", kind.override_word(), sec.name);
        let saved_line = self.line;
        for i in 0..self.overrides.len() {
            let key = self.overrides[i].key.clone();
            if key.len() < prefix.len() || !key[..prefix.len()].eq_ignore_ascii_case(&prefix) {
                continue;
            }
            if key.len() <= prefix.len() + 1 {
                continue;
            }
            let keyword = &key[prefix.len() + 1..];
            let saved = self.keytab;
            self.keytab = Keytab::Main;
            let tok = self.lookup_keyword(keyword);
            self.keytab = saved;
            let Some(pd) = kind.table().iter().find(|p| Tok::Kw(p.tok) == tok) else {
                continue;
            };
            self.overrides[i].applied = true;
            let value = self.overrides[i].value.clone();
            let mut val = sec.values.remove(pd.parm).expect("section slot");
            self.read_fake_line(pd, &mut val, &value);
            sec.values.insert(pd.parm, val);
        }
        self.line = saved_line;
        self.pushed = None;
    }

    /// Reads a global parameter into its slot. `holdingdisk` lines work on the global
    /// holding-disk list themselves, so that slot stays in place for them.
    fn read_global(&mut self, pd: &ParamDef) {
        if pd.read == Read::Holdingdisk {
            self.get_holdingdisk(false);
            return;
        }
        let mut val = self.cfg.globals.remove(pd.parm).expect("global slot");
        self.read_value(pd, &mut val);
        self.cfg.globals.insert(pd.parm, val);
    }

    /// Reads `value` as if it followed the parameter's keyword (Amanda's "sneaky" fake
    /// line, used for `-o` overrides).
    fn read_fake_line(&mut self, pd: &ParamDef, val: &mut Val, value: &str) {
        self.with_fake_line(value, pd.ty == DeclType::Str, |p| p.read_value(pd, val));
    }

    fn with_fake_line(&mut self, value: &str, quote: bool, f: impl FnOnce(&mut Parser)) {
        let text = if quote { quote_always(value) } else { value.to_string() };
        let saved_input =
            std::mem::replace(&mut self.input, Input { bytes: text.clone().into_bytes(), pos: 0 });
        let saved_pushed = self.pushed.take();
        let saved_overwrites = self.allow_overwrites;
        self.fake_line = Some(text);
        self.line = -2;
        self.allow_overwrites = true;
        f(self);
        self.fake_line = None;
        self.input = saved_input;
        self.pushed = saved_pushed;
        self.allow_overwrites = saved_overwrites;
    }

    fn apply_overrides(&mut self, report: bool) {
        let saved_line = self.line;
        for i in 0..self.overrides.len() {
            let key = self.overrides[i].key.clone();
            let Some((pd, kind, name)) = self.cfg.resolve_key(&key) else {
                continue;
            };
            self.overrides[i].applied = true;
            let value = self.overrides[i].value.clone();
            let saved_diag = self.cfg.diagnostics.len();
            let saved_level = self.cfg.level;
            match kind {
                None => self.with_fake_line(&value, pd.ty == DeclType::Str, |p| p.read_global(pd)),
                Some(kind) => {
                    let Some(sec) = self.cfg.lookup_mut(kind, &name) else {
                        continue;
                    };
                    let mut val = sec.values.remove(pd.parm).expect("section slot");
                    self.read_fake_line(pd, &mut val, &value);
                    if let Some(sec) = self.cfg.lookup_mut(kind, &name) {
                        sec.values.insert(pd.parm, val);
                    }
                }
            }
            if !report {
                self.cfg.diagnostics.truncate(saved_diag);
                self.cfg.level = saved_level;
            }
        }
        self.line = saved_line;
    }

    fn set_active_storage_default(&mut self) {
        if self.cfg.global("CNF_ACTIVE_STORAGE").seen.line <= 0 {
            let storage = self.cfg.global("CNF_STORAGE").clone();
            self.cfg.globals.insert("CNF_ACTIVE_STORAGE", storage);
        }
    }

    // ----- reading values ----------------------------------------------------------

    fn ckseen(&mut self, seen: &mut Seen) {
        if seen.line != 0 && !self.allow_overwrites && self.line != -2 {
            let f = seen.file.clone().unwrap_or_else(|| "(null)".into());
            let l = seen.line;
            self.error(&format!("duplicate parameter; previous definition {f}:{l}"));
        }
        *seen = self.here();
    }

    fn here(&self) -> Seen {
        Seen { file: self.file.clone(), line: self.line, block: self.current_block.clone() }
    }

    fn read_value(&mut self, pd: &ParamDef, val: &mut Val) {
        match pd.read {
            Read::Int => {
                self.ckseen(&mut val.seen);
                let v = self.get_int(val.unit);
                val.value = Value::Int(v);
            }
            Read::Int64 => {
                self.ckseen(&mut val.seen);
                let v = self.get_int64(val.unit);
                val.value = Value::Int64(v);
            }
            Read::Size => {
                self.ckseen(&mut val.seen);
                let v = self.get_size(val.unit);
                val.value = Value::Size(v);
            }
            Read::Real => {
                self.ckseen(&mut val.seen);
                self.get(Tok::Real);
                val.value = Value::Real(self.tv_r);
            }
            Read::Str => {
                self.ckseen(&mut val.seen);
                self.get(Tok::Str);
                val.value = Value::Str(Some(self.tv_s.clone()));
            }
            Read::Ident => {
                self.ckseen(&mut val.seen);
                self.get(Tok::Ident);
                val.value = Value::Ident(Some(self.tv_s.clone()));
            }
            Read::StrList => self.read_str_list(val),
            Read::StorageIdentlist => {
                self.ckseen(&mut val.seen);
                let mut list = Vec::new();
                self.get_prefered_ident();
                while matches!(self.tok, Tok::Str | Tok::Ident) {
                    if self.tv_s.is_empty() {
                        list.clear();
                    } else {
                        list.push(self.tv_s.clone());
                    }
                    self.get_prefered_ident();
                }
                if !matches!(self.tok, Tok::Nl | Tok::End) {
                    self.error("string expected");
                    self.unget();
                }
                val.value = Value::IdentList(list);
            }
            Read::Time => {
                self.ckseen(&mut val.seen);
                val.value = Value::Time(self.get_time());
            }
            Read::Bool => {
                self.ckseen(&mut val.seen);
                let b = self.get_bool();
                val.value = Value::Bool(b != 0);
            }
            Read::NoYesAll => {
                self.ckseen(&mut val.seen);
                val.value = Value::NoYesAll(self.get_no_yes_all());
            }
            Read::Compress => self.read_compress(val),
            Read::Encrypt => {
                self.ckseen(&mut val.seen);
                self.get(Tok::Any);
                val.value = Value::Encrypt(match self.tok {
                    Tok::Kw("NONE") => Encrypt::None,
                    Tok::Kw("CLIENT") => Encrypt::Client,
                    Tok::Kw("SERVER") => Encrypt::Server,
                    _ => {
                        self.error("NONE, CLIENT or SERVER expected");
                        Encrypt::None
                    }
                });
            }
            Read::Holding => {
                self.ckseen(&mut val.seen);
                self.get(Tok::Any);
                val.value = Value::Holding(match self.tok {
                    Tok::Kw("NEVER") => Holding::Never,
                    Tok::Kw("AUTO") => Holding::Auto,
                    Tok::Kw("REQUIRED") => Holding::Required,
                    _ => {
                        self.unget();
                        match self.get_bool() {
                            0 => Holding::Never,
                            1 | 2 => Holding::Auto,
                            _ => {
                                self.error("NEVER, AUTO or REQUIRED expected");
                                // Amanda stores the bad value (3); AUTO is what it acts on.
                                Holding::Auto
                            }
                        }
                    }
                });
            }
            Read::Estimatelist => {
                self.ckseen(&mut val.seen);
                let mut list = Vec::new();
                self.get(Tok::Any);
                loop {
                    match self.tok {
                        Tok::Kw("CLIENT") => list.push(Estimate::Client),
                        Tok::Kw("SERVER") => list.push(Estimate::Server),
                        Tok::Kw("CALCSIZE") => list.push(Estimate::Calcsize),
                        _ => self.error("CLIENT, SERVER or CALCSIZE expected"),
                    }
                    self.get(Tok::Any);
                    // Amanda only stops at a newline; end of file would loop forever there.
                    if matches!(self.tok, Tok::Nl | Tok::End) {
                        break;
                    }
                }
                val.value = Value::EstimateList(list);
            }
            Read::Strategy => {
                self.ckseen(&mut val.seen);
                self.get(Tok::Any);
                val.value = Value::Strategy(match self.tok {
                    Tok::Kw("SKIP") => Strategy::Skip,
                    Tok::Kw("STANDARD") => Strategy::Standard,
                    Tok::Kw("NOFULL") => Strategy::NoFull,
                    Tok::Kw("NOINC") => Strategy::NoInc,
                    Tok::Kw("HANOI") => Strategy::Hanoi,
                    Tok::Kw("INCRONLY") => Strategy::IncrOnly,
                    _ => {
                        self.error("dump strategy expected");
                        Strategy::Standard
                    }
                });
            }
            Read::Taperalgo => {
                self.ckseen(&mut val.seen);
                self.get(Tok::Any);
                let a = match self.tok {
                    Tok::Kw("FIRST") => Some(TaperAlgo::First),
                    Tok::Kw("FIRSTFIT") => Some(TaperAlgo::FirstFit),
                    Tok::Kw("LARGEST") => Some(TaperAlgo::Largest),
                    Tok::Kw("LARGESTFIT") => Some(TaperAlgo::LargestFit),
                    Tok::Kw("SMALLEST") => Some(TaperAlgo::Smallest),
                    Tok::Kw("LAST") => Some(TaperAlgo::Last),
                    _ => None,
                };
                match a {
                    Some(a) => val.value = Value::TaperAlgo(a),
                    None => self.error("FIRST, FIRSTFIT, LARGEST, LARGESTFIT, SMALLEST or LAST expected"),
                }
            }
            Read::SendAmreportOn => {
                self.ckseen(&mut val.seen);
                self.get(Tok::Any);
                let s = match self.tok {
                    Tok::Kw("ALL") => Some(SendAmreport::All),
                    Tok::Kw("STRANGE") => Some(SendAmreport::Strange),
                    Tok::Kw("ERROR") => Some(SendAmreport::Error),
                    Tok::Kw("NEVER") => Some(SendAmreport::Never),
                    _ => None,
                };
                match s {
                    Some(s) => val.value = Value::SendAmreport(s),
                    None => self.error("ALL, STRANGE, ERROR or NEVER expected"),
                }
            }
            Read::DataPath => {
                self.ckseen(&mut val.seen);
                self.get(Tok::Any);
                match self.tok {
                    Tok::Kw("AMANDA") => val.value = Value::DataPath(DataPath::Amanda),
                    Tok::Kw("DIRECTTCP") => val.value = Value::DataPath(DataPath::DirectTcp),
                    _ => self.error("AMANDA or DIRECTTCP expected"),
                }
            }
            Read::Priority => {
                self.ckseen(&mut val.seen);
                self.get(Tok::Any);
                let p = match self.tok {
                    Tok::Kw("LOW") => 0,
                    Tok::Kw("MEDIUM") => 1,
                    Tok::Kw("HIGH") => 2,
                    Tok::Int => self.tv_i,
                    _ => {
                        self.error("LOW, MEDIUM, HIGH or integer expected");
                        0
                    }
                };
                val.value = Value::Priority(p);
            }
            Read::Rate => self.read_rate(val),
            Read::Exinclude => self.read_exinclude(val),
            Read::Intrange => self.read_intrange(val),
            Read::HiddenProperty => self.read_property(val, false),
            Read::VisibleProperty => self.read_property(val, true),
            Read::Dapplication => self.read_dsection(val, SectionKind::Application),
            Read::Dinteractivity => self.read_dsection(val, SectionKind::Interactivity),
            Read::Dtaperscan => self.read_dsection(val, SectionKind::Taperscan),
            Read::Dpolicy => self.read_dsection(val, SectionKind::Policy),
            Read::DppScript => self.read_dpp_script(val),
            Read::ExecuteOn => self.read_execute_on(val),
            Read::ExecuteWhere => {
                self.ckseen(&mut val.seen);
                self.get(Tok::Any);
                match self.tok {
                    Tok::Kw("CLIENT") => val.value = Value::ExecuteWhere(ExecuteWhere::Client),
                    Tok::Kw("SERVER") => val.value = Value::ExecuteWhere(ExecuteWhere::Server),
                    _ => self.error("CLIENT or SERVER expected"),
                }
            }
            Read::IntOrStr => {
                self.ckseen(&mut val.seen);
                self.get(Tok::Any);
                match self.tok {
                    Tok::Int => val.value = Value::Str(Some(self.tv_i.to_string())),
                    Tok::Int64 => val.value = Value::Str(Some(self.tv_i64.to_string())),
                    Tok::Str => val.value = Value::Str(Some(self.tv_s.clone())),
                    _ => self.error("an integer or a quoted string is expected"),
                }
            }
            Read::Autolabel => self.read_autolabel(val),
            Read::Labelstr => self.read_labelstr(val),
            Read::PartCacheType => {
                self.ckseen(&mut val.seen);
                self.get(Tok::Any);
                val.value = Value::PartCacheType(match self.tok {
                    Tok::Kw("NONE") => PartCacheType::None,
                    Tok::Kw("DISK") => PartCacheType::Disk,
                    Tok::Kw("MEMORY") => PartCacheType::Memory,
                    _ => {
                        self.error("NONE, DISK or MEMORY expected");
                        PartCacheType::None
                    }
                });
            }
            Read::HostLimit => self.read_host_limit(val),
            Read::Holdingdisk => self.get_holdingdisk(false),
            Read::DumpSelection => self.read_dump_selection(val),
            Read::VaultList => self.read_vault_list(val),
        }
        if let Some(v) = pd.validate {
            self.validate(v, pd, val);
        }
    }

    fn with_keytab<T>(&mut self, kt: Keytab, f: impl FnOnce(&mut Parser) -> T) -> T {
        let saved = self.keytab;
        self.keytab = kt;
        let r = f(self);
        self.keytab = saved;
        r
    }

    fn get_int(&mut self, unit: Unit) -> i32 {
        self.with_keytab(Keytab::Numb, |p| {
            p.get(Tok::Any);
            let v: i64 = match p.tok {
                Tok::Int => i64::from(p.tv_i),
                Tok::Int64 => {
                    if p.tv_i64 > i64::from(i32::MAX) {
                        p.error("value too large");
                    }
                    if p.tv_i64 < i64::from(i32::MIN) {
                        p.error("value too small");
                    }
                    i64::from(p.tv_i64 as i32)
                }
                Tok::Kw("AMINFINITY") => i64::from(i32::MAX),
                _ => {
                    p.error("an integer is expected");
                    0
                }
            };
            p.get_multiplier(v, unit) as i32
        })
    }

    fn get_int64(&mut self, unit: Unit) -> i64 {
        self.with_keytab(Keytab::Numb, |p| {
            p.get(Tok::Any);
            let v = match p.tok {
                Tok::Int => i64::from(p.tv_i),
                Tok::Int64 => p.tv_i64,
                Tok::Kw("AMINFINITY") => i64::MAX,
                _ => {
                    p.error("an integer is expected");
                    0
                }
            };
            p.get_multiplier(v, unit)
        })
    }

    fn get_size(&mut self, unit: Unit) -> i64 {
        // ssize_t on this platform is 64-bit, so a size reads like an int64.
        self.get_int64(unit)
    }

    fn get_multiplier(&mut self, val: i64, unit: Unit) -> i64 {
        self.get(Tok::Any);
        let k = unit == Unit::K;
        let checked = |p: &mut Parser, factor: i64| -> i64 {
            if val > i64::MAX / factor || val < i64::MIN / factor {
                p.error("value too large");
            }
            val.wrapping_mul(factor)
        };
        match self.tok {
            Tok::Nl | Tok::End => val,
            Tok::Kw("MULT1") if k => val / 1024,
            Tok::Kw("MULT1") => val,
            Tok::Kw("MULT1K") if k => val,
            Tok::Kw("MULT7") => checked(self, 7),
            Tok::Kw("MULT1K") => checked(self, 1024),
            Tok::Kw("MULT1M") if k => checked(self, 1024),
            Tok::Kw("MULT1M") => checked(self, 1024 * 1024),
            Tok::Kw("MULT1G") if k => checked(self, 1024 * 1024),
            Tok::Kw("MULT1G") => checked(self, 1024 * 1024 * 1024),
            Tok::Kw("MULT1T") if k => checked(self, 1024 * 1024 * 1024),
            Tok::Kw("MULT1T") => checked(self, 1024 * 1024 * 1024 * 1024),
            _ => {
                self.unget();
                val
            }
        }
    }

    fn get_time(&mut self) -> i64 {
        self.get(Tok::Any);
        match self.tok {
            Tok::Int => i64::from(self.tv_i),
            Tok::Int64 => self.tv_i64,
            Tok::Kw("AMINFINITY") => i64::MAX,
            _ => {
                self.error("a time is expected");
                0
            }
        }
    }

    /// 0 = false, 1 = true, 2 = no argument (true), 3 = bad argument (true, error).
    fn get_bool(&mut self) -> i32 {
        self.with_keytab(Keytab::Bool, |p| {
            p.get(Tok::Any);
            match p.tok {
                Tok::Int => i32::from(p.tv_i != 0),
                Tok::Int64 => i32::from(p.tv_i64 != 0),
                Tok::Kw("ATRUE") => 1,
                Tok::Kw("AFALSE") => 0,
                Tok::Nl => {
                    p.unget();
                    2
                }
                _ => {
                    p.unget();
                    p.error("YES, NO, TRUE, FALSE, ON, OFF, 0, 1 expected");
                    3
                }
            }
        })
    }

    fn get_no_yes_all(&mut self) -> i32 {
        self.with_keytab(Keytab::NoYesAll, |p| {
            p.get(Tok::Any);
            let v: i64 = match p.tok {
                Tok::Int => i64::from(p.tv_i),
                Tok::Int64 => p.tv_i64,
                Tok::Kw("ALL") => 2,
                Tok::Kw("ATRUE") => 1,
                Tok::Kw("AFALSE") => 0,
                Tok::Nl => {
                    p.unget();
                    3
                }
                _ => {
                    p.unget();
                    // Amanda prints the token number after the push-back, which has
                    // reset it to UNKNOWN (0).
                    let n = p.tok.number();
                    p.error(&format!("{n}: YES, NO, ALL, TRUE, FALSE, ON, OFF, 0, 1, 2 expected"));
                    3
                }
            };
            let v = v as i32;
            if !(0..=2).contains(&v) {
                1
            } else {
                v
            }
        })
    }

    fn read_str_list(&mut self, val: &mut Val) {
        self.ckseen(&mut val.seen);
        self.get(Tok::Any);
        let mut list = match std::mem::replace(&mut val.value, Value::StrList(Vec::new())) {
            Value::StrList(l) => l,
            _ => Vec::new(),
        };
        if self.tok == Tok::Kw("APPEND") {
            self.get(Tok::Any);
        } else {
            list.clear();
            self.ckseen(&mut val.seen);
        }
        while self.tok == Tok::Str {
            list.push(self.tv_s.clone());
            self.get(Tok::Any);
        }
        if !matches!(self.tok, Tok::Nl | Tok::End) {
            self.error("string expected");
            self.unget();
        }
        val.value = Value::StrList(list);
    }

    fn read_compress(&mut self, val: &mut Val) {
        self.ckseen(&mut val.seen);
        let (mut serv, mut clie, mut none, mut fast, mut best, mut custom) =
            (false, false, false, false, false, false);
        loop {
            self.get(Tok::Any);
            match self.tok {
                Tok::Kw("NONE") => none = true,
                Tok::Kw("FAST") => fast = true,
                Tok::Kw("BEST") => best = true,
                Tok::Kw("CLIENT") => clie = true,
                Tok::Kw("SERVER") => serv = true,
                Tok::Kw("CUSTOM") => custom = true,
                Tok::Nl | Tok::End => break,
                _ => {
                    serv = true;
                    clie = true;
                    break;
                }
            }
        }
        if !serv && !clie {
            clie = true;
        }
        if !none && !fast && !best && !custom {
            fast = true;
        }
        let one = |a: bool, b: bool, c: bool, d: bool| a && !b && !c && !d;
        let comp = if !serv && clie {
            if one(none, fast, best, custom) {
                Some(Compress::None)
            } else if one(fast, none, best, custom) {
                Some(Compress::Fast)
            } else if one(best, none, fast, custom) {
                Some(Compress::Best)
            } else if one(custom, none, fast, best) {
                Some(Compress::Custom)
            } else {
                None
            }
        } else if serv && !clie {
            if one(none, fast, best, custom) {
                Some(Compress::None)
            } else if one(fast, none, best, custom) {
                Some(Compress::ServerFast)
            } else if one(best, none, fast, custom) {
                Some(Compress::ServerBest)
            } else if one(custom, none, fast, best) {
                Some(Compress::ServerCustom)
            } else {
                None
            }
        } else {
            None
        };
        val.value = Value::Compress(comp.unwrap_or_else(|| {
            self.error("NONE, CLIENT FAST, CLIENT BEST, CLIENT CUSTOM, SERVER FAST, SERVER BEST or SERVER CUSTOM expected");
            Compress::None
        }));
    }

    fn read_rate(&mut self, val: &mut Val) {
        self.get(Tok::Real);
        let first = self.tv_r as f32;
        let mut second = first;
        // Amanda copies the token's never-set "seen" here, so a comprate counts as unset
        // (and is not inherited by child dumptypes); kept for compatibility.
        val.seen = Seen::default();
        if self.tv_r < 0.0 {
            self.error("full compression rate must be >= 0");
        }
        self.get(Tok::Any);
        match self.tok {
            Tok::Nl | Tok::End => {
                val.value = Value::Rate(first, second);
                return;
            }
            Tok::Comma => {}
            _ => self.unget(),
        }
        self.get(Tok::Real);
        second = self.tv_r as f32;
        if self.tv_r < 0.0 {
            self.error("incremental compression rate must be >= 0");
        }
        val.value = Value::Rate(first, second);
    }

    fn read_exinclude(&mut self, val: &mut Val) {
        let mut ex = match std::mem::replace(&mut val.value, Value::Int(0)) {
            Value::ExInclude(e) => e,
            _ => ExInclude::default(),
        };
        self.get(Tok::Any);
        let file = if self.tok == Tok::Kw("LIST") {
            self.get(Tok::Any);
            false
        } else {
            if self.tok == Tok::Kw("EFILE") {
                self.get(Tok::Any);
            }
            true
        };
        self.ckseen(&mut val.seen);
        let mut optional = false;
        if self.tok == Tok::Kw("OPTIONAL") {
            self.get(Tok::Any);
            optional = true;
        }
        let mut list = if file { std::mem::take(&mut ex.file) } else { std::mem::take(&mut ex.list) };
        if self.tok == Tok::Kw("APPEND") {
            self.get(Tok::Any);
        } else {
            list.clear();
        }
        let mut got_one = false;
        while self.tok == Tok::Str {
            list.push(self.tv_s.clone());
            got_one = true;
            self.get(Tok::Any);
        }
        self.unget();
        if !got_one {
            list.clear();
        }
        if file {
            ex.file = list;
        } else {
            ex.list = list;
        }
        ex.optional = optional;
        val.value = Value::ExInclude(ex);
    }

    fn read_intrange(&mut self, val: &mut Val) {
        self.get(Tok::Int);
        let a = self.tv_i;
        // As for comprate: Amanda leaves a port range marked unset.
        val.seen = Seen::default();
        self.get(Tok::Any);
        match self.tok {
            Tok::Nl | Tok::End => {
                val.value = Value::IntRange(a, a);
                return;
            }
            Tok::Comma => {}
            _ => self.unget(),
        }
        self.get(Tok::Int);
        val.value = Value::IntRange(a, self.tv_i);
    }

    fn read_property(&mut self, val: &mut Val, visible: bool) {
        let mut prop =
            Property { append: false, visible, priority: false, values: Vec::new(), seen: Seen::default() };
        self.get(Tok::Any);
        if self.tok == Tok::Kw("PRIORITY") {
            prop.priority = true;
            self.get(Tok::Any);
        }
        if self.tok == Tok::Kw("APPEND") {
            prop.append = true;
            self.get(Tok::Any);
        }
        if self.tok == Tok::Kw("HIDDEN") {
            prop.visible = false;
            self.get(Tok::Any);
        } else if self.tok == Tok::Kw("VISIBLE") {
            prop.visible = true;
            self.get(Tok::Any);
        }
        if self.tok != Tok::Str {
            self.error("key expected");
            return;
        }
        let key = amandaify_property_name(&self.tv_s);
        let Value::PropList(mut pl) = std::mem::replace(&mut val.value, Value::Int(0)) else {
            unreachable!("property slot holds a property list")
        };
        self.get(Tok::Any);
        if matches!(self.tok, Tok::Nl | Tok::End) {
            pl.remove(&key);
            self.unget();
            val.value = Value::PropList(pl);
            return;
        }
        if self.tok != Tok::Str {
            self.error("value expected");
            val.value = Value::PropList(pl);
            return;
        }
        if val.seen.line == 0 {
            self.ckseen(&mut val.seen);
        }
        let mut set_seen = true;
        if prop.append {
            if let Some(old) = pl.get(&key) {
                if old.priority {
                    prop.priority = true;
                }
                prop.values = old.values.clone();
                prop.seen = old.seen.clone();
                set_seen = false;
            }
        }
        while self.tok == Tok::Str {
            prop.values.push(self.tv_s.clone());
            self.get(Tok::Any);
        }
        self.unget();
        if set_seen {
            prop.seen = Seen::default();
            self.ckseen(&mut prop.seen);
        }
        pl.insert(key, prop);
        val.value = Value::PropList(pl);
    }

    fn next_anonymous(&mut self) -> u32 {
        self.anonymous_count += 1;
        self.anonymous_count
    }

    /// `application`, `interactivity`, `taperscan`, `policy` references: a name, `""`
    /// (none), or an anonymous `{ … }` block.
    fn read_dsection(&mut self, val: &mut Val, kind: SectionKind) {
        val.value = match val.value {
            Value::Application(_) => Value::Application(None),
            _ => Value::Str(None),
        };
        let set = |v: &mut Val, s: String| match v.value {
            Value::Application(_) => v.value = Value::Application(Some(s)),
            _ => v.value = Value::Str(Some(s)),
        };
        self.get(Tok::Any);
        if self.tok == Tok::LBrace {
            self.line -= 1;
            let n = self.next_anonymous();
            let prefix = match kind {
                SectionKind::Application => format!("custom(DUMPTYPE:{})", self.dp_name),
                SectionKind::Interactivity => "custom(iv)".to_string(),
                SectionKind::Taperscan => "custom(ts)".to_string(),
                _ => "custom(po)".to_string(),
            };
            let name = format!("{prefix}.{n}").replace('/', "_");
            let got = self.read_section(kind, Some(name));
            self.line -= 1;
            if let Some(n) = got {
                set(val, n);
            }
        } else if self.tok == Tok::Str {
            let name = self.tv_s.clone();
            if !name.is_empty() {
                match self.cfg.lookup(kind, &name) {
                    None => {
                        let word = kind.block_word();
                        self.error(&format!("Unknown {word} named: {name}"));
                        return;
                    }
                    Some(s) => {
                        let n = s.name.clone();
                        set(val, n);
                    }
                }
            }
        } else {
            let (a, b) = (self.tok.number(), Tok::Str.number());
            let word = kind.block_word();
            self.error(&format!("{word} name expected: {a} {b}"));
            return;
        }
        self.ckseen(&mut val.seen);
    }

    fn read_dpp_script(&mut self, val: &mut Val) {
        let mut list = match std::mem::replace(&mut val.value, Value::IdentList(Vec::new())) {
            Value::IdentList(l) => l,
            _ => Vec::new(),
        };
        self.get(Tok::Any);
        if self.tok == Tok::LBrace {
            self.line -= 1;
            let n = self.next_anonymous();
            let name = format!("custom(DUMPTYPE:{}).{n}", self.dp_name).replace('/', "_");
            let got = self.read_section(SectionKind::Script, Some(name));
            self.line -= 1;
            if let Some(n) = got {
                self.insert_sorted_script(&mut list, n);
            }
        } else if matches!(self.tok, Tok::Str | Tok::Ident) {
            while matches!(self.tok, Tok::Str | Tok::Ident) {
                let name = self.tv_s.clone();
                if name.is_empty() {
                    list.clear();
                } else {
                    match self.cfg.lookup(SectionKind::Script, &name).map(|s| s.name.clone()) {
                        None => {
                            self.error(&format!("Unknown pp_script named: {name}"));
                            val.value = Value::IdentList(list);
                            return;
                        }
                        Some(n) => self.insert_sorted_script(&mut list, n),
                    }
                }
                self.get(Tok::Any);
            }
            self.unget();
        } else {
            let (a, b) = (self.tok.number(), Tok::Str.number());
            self.error(&format!("pp_script name expected: {a} {b}"));
            val.value = Value::IdentList(list);
            return;
        }
        val.value = Value::IdentList(list);
        self.ckseen(&mut val.seen);
    }

    fn insert_sorted_script(&self, list: &mut Vec<String>, name: String) {
        let order = self.script_order(&name);
        let pos = list.iter().position(|n| self.script_order(n) > order).unwrap_or(list.len());
        list.insert(pos, name);
    }

    fn read_execute_on(&mut self, val: &mut Val) {
        self.ckseen(&mut val.seen);
        self.get(Tok::Any);
        let mut flags = 0u32;
        loop {
            let bit = match self.tok {
                Tok::Kw(k) => {
                    EXECUTE_ON_NAMES.iter().find(|(n, _)| n.replace('-', "_") == k).map(|(_, b)| *b)
                }
                _ => None,
            };
            match bit {
                Some(b) => flags |= 1 << b,
                None => self.error("Execute-on expected"),
            }
            self.get(Tok::Any);
            if self.tok != Tok::Comma {
                self.unget();
                break;
            }
            self.get(Tok::Any);
        }
        val.value = Value::ExecuteOn(flags);
    }

    fn read_autolabel(&mut self, val: &mut Val) {
        use autolabel_flags::*;
        self.ckseen(&mut val.seen);
        let mut al = match std::mem::replace(&mut val.value, Value::Int(0)) {
            Value::AutoLabel(a) => a,
            _ => AutoLabel::default(),
        };
        let mut data = 0;
        self.get(Tok::Any);
        if self.tok == Tok::Str {
            data += 1;
            al.template = Some(self.tv_s.clone());
            self.get(Tok::Any);
        }
        al.flags = 0;
        while !matches!(self.tok, Tok::Nl | Tok::End) {
            data += 1;
            match self.tok {
                Tok::Kw("ANY_VOLUME") => al.flags |= OTHER_CONFIG | NON_AMANDA | VOLUME_ERROR | EMPTY,
                Tok::Kw("OTHER_CONFIG") => al.flags |= OTHER_CONFIG,
                Tok::Kw("NON_AMANDA") => al.flags |= NON_AMANDA,
                Tok::Kw("VOLUME_ERROR") => al.flags |= VOLUME_ERROR,
                Tok::Kw("EMPTY") => al.flags |= EMPTY,
                _ => {
                    self.error("ANY, NEW-VOLUME, OTHER-CONFIG, NON-AMANDA, VOLUME-ERROR or EMPTY is expected")
                }
            }
            self.get(Tok::Any);
        }
        if data == 0 {
            al.template = None;
            al.flags = 0;
        } else if al.flags == 0 {
            al.flags = VOLUME_ERROR | EMPTY;
        }
        val.value = Value::AutoLabel(al);
    }

    fn read_labelstr(&mut self, val: &mut Val) {
        self.ckseen(&mut val.seen);
        self.get(Tok::Any);
        if self.tok == Tok::Str {
            let t = self.tv_s.clone();
            self.get(Tok::Any);
            if t.eq_ignore_ascii_case("match-autolabel") || t.eq_ignore_ascii_case("match_autolabel") {
                self.warn(&format!("warning: labelstr is set to \"{t}\", you probably want the {t} keyword, without the double quote"));
            }
            val.value = Value::LabelStr(LabelStr { template: Some(t), match_autolabel: false });
        } else if self.tok == Tok::Kw("MATCH_AUTOLABEL") {
            val.value = Value::LabelStr(LabelStr { template: None, match_autolabel: true });
        } else {
            self.error("labelstr template or MATCH_AUTOLABEL expected");
        }
    }

    fn read_host_limit(&mut self, val: &mut Val) {
        self.ckseen(&mut val.seen);
        let mut hl = HostLimit::default();
        loop {
            self.get(Tok::Any);
            match self.tok {
                Tok::Str => hl.match_pats.push(self.tv_s.clone()),
                Tok::Kw("SAME_HOST") => hl.same_host = true,
                Tok::Kw("SERVER") => hl.server = true,
                Tok::Nl | Tok::End => break,
                _ => self.error("SAME-HOST or a string expected"),
            }
        }
        val.value = Value::HostLimit(hl);
    }

    fn read_dump_selection(&mut self, val: &mut Val) {
        self.ckseen(&mut val.seen);
        let mut list = match std::mem::replace(&mut val.value, Value::DumpSelection(Vec::new())) {
            Value::DumpSelection(l) => l,
            _ => Vec::new(),
        };
        self.get(Tok::Any);
        let tag = match self.tok {
            Tok::Str => TagSel::Name(self.tv_s.clone()),
            Tok::Kw("ALL") => TagSel::All,
            Tok::Kw("OTHER") => TagSel::Other,
            Tok::Nl | Tok::End => {
                self.ckseen(&mut val.seen);
                return;
            }
            _ => {
                self.error("string, ALL or OTHER expected");
                TagSel::All
            }
        };
        self.get(Tok::Any);
        let level = match self.tok {
            Tok::Kw("ALL") => LevelSel::All,
            Tok::Kw("FULL") => LevelSel::Full,
            Tok::Kw("INCR") => LevelSel::Incr,
            _ => {
                self.error("ALL, FULL or INCR expected");
                LevelSel::All
            }
        };
        self.get(Tok::Any);
        if !matches!(self.tok, Tok::Nl | Tok::End) {
            self.error("string expected");
            self.unget();
        }
        let mut found = false;
        for d in list.iter_mut() {
            let same = match (&d.tag, &tag) {
                (TagSel::Name(a), TagSel::Name(b)) => a == b,
                (TagSel::All, TagSel::All) | (TagSel::Other, TagSel::Other) => true,
                _ => false,
            };
            if same {
                d.level = level;
                found = true;
            }
        }
        if !found {
            let empty_name = matches!(&tag, TagSel::Name(n) if n.is_empty());
            list.push(DumpSelection { tag, level });
            if empty_name {
                list.clear();
            }
        }
        val.value = Value::DumpSelection(list);
    }

    fn read_vault_list(&mut self, val: &mut Val) {
        self.ckseen(&mut val.seen);
        let mut list = match std::mem::replace(&mut val.value, Value::VaultList(Vec::new())) {
            Value::VaultList(l) => l,
            _ => Vec::new(),
        };
        let mut n = 0;
        self.get(Tok::Any);
        while matches!(self.tok, Tok::Str | Tok::Ident) {
            let storage = self.tv_s.clone();
            let days = self.get_int(Unit::None);
            n += 1;
            match list.iter_mut().find(|v| v.storage == storage) {
                Some(v) => v.days = days,
                None => list.push(Vault { storage, days }),
            }
            if !matches!(self.tok, Tok::Nl | Tok::End) {
                self.get(Tok::Any);
            }
        }
        if n == 0 {
            list.clear();
        }
        val.value = Value::VaultList(list);
    }

    // ----- checks ------------------------------------------------------------------

    fn validate(&mut self, v: Validate, pd: &ParamDef, val: &mut Val) {
        let name = self.token_name(pd.tok);
        match v {
            Validate::Nonnegative => {
                if matches!(val.value, Value::Int(_) | Value::Int64(_)) && val.as_int().unwrap_or(0) < 0 {
                    self.error(&format!("{name} must be nonnegative"));
                }
            }
            Validate::NonZero => {
                if val.as_int() == Some(0) {
                    self.error(&format!("{name} must not be 0"));
                }
            }
            Validate::Positive => {
                if val.as_int().is_some_and(|i| i < 1) {
                    self.error(&format!("{name} must be positive"));
                }
            }
            Validate::Runspercycle => {
                if val.as_int().unwrap_or(0) < -1 {
                    self.error("runspercycle must be >= -1");
                }
            }
            Validate::Bumppercent => {
                let i = val.as_int().unwrap_or(0);
                if !(0..=100).contains(&i) {
                    self.error("bumppercent must be between 0 and 100");
                }
            }
            Validate::Bumpmult => {
                if let Value::Real(r) = val.value {
                    if r < 0.999 {
                        self.error("bumpmult must one or more");
                    }
                }
            }
            Validate::Displayunit => {
                let s = val.as_str().unwrap_or("").to_string();
                match s.as_str() {
                    "K" | "M" | "G" | "T" => {}
                    "k" | "m" | "g" | "t" => val.value = Value::Str(Some(s.to_ascii_uppercase())),
                    _ => self.error("displayunit must be k,m,g or t."),
                }
            }
            Validate::Reserve => {
                let i = val.as_int().unwrap_or(0);
                if !(0..=100).contains(&i) {
                    self.error("reserve must be between 0 and 100");
                }
            }
            Validate::Use => {
                if let Value::Int64(i) = val.value {
                    val.value = Value::Int64(am_floor(i, DISK_BLOCK_KB));
                }
            }
            Validate::Chunksize => {
                if let Value::Int64(mut i) = val.value {
                    if i == 0 {
                        i = i64::MAX / 1024 - 2 * DISK_BLOCK_KB;
                    } else if i < 0 {
                        self.error(&format!("Negative chunksize ({i}) is no longer supported"));
                    }
                    i = am_floor(i, DISK_BLOCK_KB);
                    if i < 2 * DISK_BLOCK_KB {
                        self.error(&format!("chunksize must be at least {}kb", 2 * DISK_BLOCK_KB));
                    }
                    val.value = Value::Int64(i);
                }
            }
            Validate::Blocksize => {
                if val.as_int().unwrap_or(0) < DISK_BLOCK_KB {
                    self.error(&format!("Tape blocksize must be at least {DISK_BLOCK_KB} KBytes"));
                }
            }
            Validate::Debug => {
                let i = val.as_int().unwrap_or(0);
                if !(0..=9).contains(&i) {
                    self.error("Debug must be between 0 and 9");
                }
            }
            Validate::ReservedPortRange => self.validate_port_range(val, 1, 1023),
            Validate::UnreservedPortRange => self.validate_port_range(val, 1024, 65535),
            Validate::NoSpaceDquote => {
                let (s, what) = match &val.value {
                    Value::Str(s) => (s.clone(), ""),
                    Value::AutoLabel(a) => (a.template.clone(), " template"),
                    Value::LabelStr(l) => (l.template.clone(), " template"),
                    _ => (None, ""),
                };
                if let Some(s) = s {
                    let space = s.contains(' ');
                    let dquote = s.contains('"');
                    let labelstr = matches!(val.value, Value::LabelStr(_));
                    let space_msg = format!("{name}{what} must not contains space");
                    let dq_msg = format!("{name}{what} must not contains double quotes");
                    if labelstr {
                        if dquote {
                            self.error(&dq_msg);
                        }
                        if space {
                            self.error(&space_msg);
                        }
                    } else {
                        if space {
                            self.error(&space_msg);
                        }
                        if dquote {
                            self.error(&dq_msg);
                        }
                    }
                }
            }
            Validate::Columnspec => {
                let s = val.as_str().unwrap_or("").to_string();
                for el in s.split(',') {
                    self.validate_one_columnspec(el);
                }
            }
            Validate::Tmpdir => {
                let dir = val.as_str().unwrap_or("").to_string();
                match std::fs::metadata(&dir) {
                    Err(e) => {
                        self.error(&format!("invalid TMPDIR: directory '{dir}': {}.", os_error_text(&e)))
                    }
                    Ok(m) if !m.is_dir() => {
                        self.error(&format!("invalid TMPDIR: '{dir}' is not a directory."))
                    }
                    Ok(_) => {
                        if let Err(e) = nix_access_rw(&dir) {
                            self.error(&format!("invalid TMPDIR: '{dir}': can not read/write: {e}."));
                        }
                    }
                }
            }
            Validate::DeprecatedChangerfile => {
                self.warn("warning: Global changerfile is deprecated, it must be set in the changer section")
            }
            Validate::Program => {
                let s = val.as_str().unwrap_or("");
                if !matches!(s, "DUMP" | "GNUTAR" | "STAR" | "APPLICATION") {
                    self.error("program must be \"DUMP\", \"GNUTAR\", \"STAR\" or \"APPLICATION\"");
                }
            }
            Validate::DumpLimit => {
                if let Value::HostLimit(h) = &val.value {
                    if !h.match_pats.is_empty() {
                        self.error("dump-limit can't specify hostname");
                    }
                }
            }
        }
    }

    fn validate_port_range(&mut self, val: &Val, smallest: i32, largest: i32) {
        if let Value::IntRange(a, b) = val.value {
            // Amanda checks the low end twice and never the high end; so do we.
            for _ in 0..2 {
                if a < smallest || a > largest {
                    self.error(&format!("portrange must be in the range {smallest} to {largest}, inclusive"));
                }
            }
            if a > b {
                self.error("portranges must be in order from low to high");
            }
        }
    }

    fn validate_one_columnspec(&mut self, element: &str) {
        const NAMES: [&str; 10] = [
            "hostname", "disk", "level", "origkb", "outkb", "compress", "dumptime", "dumprate", "tapetime",
            "taperate",
        ];
        let Some((name, nums)) = element.split_once('=') else {
            self.error(&format!("invalid columnspec: {element}"));
            return;
        };
        if !NAMES.contains(&name.to_ascii_lowercase().as_str()) {
            self.error(&format!("invalid column name: '{name}'"));
            return;
        }
        for (i, part) in nums.splitn(3, ':').enumerate() {
            let digits = if i == 1 { part.strip_prefix('-').unwrap_or(part) } else { part };
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                self.error(&format!("invalid format: {nums}"));
                return;
            }
        }
    }

    // ----- defaults ----------------------------------------------------------------

    fn init_defaults(&mut self) {
        use build::*;
        let g = &mut self.cfg.globals;
        let s = |v: &str| Val::str(v);
        let none = || Val::new(Value::Str(None));
        let i = Val::int;
        g.insert("CNF_ORG", s(DEFAULT_CONFIG));
        g.insert("CNF_CONF", s(DEFAULT_CONFIG));
        g.insert("CNF_AMDUMP_SERVER", s(DEFAULT_SERVER));
        g.insert("CNF_INDEX_SERVER", s(DEFAULT_SERVER));
        g.insert("CNF_TAPE_SERVER", s(DEFAULT_TAPE_SERVER));
        g.insert("CNF_AUTH", s("bsdtcp"));
        g.insert("CNF_SSH_KEYS", s(""));
        g.insert("CNF_AMANDAD_PATH", s(""));
        g.insert("CNF_CLIENT_USERNAME", s(""));
        g.insert("CNF_CLIENT_PORT", s(""));
        g.insert("CNF_SSL_DIR", s(&format!("{CONFIG_DIR}/ssl")));
        g.insert("CNF_SSL_CHECK_FINGERPRINT", Val::bool(true));
        g.insert("CNF_SSL_FINGERPRINT_FILE", s(""));
        g.insert("CNF_SSL_CERT_FILE", s(""));
        g.insert("CNF_SSL_KEY_FILE", s(""));
        g.insert("CNF_SSL_CA_CERT_FILE", s(""));
        g.insert("CNF_SSL_CIPHER_LIST", s(""));
        g.insert("CNF_SSL_CHECK_HOST", Val::bool(true));
        g.insert("CNF_SSL_CHECK_CERTIFICATE_HOST", Val::bool(true));
        g.insert("CNF_GNUTAR_LIST_DIR", s(GNUTAR_LISTED_INCREMENTAL_DIR));
        g.insert("CNF_AMANDATES", s(DEFAULT_AMANDATES_FILE));
        g.insert("CNF_MAILTO", s(""));
        g.insert("CNF_DUMPUSER", s(CLIENT_LOGIN));
        g.insert("CNF_TAPEDEV", Val::new(Value::Str(DEFAULT_TAPE_DEVICE.map(str::to_string))));
        g.insert("CNF_DEVICE_PROPERTY", Val::new(Value::PropList(PropList::default())));
        g.insert("CNF_PROPERTY", Val::new(Value::PropList(PropList::default())));
        g.insert("CNF_CHANGERDEV", none());
        g.insert("CNF_CHANGERFILE", s("changer"));
        g.insert("CNF_TAPELIST", s("tapelist"));
        g.insert("CNF_DISKFILE", s("disklist"));
        g.insert("CNF_INFOFILE", s("/usr/adm/amanda/curinfo"));
        g.insert("CNF_LOGDIR", s("/usr/adm/amanda"));
        g.insert("CNF_INDEXDIR", s("/usr/adm/amanda/index"));
        g.insert("CNF_TAPETYPE", Val::new(Value::Ident(Some("DEFAULT_TAPE".into()))));
        g.insert("CNF_HOLDINGDISK", Val::new(Value::IdentList(Vec::new())));
        g.insert("CNF_DUMPCYCLE", i(10));
        g.insert("CNF_RUNSPERCYCLE", i(0));
        g.insert("CNF_TAPECYCLE", i(15));
        g.insert("CNF_NETUSAGE", Val::int_k(80000));
        g.insert("CNF_INPARALLEL", i(10));
        g.insert("CNF_DUMPORDER", s("ttt"));
        g.insert("CNF_BUMPPERCENT", i(0));
        g.insert("CNF_BUMPSIZE", Val::int64_k(10 * 1024));
        g.insert("CNF_BUMPMULT", Val::new(Value::Real(1.5)));
        g.insert("CNF_BUMPDAYS", i(2));
        g.insert("CNF_TPCHANGER", s(""));
        g.insert("CNF_RUNTAPES", i(1));
        g.insert("CNF_MAXDUMPS", i(1));
        g.insert("CNF_MAX_DLE_BY_VOLUME", i(1_000_000_000));
        g.insert("CNF_ETIMEOUT", i(300));
        g.insert("CNF_DTIMEOUT", i(1800));
        g.insert("CNF_CTIMEOUT", i(30));
        g.insert("CNF_DEVICE_OUTPUT_BUFFER_SIZE", Val::new(Value::Size(40 * 32768)));
        g.insert("CNF_PRINTER", s(""));
        g.insert("CNF_MAILER", s(DEFAULT_MAILER));
        g.insert("CNF_AUTOFLUSH", Val::new(Value::NoYesAll(0)));
        g.insert("CNF_RESERVE", i(100));
        g.insert("CNF_MAXDUMPSIZE", Val::int64_k(-1));
        g.insert("CNF_COLUMNSPEC", s(""));
        g.insert("CNF_AMRECOVER_DO_FSF", Val::bool(true));
        g.insert("CNF_AMRECOVER_CHANGER", s(""));
        g.insert("CNF_AMRECOVER_CHECK_LABEL", Val::bool(true));
        g.insert("CNF_TAPERALGO", Val::new(Value::TaperAlgo(TaperAlgo::First)));
        g.insert("CNF_TAPER_PARALLEL_WRITE", i(1));
        g.insert("CNF_FLUSH_THRESHOLD_DUMPED", i(0));
        g.insert("CNF_FLUSH_THRESHOLD_SCHEDULED", i(0));
        g.insert("CNF_TAPERFLUSH", i(0));
        g.insert("CNF_DISPLAYUNIT", s("K"));
        g.insert("CNF_KRB5KEYTAB", s("/.amanda-v5-keytab"));
        g.insert("CNF_KRB5PRINCIPAL", s("service/amanda"));
        g.insert("CNF_LABEL_NEW_TAPES", s(""));
        g.insert("CNF_EJECT_VOLUME", Val::bool(false));
        g.insert("CNF_REPORT_USE_MEDIA", Val::bool(true));
        g.insert("CNF_REPORT_NEXT_MEDIA", Val::bool(true));
        g.insert("CNF_REPORT_FORMAT", Val::new(Value::StrList(Vec::new())));
        g.insert("CNF_COMPRESS_INDEX", Val::bool(true));
        g.insert("CNF_SORT_INDEX", Val::bool(false));
        g.insert("CNF_TMPDIR", s(AMANDA_TMPDIR));
        g.insert("CNF_ACTIVE_STORAGE", Val::new(Value::IdentList(Vec::new())));
        g.insert("CNF_STORAGE", Val::new(Value::IdentList(Vec::new())));
        g.insert("CNF_VAULT_STORAGE", Val::new(Value::IdentList(Vec::new())));
        g.insert("CNF_CMDFILE", s("command_file"));
        g.insert("CNF_REST_API_PORT", i(0));
        g.insert("CNF_REST_SSL_CERT", none());
        g.insert("CNF_REST_SSL_KEY", none());
        g.insert("CNF_USETIMESTAMPS", Val::bool(true));
        g.insert("CNF_CONNECT_TRIES", i(3));
        g.insert("CNF_REP_TRIES", i(5));
        g.insert("CNF_REQ_TRIES", i(3));
        g.insert("CNF_DEBUG_DAYS", i(AMANDA_DEBUG_DAYS));
        for d in [
            "AMANDAD",
            "AMIDXTAPED",
            "AMINDEXD",
            "AMRECOVER",
            "AUTH",
            "EVENT",
            "HOLDING",
            "PROTOCOL",
            "PLANNER",
            "DRIVER",
            "DUMPER",
            "CHUNKER",
            "TAPER",
            "SELFCHECK",
            "SENDSIZE",
            "SENDBACKUP",
        ] {
            let key: &'static str = SERVER_VAR
                .iter()
                .chain(CLIENT_VAR)
                .find(|p| p.parm.strip_prefix("CNF_DEBUG_") == Some(d))
                .map(|p| p.parm)
                .expect("debug parameter");
            g.insert(key, i(0));
        }
        g.insert("CNF_DEBUG_RECOVERY", i(1));
        // Debian builds Amanda with --with-udpportrange=840,860 and
        // --with-tcpportrange=50000,50100 (no low TCP range: the 512-1023 default).
        g.insert("CNF_RESERVED_UDP_PORT", Val::new(Value::IntRange(840, 860)));
        g.insert("CNF_RESERVED_TCP_PORT", Val::new(Value::IntRange(512, 1023)));
        g.insert("CNF_UNRESERVED_TCP_PORT", Val::new(Value::IntRange(50000, 50100)));
        g.insert("CNF_SEND_AMREPORT_ON", Val::new(Value::SendAmreport(SendAmreport::All)));
        g.insert("CNF_AUTOLABEL", Val::new(Value::AutoLabel(AutoLabel::default())));
        g.insert(
            "CNF_LABELSTR",
            Val::new(Value::LabelStr(LabelStr { template: None, match_autolabel: true })),
        );
        g.insert("CNF_META_AUTOLABEL", none());
        g.insert("CNF_RECOVERY_LIMIT", Val::new(Value::HostLimit(HostLimit::default())));
        g.insert("CNF_INTERACTIVITY", none());
        g.insert("CNF_TAPERSCAN", none());
        g.insert("CNF_HOSTNAME", none());
        // amrs extension: the built-in AEAD's key file ("" = none; amaead's own default,
        // /etc/amanda/amaead.key, applies where a key is needed).
        g.insert("CNF_ENCRYPT_KEY_FILE", s(""));
        // The client table stores `application`/`script` lines in slots named after the
        // dumptype's (a quirk of Amanda's tables); give them a home.
        g.insert("DUMPTYPE_APPLICATION", Val::new(Value::Application(None)));
        g.insert("DUMPTYPE_SCRIPTLIST", Val::new(Value::IdentList(Vec::new())));

        for (name, parm, value) in [
            ("NO-COMPRESS", "DUMPTYPE_COMPRESS", Value::Compress(Compress::None)),
            ("COMPRESS-FAST", "DUMPTYPE_COMPRESS", Value::Compress(Compress::Fast)),
            ("COMPRESS-BEST", "DUMPTYPE_COMPRESS", Value::Compress(Compress::Best)),
            ("COMPRESS-CUST", "DUMPTYPE_COMPRESS", Value::Compress(Compress::Custom)),
            ("SRVCOMPRESS", "DUMPTYPE_COMPRESS", Value::Compress(Compress::ServerFast)),
            ("BSD-AUTH", "DUMPTYPE_AUTH", Value::Str(Some("BSD".into()))),
            ("BSDTCP-AUTH", "DUMPTYPE_AUTH", Value::Str(Some("BSDTCP".into()))),
            ("NO-RECORD", "DUMPTYPE_RECORD", Value::Bool(false)),
            ("NO-HOLD", "DUMPTYPE_HOLDINGDISK", Value::Holding(Holding::Never)),
            ("NO-FULL", "DUMPTYPE_STRATEGY", Value::Strategy(Strategy::NoFull)),
        ] {
            let mut values = self.section_defaults(SectionKind::Dumptype);
            let v = values.get_mut(parm).expect("dumptype slot");
            v.value = value;
            v.seen.line = -1;
            let seen = Seen { file: None, line: -1, block: None };
            self.cfg.sections.get_mut(&SectionKind::Dumptype).expect("kind").push(Section {
                name: name.to_string(),
                seen,
                values,
            });
        }
    }

    /// The initial slots of a new section (`init_*_defaults`).
    fn section_defaults(&self, kind: SectionKind) -> BTreeMap<&'static str, Val> {
        let g = |p: &str| self.cfg.global(p).clone_default();
        let s = |v: &str| Val::str(v);
        let none = || Val::new(Value::Str(None));
        let props = || Val::new(Value::PropList(PropList::default()));
        let mut m: BTreeMap<&'static str, Val> = BTreeMap::new();
        let mut put = |k: &'static str, v: Val| {
            m.insert(k, v);
        };
        match kind {
            SectionKind::Holdingdisk => {
                put("HOLDING_COMMENT", s(""));
                put("HOLDING_DISKDIR", s(""));
                put("HOLDING_DISKSIZE", Val::int64_k(0));
                put("HOLDING_CHUNKSIZE", Val::int64_k(1024 * 1024));
            }
            SectionKind::Dumptype => {
                for (k, v) in [
                    ("DUMPTYPE_COMMENT", ""),
                    ("DUMPTYPE_PROGRAM", "DUMP"),
                    ("DUMPTYPE_SRVCOMPPROG", ""),
                    ("DUMPTYPE_CLNTCOMPPROG", ""),
                    ("DUMPTYPE_SRV_ENCRYPT", ""),
                    ("DUMPTYPE_CLNT_ENCRYPT", ""),
                    ("DUMPTYPE_AMANDAD_PATH", ""),
                    ("DUMPTYPE_CLIENT_USERNAME", ""),
                    ("DUMPTYPE_CLIENT_PORT", ""),
                    ("DUMPTYPE_SSL_FINGERPRINT_FILE", ""),
                    ("DUMPTYPE_SSL_CERT_FILE", ""),
                    ("DUMPTYPE_SSL_KEY_FILE", ""),
                    ("DUMPTYPE_SSL_CA_CERT_FILE", ""),
                    ("DUMPTYPE_SSL_CIPHER_LIST", ""),
                    ("DUMPTYPE_SSH_KEYS", ""),
                    ("DUMPTYPE_AUTH", "BSDTCP"),
                    ("DUMPTYPE_SRV_DECRYPT_OPT", "-d"),
                    ("DUMPTYPE_CLNT_DECRYPT_OPT", "-d"),
                ] {
                    put(k, s(v));
                }
                put("DUMPTYPE_SSL_CHECK_HOST", Val::bool(true));
                put("DUMPTYPE_SSL_CHECK_CERTIFICATE_HOST", Val::bool(true));
                put("DUMPTYPE_SSL_CHECK_FINGERPRINT", Val::bool(true));
                put("DUMPTYPE_EXCLUDE", Val::new(Value::ExInclude(ExInclude::default())));
                put("DUMPTYPE_INCLUDE", Val::new(Value::ExInclude(ExInclude::default())));
                put("DUMPTYPE_PRIORITY", Val::new(Value::Priority(1)));
                put("DUMPTYPE_DUMPCYCLE", g("CNF_DUMPCYCLE").unit_none());
                put("DUMPTYPE_MAXDUMPS", g("CNF_MAXDUMPS").unit_none());
                put("DUMPTYPE_MAXPROMOTEDAY", Val::int(10000));
                put("DUMPTYPE_BUMPPERCENT", g("CNF_BUMPPERCENT").unit_none());
                put("DUMPTYPE_BUMPSIZE", g("CNF_BUMPSIZE").unit_k());
                put("DUMPTYPE_BUMPDAYS", g("CNF_BUMPDAYS").unit_none());
                put("DUMPTYPE_BUMPMULT", g("CNF_BUMPMULT"));
                put("DUMPTYPE_STARTTIME", Val::new(Value::Time(0)));
                put("DUMPTYPE_STRATEGY", Val::new(Value::Strategy(Strategy::Standard)));
                put("DUMPTYPE_ESTIMATELIST", Val::new(Value::EstimateList(vec![Estimate::Client])));
                put("DUMPTYPE_COMPRESS", Val::new(Value::Compress(Compress::Fast)));
                put("DUMPTYPE_ENCRYPT", Val::new(Value::Encrypt(Encrypt::None)));
                put("DUMPTYPE_DATA_PATH", Val::new(Value::DataPath(DataPath::Amanda)));
                put("DUMPTYPE_COMPRATE", Val::new(Value::Rate(0.5, 0.5)));
                put("DUMPTYPE_TAPE_SPLITSIZE", Val::int64_k(0));
                put("DUMPTYPE_FALLBACK_SPLITSIZE", Val::int64_k(10 * 1024));
                put("DUMPTYPE_SPLIT_DISKBUFFER", none());
                put("DUMPTYPE_RECORD", Val::bool(true));
                put("DUMPTYPE_SKIP_INCR", Val::bool(false));
                put("DUMPTYPE_SKIP_FULL", Val::bool(false));
                put("DUMPTYPE_HOLDINGDISK", Val::new(Value::Holding(Holding::Auto)));
                put("DUMPTYPE_KENCRYPT", Val::bool(false));
                put("DUMPTYPE_IGNORE", Val::bool(false));
                put("DUMPTYPE_INDEX", Val::bool(true));
                put("DUMPTYPE_APPLICATION", Val::new(Value::Application(None)));
                put("DUMPTYPE_SCRIPTLIST", Val::new(Value::IdentList(Vec::new())));
                put("DUMPTYPE_PROPERTY", props());
                put("DUMPTYPE_ALLOW_SPLIT", Val::bool(true));
                put("DUMPTYPE_MAX_WARNINGS", Val::int(20));
                put("DUMPTYPE_RECOVERY_LIMIT", Val::new(Value::HostLimit(HostLimit::default())));
                put(
                    "DUMPTYPE_DUMP_LIMIT",
                    Val::new(Value::HostLimit(HostLimit { server: true, ..HostLimit::default() })),
                );
                put("DUMPTYPE_RETRY_DUMP", Val::int(2));
                put("DUMPTYPE_TAG", Val::new(Value::StrList(Vec::new())));
                put("DUMPTYPE_ENCRYPT_KEY_FILE", g("CNF_ENCRYPT_KEY_FILE"));
            }
            SectionKind::Tapetype => {
                put("TAPETYPE_COMMENT", s(""));
                put("TAPETYPE_LBL_TEMPL", s(""));
                put("TAPETYPE_BLOCKSIZE", Val::with_unit(Value::Size(DISK_BLOCK_KB), Unit::K));
                put("TAPETYPE_READBLOCKSIZE", Val::with_unit(Value::Size(DISK_BLOCK_KB), Unit::K));
                put("TAPETYPE_LENGTH", Val::int64_k(2000));
                put("TAPETYPE_FILEMARK", Val::int64_k(1));
                put("TAPETYPE_SPEED", Val::int(200));
                put("TAPETYPE_PART_SIZE", Val::int64_k(0));
                put("TAPETYPE_PART_CACHE_TYPE", Val::new(Value::PartCacheType(PartCacheType::None)));
                put("TAPETYPE_PART_CACHE_DIR", s(""));
                put("TAPETYPE_PART_CACHE_MAX_SIZE", Val::int64_k(0));
            }
            SectionKind::Interface => {
                put("INTER_COMMENT", s(""));
                put("INTER_MAXUSAGE", Val::int_k(80000));
                put("INTER_SRC_IP", s("NULL"));
            }
            SectionKind::Application => {
                put("APPLICATION_COMMENT", s(""));
                put("APPLICATION_PLUGIN", s(""));
                put("APPLICATION_PROPERTY", props());
                put("APPLICATION_CLIENT_NAME", s(""));
            }
            SectionKind::Script => {
                put("PP_SCRIPT_COMMENT", s(""));
                put("PP_SCRIPT_PLUGIN", s(""));
                put("PP_SCRIPT_PROPERTY", props());
                put("PP_SCRIPT_EXECUTE_ON", Val::new(Value::ExecuteOn(0)));
                put("PP_SCRIPT_EXECUTE_WHERE", Val::new(Value::ExecuteWhere(ExecuteWhere::Client)));
                put("PP_SCRIPT_ORDER", Val::int(5000));
                put("PP_SCRIPT_SINGLE_EXECUTION", Val::bool(false));
                put("PP_SCRIPT_CLIENT_NAME", s(""));
            }
            SectionKind::Device => {
                put("DEVICE_CONFIG_COMMENT", s(""));
                put("DEVICE_CONFIG_TAPEDEV", s(""));
                put("DEVICE_CONFIG_DEVICE_PROPERTY", props());
            }
            SectionKind::Changer => {
                for k in [
                    "CHANGER_CONFIG_COMMENT",
                    "CHANGER_CONFIG_TAPEDEV",
                    "CHANGER_CONFIG_TPCHANGER",
                    "CHANGER_CONFIG_CHANGERDEV",
                    "CHANGER_CONFIG_CHANGERFILE",
                ] {
                    put(k, s(""));
                }
                put("CHANGER_CONFIG_PROPERTY", props());
                put("CHANGER_CONFIG_DEVICE_PROPERTY", props());
            }
            SectionKind::Interactivity => {
                put("INTERACTIVITY_COMMENT", s(""));
                put("INTERACTIVITY_PLUGIN", s(""));
                put("INTERACTIVITY_PROPERTY", props());
            }
            SectionKind::Taperscan => {
                put("TAPERSCAN_COMMENT", s(""));
                put("TAPERSCAN_PLUGIN", s(""));
                put("TAPERSCAN_PROPERTY", props());
            }
            SectionKind::Policy => {
                put("POLICY_COMMENT", s(""));
                put("POLICY_RETENTION_TAPES", Val::int(0));
                put("POLICY_RETENTION_DAYS", Val::int(0));
                put("POLICY_RETENTION_RECOVER", Val::int(0));
                put("POLICY_RETENTION_FULL", Val::int(0));
            }
            SectionKind::Storage => {
                put("STORAGE_COMMENT", s(""));
                put("STORAGE_POLICY", s(""));
                put("STORAGE_TAPEDEV", s(""));
                put("STORAGE_TPCHANGER", s(""));
                put(
                    "STORAGE_LABELSTR",
                    Val::new(Value::LabelStr(LabelStr { template: None, match_autolabel: true })),
                );
                put("STORAGE_META_AUTOLABEL", s(""));
                put("STORAGE_AUTOLABEL", Val::new(Value::AutoLabel(AutoLabel::default())));
                put("STORAGE_TAPEPOOL", none());
                put("STORAGE_RUNTAPES", Val::int(1));
                put("STORAGE_TAPERSCAN", none());
                put("STORAGE_TAPETYPE", s("DEFAULT_TAPE"));
                put("STORAGE_MAX_DLE_BY_VOLUME", Val::int(1_000_000_000));
                put("STORAGE_TAPERALGO", Val::new(Value::TaperAlgo(TaperAlgo::First)));
                put("STORAGE_TAPER_PARALLEL_WRITE", Val::int(0));
                put("STORAGE_EJECT_VOLUME", Val::bool(false));
                put("STORAGE_ERASE_VOLUME", Val::bool(false));
                put("STORAGE_DEVICE_OUTPUT_BUFFER_SIZE", Val::new(Value::Size(0)));
                put("STORAGE_AUTOFLUSH", Val::new(Value::NoYesAll(0)));
                put("STORAGE_FLUSH_THRESHOLD_DUMPED", Val::int(0));
                put("STORAGE_FLUSH_THRESHOLD_SCHEDULED", Val::int(0));
                put("STORAGE_TAPERFLUSH", Val::int(0));
                put("STORAGE_REPORT_USE_MEDIA", Val::bool(true));
                put("STORAGE_REPORT_NEXT_MEDIA", Val::bool(true));
                put("STORAGE_INTERACTIVITY", none());
                put("STORAGE_SET_NO_REUSE", Val::bool(false));
                put("STORAGE_DUMP_SELECTION", Val::new(Value::DumpSelection(Vec::new())));
                put("STORAGE_ERASE_ON_FAILURE", Val::bool(false));
                put("STORAGE_ERASE_ON_FULL", Val::bool(false));
                put("STORAGE_VAULT_LIST", Val::new(Value::VaultList(Vec::new())));
            }
        }
        m
    }

    // ----- derived values ----------------------------------------------------------

    fn update_derived_values(&mut self) {
        if self.cfg.client {
            return;
        }
        let conf_name = self.cfg.name.clone().unwrap_or_else(|| "default".into());
        // Errors found here have no line to point at.
        self.file = None;
        self.line = 0;

        if self.cfg.lookup(SectionKind::Interface, "default").is_none() {
            let values = self.section_defaults(SectionKind::Interface);
            let seen = self.cfg.global("CNF_NETUSAGE").seen.clone();
            self.cfg.sections.get_mut(&SectionKind::Interface).expect("kind").push(Section {
                name: "default".into(),
                seen,
                values,
            });
        }
        let netusage = self.cfg.global("CNF_NETUSAGE").clone();
        if let Some(ip) = self.cfg.lookup_mut(SectionKind::Interface, "default") {
            if !ip.get("INTER_MAXUSAGE").seen.is_set() {
                let c = ip.values.get_mut("INTER_COMMENT").expect("slot");
                c.value = Value::Str(Some("implicit from NETUSAGE".into()));
                c.seen = netusage.seen.clone();
                let m = ip.values.get_mut("INTER_MAXUSAGE").expect("slot");
                m.value = netusage.value.clone();
                m.seen = netusage.seen.clone();
            }
        }

        let tapetype = self.cfg.global_str("CNF_TAPETYPE").to_string();
        if self.cfg.lookup(SectionKind::Tapetype, &tapetype).is_none() {
            let tt = self.cfg.global("CNF_TAPETYPE");
            if !tt.seen.is_set()
                && tapetype == "DEFAULT_TAPE"
                && self.cfg.lookup(SectionKind::Tapetype, "DEFAULT_TAPE").is_none()
            {
                let seen = tt.seen.clone();
                let values = self.section_defaults(SectionKind::Tapetype);
                self.cfg.sections.get_mut(&SectionKind::Tapetype).expect("kind").push(Section {
                    name: "DEFAULT_TAPE".into(),
                    seen,
                    values,
                });
            } else {
                // Amanda gives no location; point at the `tapetype` line (an improvement).
                let seen = self.cfg.global("CNF_TAPETYPE").seen.clone();
                self.error_at(seen.file, seen.line, &format!("tapetype {tapetype} is not defined"));
            }
        }

        if let Value::IdentList(hds) = self.cfg.global("CNF_HOLDINGDISK").value.clone() {
            for hd in hds {
                if self.cfg.lookup(SectionKind::Holdingdisk, &hd).is_none() {
                    // Amanda gives no location; point at the reference (an improvement).
                    let at = self.holding_refs.iter().find(|(n, _, _)| *n == hd).cloned();
                    let (file, line) = at.map(|(_, f, l)| (f, l)).unwrap_or((None, 0));
                    self.error_at(file, line, &format!("holdingdisk {hd} is not defined"));
                }
            }
        }

        let lnt_seen = self.cfg.global("CNF_LABEL_NEW_TAPES").seen.line;
        let al_seen = self.cfg.global("CNF_AUTOLABEL").seen.line;
        if (lnt_seen > 0 && al_seen > 0) || (lnt_seen < 0 && al_seen < 0) {
            self.error("Can't specify both label-new-tapes and autolabel");
        }
        if (lnt_seen != 0 && al_seen == 0) || (lnt_seen < 0 && al_seen >= 0) {
            let t = self.cfg.global_str("CNF_LABEL_NEW_TAPES").to_string();
            let al = self.cfg.globals.get_mut("CNF_AUTOLABEL").expect("slot");
            al.value = Value::AutoLabel(if t.is_empty() {
                AutoLabel::default()
            } else {
                AutoLabel { template: Some(t), flags: autolabel_flags::VOLUME_ERROR | autolabel_flags::EMPTY }
            });
        }

        let mdbv_seen = self.cfg.global("CNF_MAX_DLE_BY_VOLUME").seen.is_set();
        for p in ["CNF_REPORT_USE_MEDIA", "CNF_REPORT_NEXT_MEDIA"] {
            if !self.cfg.global(p).seen.is_set() && mdbv_seen {
                self.cfg.globals.insert(p, Val::bool(false));
            }
        }

        let labelstr_seen = self.cfg.global("CNF_LABELSTR").seen.is_set();
        let autolabel = self.cfg.global("CNF_AUTOLABEL").clone();
        if let Value::LabelStr(ls) = self.cfg.global("CNF_LABELSTR").value.clone() {
            if labelstr_seen && ls.match_autolabel && !autolabel.seen.is_set() {
                self.error("AUTOLABEL not set and LABELSTR set to MATCH-AUTOLABEL");
            } else if ls.match_autolabel && !autolabel.seen.is_set() {
                self.set_global_value(
                    "CNF_LABELSTR",
                    Value::LabelStr(LabelStr { template: Some(".*".into()), match_autolabel: false }),
                );
            } else if ls.match_autolabel {
                if let Value::AutoLabel(a) = &autolabel.value {
                    self.set_global_value(
                        "CNF_LABELSTR",
                        Value::LabelStr(LabelStr { template: a.template.clone(), match_autolabel: true }),
                    );
                }
            }
        }

        let storage_list = match &self.cfg.global("CNF_STORAGE").value {
            Value::IdentList(l) => l.clone(),
            _ => Vec::new(),
        };
        let st_name = storage_list.first().cloned();

        if self.cfg.lookup(SectionKind::Policy, &conf_name).is_none() {
            let mut values = self.section_defaults(SectionKind::Policy);
            values.get_mut("POLICY_COMMENT").expect("slot").value =
                Value::Str(Some("implicit from global config".into()));
            self.cfg.sections.get_mut(&SectionKind::Policy).expect("kind").push(Section {
                name: conf_name.clone(),
                seen: Seen::default(),
                values,
            });
        }

        if !self.cfg.global("CNF_STORAGE").seen.is_set() && st_name.as_deref().unwrap_or("").is_empty() {
            if self.cfg.lookup(SectionKind::Storage, &conf_name).is_none() {
                let mut values = self.section_defaults(SectionKind::Storage);
                values.get_mut("STORAGE_COMMENT").expect("slot").value =
                    Value::Str(Some("implicit from global config".into()));
                self.cfg.sections.get_mut(&SectionKind::Storage).expect("kind").push(Section {
                    name: conf_name.clone(),
                    seen: Seen::default(),
                    values,
                });
            }
            self.set_global_value("CNF_STORAGE", Value::IdentList(vec![conf_name.clone()]));
        }

        let tapecycle = self.cfg.global("CNF_TAPECYCLE").clone();
        for po in self.cfg.sections.get_mut(&SectionKind::Policy).expect("kind") {
            let rt = po.values.get_mut("POLICY_RETENTION_TAPES").expect("slot");
            if !rt.seen.is_set() {
                *rt = tapecycle.clone();
                if let Value::Int(i) = &mut rt.value {
                    *i -= 1;
                }
            }
        }

        for cc in self.cfg.sections.get_mut(&SectionKind::Changer).expect("kind") {
            if cc.get("CHANGER_CONFIG_CHANGERFILE").seen.is_set() {
                let name = cc.name.clone();
                for parm in ["CHANGER_CONFIG_CHANGERFILE", "CHANGER_CONFIG_TPCHANGER"] {
                    let v = cc.values.get_mut(parm).expect("slot");
                    if let Some(s) = v.as_str() {
                        if s.contains("$t") {
                            *v = Val::str(&s.replacen("$t", &name, 1));
                        }
                    }
                }
            }
        }

        let org = self.cfg.global_str("CNF_ORG").to_string();
        let globals = self.cfg.globals.clone();
        let mut errors = Vec::new();
        for st in self.cfg.sections.get_mut(&SectionKind::Storage).expect("kind") {
            let seen = |st: &Section, p: &str| st.get(p).seen.is_set();
            let al_seen = seen(st, "STORAGE_AUTOLABEL");
            if let Value::LabelStr(ls) = st.get("STORAGE_LABELSTR").value.clone() {
                if seen(st, "STORAGE_LABELSTR") && ls.match_autolabel && !al_seen {
                    errors.push("AUTOLABEL not set and LABELSTR set to MATCH-AUTOLABEL".to_string());
                } else if ls.match_autolabel && !al_seen {
                    st.values.get_mut("STORAGE_LABELSTR").expect("slot").value =
                        Value::LabelStr(LabelStr { template: Some(".*".into()), match_autolabel: false });
                } else if ls.match_autolabel {
                    if let Value::AutoLabel(a) = &st.get("STORAGE_AUTOLABEL").value {
                        let t = a.template.clone();
                        st.values.get_mut("STORAGE_LABELSTR").expect("slot").value =
                            Value::LabelStr(LabelStr { template: t, match_autolabel: true });
                    }
                }
            }
            let bad_org = org.contains(' ');
            if st.get("STORAGE_META_AUTOLABEL").as_str().is_some_and(|m| m.contains("$o")) && bad_org {
                errors.push("ORG must not contains space if '$0' is in meta_autolabel".to_string());
            }
            if let Value::AutoLabel(a) = &st.get("STORAGE_AUTOLABEL").value {
                if a.template.as_deref().is_some_and(|t| t.contains("$o")) && bad_org {
                    errors.push("ORG must not contains space if '$0' is in autolabel".to_string());
                }
            }
            if !seen(st, "STORAGE_POLICY") {
                st.values.insert("STORAGE_POLICY", Val::str(&conf_name));
            }
            for (sp, gp) in [
                ("STORAGE_TAPEDEV", "CNF_TAPEDEV"),
                ("STORAGE_TPCHANGER", "CNF_TPCHANGER"),
                ("STORAGE_LABELSTR", "CNF_LABELSTR"),
                ("STORAGE_AUTOLABEL", "CNF_AUTOLABEL"),
                ("STORAGE_META_AUTOLABEL", "CNF_META_AUTOLABEL"),
                ("STORAGE_RUNTAPES", "CNF_RUNTAPES"),
                ("STORAGE_TAPERSCAN", "CNF_TAPERSCAN"),
                ("STORAGE_TAPETYPE", "CNF_TAPETYPE"),
                ("STORAGE_MAX_DLE_BY_VOLUME", "CNF_MAX_DLE_BY_VOLUME"),
                ("STORAGE_TAPERALGO", "CNF_TAPERALGO"),
                ("STORAGE_TAPER_PARALLEL_WRITE", "CNF_TAPER_PARALLEL_WRITE"),
                ("STORAGE_EJECT_VOLUME", "CNF_EJECT_VOLUME"),
                ("STORAGE_DEVICE_OUTPUT_BUFFER_SIZE", "CNF_DEVICE_OUTPUT_BUFFER_SIZE"),
                ("STORAGE_AUTOFLUSH", "CNF_AUTOFLUSH"),
                ("STORAGE_FLUSH_THRESHOLD_DUMPED", "CNF_FLUSH_THRESHOLD_DUMPED"),
                ("STORAGE_FLUSH_THRESHOLD_SCHEDULED", "CNF_FLUSH_THRESHOLD_SCHEDULED"),
                ("STORAGE_TAPERFLUSH", "CNF_TAPERFLUSH"),
                ("STORAGE_REPORT_USE_MEDIA", "CNF_REPORT_USE_MEDIA"),
                ("STORAGE_REPORT_NEXT_MEDIA", "CNF_REPORT_NEXT_MEDIA"),
                ("STORAGE_INTERACTIVITY", "CNF_INTERACTIVITY"),
            ] {
                if !seen(st, sp) {
                    st.values.insert(sp, globals[gp].clone());
                }
            }
            if !seen(st, "STORAGE_TAPEPOOL") {
                st.values.insert("STORAGE_TAPEPOOL", Val::str(&conf_name));
            } else {
                let mut pool = st.get("STORAGE_TAPEPOOL").as_str().unwrap_or("").to_string();
                let mut changed = false;
                for (pat, rep) in [("$o", org.as_str()), ("$c", conf_name.as_str()), ("$r", st.name.as_str())]
                {
                    if pool.contains(pat) {
                        pool = pool.replacen(pat, rep, 1);
                        changed = true;
                    }
                }
                if changed {
                    st.values.insert("STORAGE_TAPEPOOL", Val::str(&pool));
                }
            }
        }
        for e in errors {
            self.error(&e);
        }

        let storage_list = match &self.cfg.global("CNF_STORAGE").value {
            Value::IdentList(l) => l.clone(),
            _ => Vec::new(),
        };
        for s in &storage_list {
            if self.cfg.lookup(SectionKind::Storage, s).is_none() {
                self.error(&format!("storage '{s}' is not defined"));
            }
        }
        let mut active = match &self.cfg.global("CNF_ACTIVE_STORAGE").value {
            Value::IdentList(l) => l.clone(),
            _ => Vec::new(),
        };
        for s in &storage_list {
            if !active.contains(s) {
                active.push(s.clone());
            }
        }
        self.set_global_value("CNF_ACTIVE_STORAGE", Value::IdentList(active.clone()));
        for s in &active {
            if self.cfg.lookup(SectionKind::Storage, s).is_none() {
                self.error(&format!("storage '{s}' is not defined"));
            }
        }
        self.cfg.globals.insert("CNF_USETIMESTAMPS", Val::bool(true));
    }

    fn set_global_value(&mut self, parm: &'static str, value: Value) {
        self.cfg.globals.get_mut(parm).expect("global slot").value = value;
    }
}

impl Val {
    /// A copy of the value as a fresh default (not seen anywhere).
    fn clone_default(&self) -> Val {
        Val { value: self.value.clone(), unit: self.unit, seen: Seen::default() }
    }

    fn unit_none(mut self) -> Val {
        self.unit = Unit::None;
        self
    }

    fn unit_k(mut self) -> Val {
        self.unit = Unit::K;
        self
    }
}

fn am_floor(value: i64, multiple: i64) -> i64 {
    (value / multiple) * multiple
}

/// The C library's text for an I/O error ("No such file or directory").
pub fn os_error_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let s = std::io::Error::from_raw_os_error(code).to_string();
            // Rust appends " (os error N)"; strerror() does not.
            match s.rfind(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
        None => e.to_string(),
    }
}

fn nix_access_rw(dir: &str) -> Result<(), String> {
    // A read/write probe without unsafe code: try to create and remove a file.
    let probe = Path::new(dir).join(format!(".amrs-tmpdir-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            std::fs::read_dir(dir).map(|_| ()).map_err(|e| os_error_text(&e))
        }
        Err(e) => Err(os_error_text(&e)),
    }
}

impl Config {
    /// An empty stand-in, used while a configuration is lent to a parser.
    pub(crate) fn placeholder() -> Config {
        Config {
            client: false,
            name: None,
            dir: None,
            globals: BTreeMap::new(),
            sections: BTreeMap::new(),
            diagnostics: Vec::new(),
            level: Level::Ok,
        }
    }
}

/// Reads the body of an inline disklist dumptype (`host disk {` … `}`) from `bytes`
/// at `pos`, the line after the `{`, whose number is `line` + 1. Returns the grown
/// configuration, the position just after the `}`, the line number of the `}` line,
/// and what was reported.
pub(crate) fn read_inline_dumptype(
    cfg: Config,
    bytes: &[u8],
    pos: usize,
    file: &str,
    line: i32,
    name: String,
) -> (Config, usize, i32, Vec<String>, Level) {
    let mut p = Parser::new_with(cfg);
    p.input = Input { bytes: bytes.to_vec(), pos };
    p.file = Some(file.to_string());
    p.line = line;
    let before = p.cfg.diagnostics.len();
    let saved_level = p.cfg.level;
    p.read_section(SectionKind::Dumptype, Some(name));
    let diags = p.cfg.diagnostics.split_off(before);
    let level = if diags.is_empty() { Level::Ok } else { p.cfg.level };
    p.cfg.level = saved_level;
    let (pos, line) = (p.input.pos, p.line);
    (p.cfg, pos, line, diags, level)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        parse_text(text, Path::new("/nonexistent/unit"), false)
    }

    fn show(cfg: &Config, key: &str) -> String {
        cfg.param_by_name(key).map(|(_, v)| v.display_strs().join("|")).unwrap_or_else(|| "<none>".into())
    }

    #[test]
    fn suffixes_scale_into_the_parameter_unit() {
        let c = parse("netusage 2 mbps\nbumpsize 3 gb\ndumpcycle 2 weeks\ndevice_output_buffer_size 2m\nmaxdumpsize inf\n");
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        assert_eq!(show(&c, "netusage"), "2048");
        assert_eq!(show(&c, "bumpsize"), "3145728");
        assert_eq!(show(&c, "dumpcycle"), "14");
        assert_eq!(show(&c, "device-output-buffer-size"), "2097152");
        assert_eq!(show(&c, "maxdumpsize"), i64::MAX.to_string());
    }

    #[test]
    fn strings_unescape_and_booleans_default_to_true() {
        let c = parse("org \"a\\tb \\\"q\\\" \\101\"\neject-volume\nCOMPRESS_INDEX off\n");
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        assert_eq!(show(&c, "org"), "a\tb \"q\" A\"");
        assert_eq!(show(&c, "eject_volume"), "yes");
        assert_eq!(show(&c, "compress-index"), "no");
    }

    #[test]
    fn several_parents_apply_in_order_and_the_last_setting_wins() {
        let c = parse(
            "define dumptype a {\n  compress none\n  priority low\n}\n\
             define dumptype b {\n  compress server best\n  comment \"b\"\n}\n\
             define dumptype c {\n  a\n  b\n  priority high\n}\n",
        );
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        assert_eq!(show(&c, "dumptype:c:compress"), "SERVER BEST");
        assert_eq!(show(&c, "dumptype:c:priority"), "HIGH");
        assert_eq!(show(&c, "dumptype:c:comment"), "b");
        // A parent's defaults (unset values) do not override what an earlier parent set.
        assert_eq!(show(&c, "dumptype:C:Priority"), "HIGH");
    }

    #[test]
    fn dumptype_defaults_follow_globals_set_before_the_definition() {
        let c = parse("dumpcycle 3\ndefine dumptype early {\n}\ndumpcycle 9\ndefine dumptype late {\n}\n");
        assert_eq!(show(&c, "dumptype:early:dumpcycle"), "3");
        assert_eq!(show(&c, "dumptype:late:dumpcycle"), "9");
    }

    #[test]
    fn predefined_dumptypes_and_implicit_sections_exist() {
        let c = parse("");
        assert_eq!(show(&c, "dumptype:NO-HOLD:holdingdisk"), "NEVER");
        assert_eq!(show(&c, "dumptype:SRVCOMPRESS:compress"), "SERVER FAST");
        assert_eq!(c.list(SectionKind::Interface), vec!["default"]);
        assert_eq!(c.list(SectionKind::Tapetype), vec!["DEFAULT_TAPE"]);
        assert_eq!(show(&c, "storage"), "unit");
        assert_eq!(show(&c, "labelstr"), "\".*\"");
    }

    #[test]
    fn encrypt_key_file_extension_is_global_and_per_dumptype() {
        let c = parse(
            "encrypt-key-file \"/etc/amanda/site.key\"\n\
             define dumptype plain {\n}\n\
             define dumptype secret {\n  encrypt server\n  server_encrypt \"amaead\"\n  encrypt_key_file \"/k/secret.key\"\n}\n",
        );
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        assert_eq!(show(&c, "encrypt_key_file"), "/etc/amanda/site.key");
        assert_eq!(show(&c, "dumptype:plain:encrypt-key-file"), "/etc/amanda/site.key");
        assert_eq!(show(&c, "dumptype:secret:encrypt_key_file"), "/k/secret.key");
        assert_eq!(show(&c, "dumptype:secret:server_encrypt"), "amaead");
    }

    #[test]
    fn errors_accumulate_with_logical_line_numbers() {
        let c = parse("inparallel -1\n\n# c\ntapecycle x\n");
        assert_eq!(
            c.diagnostics,
            vec![
                "'/nonexistent/unit/amanda.conf', line 1: INPARALLEL must be positive",
                "'/nonexistent/unit/amanda.conf', line 4: an integer is expected",
                "'/nonexistent/unit/amanda.conf', line 4: TAPECYCLE must be positive",
            ]
        );
        assert_eq!(c.level, Level::Errors);
    }

    #[test]
    fn overrides_apply_to_globals_and_sections() {
        let dir = std::env::temp_dir().join(format!("amrs-unit-ovr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("amanda.conf"), "inparallel 2\ndefine dumptype d {\n  compress none\n}\n")
            .unwrap();
        let ovr: Vec<Override> = ["inparallel=5", "dumptype:d:compress=server fast", "nosuch=1"]
            .iter()
            .map(|o| Override::parse(o).unwrap())
            .collect();
        let src = ConfigSource { dir: dir.clone(), name: "unit".into(), global_file: None };
        let c = load_server(&src, &ovr);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(show(&c, "inparallel"), "5");
        assert_eq!(show(&c, "dumptype:d:compress"), "SERVER FAST");
        assert_eq!(c.diagnostics, vec!["parse error: unknown parameter 'nosuch'"]);
    }

    #[test]
    fn includefile_is_relative_to_the_configuration_directory() {
        let dir = std::env::temp_dir().join(format!("amrs-unit-inc-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("amanda.conf"), "includefile \"sub/more.conf\"\norg \"main\"\n").unwrap();
        std::fs::write(dir.join("sub/more.conf"), "mailto \"ops\"\n").unwrap();
        let src = ConfigSource { dir: dir.clone(), name: "unit".into(), global_file: None };
        let c = load_server(&src, &[]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        assert_eq!(show(&c, "mailto"), "ops");
        assert_eq!(show(&c, "org"), "main");
    }
}
