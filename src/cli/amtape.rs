//! `amtape`: drive the changer of a configuration, as Amanda 3.5.1's `server-src/amtape.pl`
//! does; and the storage, changer, tapelist and retention plumbing that `amlabel` shares
//! with it (`pub(crate)` items below, marked "shared").
//!
//! `amtape [-o NAME=VALUE]… CONFIG COMMAND [ARGS]`, commands:
//!
//! - `slot N|current|next|first|last [drive D]`, `current`: load the slot and show it on
//!   standard error (`slot   N: time X              label L`, `changed to slot N`);
//! - `label L`: find the volume (Amanda's Recovery::Scan: slots whose label is known
//!   first, then the unknown ones from the current slot on; standard output gets
//!   `slot   N: LABEL`), load it and show it; when it is nowhere, ask on standard input
//!   as Amanda does (`Insert volume labeled 'L' in CHANGER` …; end of input aborts), or,
//!   when standard input is not readable (Perl's `-r STDIN`), fail with the last error;
//! - `show [SLOTS]` (`1,3-5`): read every (or the listed) slot's label, on standard error;
//! - `inventory`: one line per slot on standard output (`slot 2: label L (current)
//!   [retention-no]`);
//! - `reset`, `eject`, `clean`, `update`: changer operations (`chg-disk` supports only
//!   `reset`, `chg-single` none, exactly as Amanda's changers);
//! - `taper`: Amanda's "traditional" taperscan — the oldest reusable volume by label
//!   (changers that can search fast), then every slot from the current one — and the
//!   volume a run would write (`Will write to volume 'L' in slot N.`);
//! - no command, `usage` or a bad command: the usage text and exit 1.
//!
//! Which slot loads make a slot current follows Amanda: `slot`, `label`, `next` and the
//! taperscan do; `show`, and `amlabel` loading a slot, do not. Our changers make every
//! `load_slot` current, so those two put the previous current slot back afterwards
//! ([`CurrentGuard`]).
//!
//! Deliberate differences from Amanda 3.5.1:
//! - `--version` prints `amtape-<amrs version>`, as our `amgetconf` does.
//! - Messages that come from the device are ours (they name the device and file), except
//!   a vtape slot without label file, reported as Amanda's `File 0 not found`.
//! - `show` never reports `(Write protected)`.
//! - `inventory` knows the retention kinds `retention-no`, `no-reuse`, `retention-tapes`
//!   and `other config`; `retention-days`/`-recover`/`-full` and pending commands are not
//!   computed (neither for `taper`'s choice of a reusable volume).
//! - `label` waits for a line on standard input but does not also poll the changer every
//!   few seconds; `create`, `verify` and `sync-catalog` are not implemented.
//! - `update` on `chg-single` reports `update failed` (Amanda never returns).
//! - Amanda refuses to run as another user than its dump user; we do not check.
//! - The chg-disk state remembers the current slot per changer under the resolved
//!   `chg-disk:DIR` string, also when the configuration names a `define changer` alias
//!   (Amanda: under the alias).

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::catalog::tapelist::{TapeEntry, Tapelist};
use crate::cmdline::{match_labelstr, match_labelstr_template, TemplateVars};
use crate::config::value::{autolabel_flags, AutoLabel, LabelStr, PropList};
use crate::config::{self, Config, ConfigSource, Level, Override, SectionKind, Val, Value};
use crate::device::changer::state::{dump_state, parse_state, LockedFile, PerlValue};
use crate::device::changer::{
    open_changer, parse_tpchanger, Changer, ChangerError, ChangerOptions, ChangerSpec, LoadedVolume, SlotInfo,
};
use crate::device::{DeviceError, DeviceProperties, VolumeLabel};
use crate::format::header::HeaderError;

use super::getopt::{getopt, Item};

// =======================================================================================
// Shared with amlabel: arguments, configuration, storage, changer, tapelist.

/// A configuration read for a server tool.
pub(crate) struct Site {
    /// The configuration.
    pub cfg: Config,
    /// Amanda's `get_config_name()`.
    pub name: String,
    /// The configuration directory (`config_dir_relative` resolves against it).
    pub dir: PathBuf,
}

impl Site {
    /// Reads `CONFIG` with the `-o` overrides; the caller reports `cfg.diagnostics`.
    pub fn load(config_name: &str, overrides: &[Override]) -> Site {
        let source = ConfigSource::resolve(config_name);
        let cfg = config::load_server(&source, overrides);
        Site { cfg, name: source.name, dir: source.dir }
    }

    /// Whether the configuration has errors (after printing every diagnostic).
    pub fn report_diagnostics(&self) -> bool {
        if self.cfg.level >= Level::Warnings {
            for d in &self.cfg.diagnostics {
                eprintln!("{d}");
            }
        }
        self.cfg.level >= Level::Errors
    }

    /// Amanda's `config_dir_relative`.
    pub fn relative(&self, path: &str) -> PathBuf {
        if path.starts_with('/') {
            PathBuf::from(path)
        } else {
            self.dir.join(path)
        }
    }

    /// The tapelist file.
    pub fn tapelist_path(&self) -> PathBuf {
        self.relative(self.cfg.global_str("CNF_TAPELIST"))
    }

    /// The variables a labelstr or autolabel template may use.
    pub fn vars<'a>(
        &'a self,
        barcode: Option<&'a str>,
        meta: Option<&'a str>,
        storage: Option<&'a str>,
    ) -> TemplateVars<'a> {
        TemplateVars { config_name: &self.name, org: self.cfg.global_str("CNF_ORG"), barcode, meta, storage }
    }
}

fn str_of(v: Option<&Val>) -> String {
    v.and_then(Val::as_str).unwrap_or("").to_owned()
}

fn proplist(v: Option<&Val>) -> Option<&PropList> {
    match v.map(|v| &v.value) {
        Some(Value::PropList(p)) => Some(p),
        _ => None,
    }
}

/// Adds a property list to device or changer properties; a property given several values
/// ends with the last, as Amanda sets them one after the other.
fn add_properties(to: &mut DeviceProperties, list: Option<&PropList>) {
    for (name, property) in list.into_iter().flat_map(PropList::iter) {
        if let Some(value) = property.values.last() {
            to.set(name, value);
        }
    }
}

/// The retention policy of one storage, as `compute_retention` sees it.
#[derive(Clone, Debug)]
pub(crate) struct StoragePolicy {
    pub name: String,
    pub tapepool: String,
    pub labelstr: LabelStr,
    pub autolabel: AutoLabel,
    pub retention_tapes: i64,
}

fn storage_policy(cfg: &Config, name: &str) -> Option<StoragePolicy> {
    let st = cfg.lookup(SectionKind::Storage, name)?;
    let labelstr = match st.values.get("STORAGE_LABELSTR").map(|v| &v.value) {
        Some(Value::LabelStr(l)) => l.clone(),
        _ => LabelStr::default(),
    };
    let autolabel = match st.values.get("STORAGE_AUTOLABEL").map(|v| &v.value) {
        Some(Value::AutoLabel(a)) => a.clone(),
        _ => AutoLabel::default(),
    };
    let policy = str_of(st.values.get("STORAGE_POLICY"));
    let retention_tapes = cfg
        .lookup(SectionKind::Policy, &policy)
        .and_then(|p| p.values.get("POLICY_RETENTION_TAPES"))
        .and_then(Val::as_int)
        .unwrap_or(0);
    Some(StoragePolicy {
        name: st.name.clone(),
        tapepool: str_of(st.values.get("STORAGE_TAPEPOOL")),
        labelstr,
        autolabel,
        retention_tapes,
    })
}

/// Amanda::Storage plus the changer it names: everything `amlabel` and `amtape` need.
pub(crate) struct Storage {
    /// Name, pool, labelstr, autolabel, retention.
    pub policy: StoragePolicy,
    /// `taperscan` (a `define taperscan` name), empty for the default.
    pub taperscan: String,
    /// The changer as configured (`tpchanger`, `tapedev` or a changer alias): Amanda's
    /// `chg_name`, shown in prompts and `not quit` lines.
    pub chg_name: String,
    /// The resolved `tpchanger` string handed to [`open_changer`].
    pub tpchanger: String,
    /// What it names.
    pub spec: ChangerSpec,
    /// Properties, state file, configuration and storage names for the changer.
    pub options: ChangerOptions,
}

impl Storage {
    /// Amanda's `Amanda::Storage->new` for the first storage, then `Amanda::Changer->new`.
    /// The error is Amanda's message.
    pub fn resolve(site: &Site) -> Result<Storage, String> {
        let cfg = &site.cfg;
        let storage_name = match &cfg.global("CNF_STORAGE").value {
            Value::IdentList(l) => l.first().cloned().unwrap_or_default(),
            _ => String::new(),
        };
        if storage_name.is_empty() {
            return Err("No storage_name provided".into());
        }
        let Some(st) = cfg.lookup(SectionKind::Storage, &storage_name) else {
            return Err(format!("Storage '{storage_name}' not found"));
        };
        let policy = storage_policy(cfg, &storage_name).expect("looked up above");
        let mut chg_name = str_of(st.values.get("STORAGE_TPCHANGER"));
        if chg_name.is_empty() {
            chg_name = str_of(st.values.get("STORAGE_TAPEDEV"));
            if chg_name.is_empty() {
                return Err(format!(
                    "You must specify the 'tapedev' or 'tpchanger' in the '{storage_name}' storage section"
                ));
            }
        }

        // Device properties, lowest priority first (Changer.pm `configure_device`): the
        // tapetype's, the global `device-property`, a device alias's, the changer's.
        let mut device_properties = DeviceProperties::new();
        let tapetype_name = str_of(st.values.get("STORAGE_TAPETYPE"));
        if let Some(tt) = cfg.lookup(SectionKind::Tapetype, &tapetype_name) {
            let seen_kib = |parm: &str| {
                tt.values.get(parm).filter(|v| v.seen.is_set()).and_then(Val::as_int).map(|k| k * 1024)
            };
            if let Some(bytes) = seen_kib("TAPETYPE_LENGTH") {
                device_properties.set_optional("MAX_VOLUME_USAGE", &bytes.to_string());
            }
            if let Some(bytes) = seen_kib("TAPETYPE_READBLOCKSIZE") {
                device_properties.set_optional("READ_BLOCK_SIZE", &bytes.to_string());
            }
            if let Some(bytes) = seen_kib("TAPETYPE_BLOCKSIZE") {
                device_properties.set("BLOCK_SIZE", &bytes.to_string());
            }
        }
        add_properties(&mut device_properties, proplist(Some(cfg.global("CNF_DEVICE_PROPERTY"))));

        let mut properties = DeviceProperties::new();
        let mut changer_file = None;
        let tpchanger = if let Some(cc) = cfg.lookup(SectionKind::Changer, &chg_name) {
            let tp = cc.values.get("CHANGER_CONFIG_TPCHANGER");
            let td = cc.values.get("CHANGER_CONFIG_TAPEDEV");
            let seen = |v: Option<&Val>| v.is_some_and(|v| v.seen.is_set());
            if seen(tp) && seen(td) {
                return Err("Cannot specify both 'tapedev' and 'tpchanger'".into());
            }
            if !seen(tp) && !seen(td) {
                return Err("You must specify one of 'tapedev' or 'tpchanger'".into());
            }
            add_properties(&mut properties, proplist(cc.values.get("CHANGER_CONFIG_PROPERTY")));
            let file = str_of(cc.values.get("CHANGER_CONFIG_CHANGERFILE"));
            if !file.is_empty() {
                changer_file = Some(site.relative(&file));
            }
            let mut uri = str_of(tp);
            if uri.is_empty() {
                uri = str_of(td);
            }
            let device_props = proplist(cc.values.get("CHANGER_CONFIG_DEVICE_PROPERTY")).cloned();
            // The changer's own device properties come last; applied below.
            (uri, device_props)
        } else {
            (chg_name.clone(), None)
        };
        let (mut tpchanger, changer_device_props) = tpchanger;
        let mut spec = parse_tpchanger(&tpchanger).map_err(|e| changer_error_text(&e))?;
        // A device alias (`define device NAME { tapedev "…" }`) behind chg-single.
        if let ChangerSpec::Single { device } = &spec {
            if let Some(dc) = cfg.lookup(SectionKind::Device, device) {
                let real = str_of(dc.values.get("DEVICE_CONFIG_TAPEDEV"));
                add_properties(
                    &mut device_properties,
                    proplist(dc.values.get("DEVICE_CONFIG_DEVICE_PROPERTY")),
                );
                tpchanger = format!("chg-single:{real}");
                spec = ChangerSpec::Single { device: real };
            }
        }
        add_properties(&mut device_properties, changer_device_props.as_ref());

        let runtapes = st.values.get("STORAGE_RUNTAPES").and_then(Val::as_int).unwrap_or(1);
        let options = ChangerOptions {
            properties,
            device_properties,
            changer_file,
            config_name: Some(site.name.clone()),
            storage_name: Some(storage_name.clone()),
            runtapes: u32::try_from(runtapes).unwrap_or(1),
        };
        Ok(Storage {
            policy,
            taperscan: str_of(st.values.get("STORAGE_TAPERSCAN")),
            chg_name,
            tpchanger,
            spec,
            options,
        })
    }

    /// Opens the changer; the error is Amanda's message.
    pub fn open(&self) -> Result<Box<dyn Changer>, String> {
        open_changer(&self.tpchanger, &self.options).map_err(|e| changer_error_text(&e))
    }

    /// `chg-disk` or `chg-single`, as Amanda names the changer type in messages.
    pub fn chg_type(&self) -> &'static str {
        match self.spec {
            ChangerSpec::Disk { .. } => "chg-disk",
            ChangerSpec::Single { .. } => "chg-single",
        }
    }

    /// Amanda's `match_labelstr` with this storage's labelstr and autolabel. A pattern
    /// that does not compile matches nothing (Amanda stops with the regex error).
    pub fn match_labelstr(
        &self,
        site: &Site,
        label: &str,
        barcode: Option<&str>,
        meta: Option<&str>,
    ) -> bool {
        let vars = site.vars(barcode, meta, Some(&self.policy.name));
        match_labelstr(&self.policy.labelstr, &self.policy.autolabel, label, &vars).unwrap_or(false)
    }

    /// The labelstr template as Amanda prints it in messages.
    pub fn labelstr_template(&self) -> &str {
        self.policy.labelstr.template.as_deref().unwrap_or("")
    }

    /// The chg-disk state file (where Amanda keeps the changer's meta label).
    fn state_path(&self) -> Option<PathBuf> {
        match &self.spec {
            ChangerSpec::Disk { dir } => {
                Some(self.options.changer_file.clone().unwrap_or_else(|| Path::new(dir).join("state")))
            }
            ChangerSpec::Single { .. } => None,
        }
    }

    /// The changer's meta label (chg-disk: `meta` in its state; others: none).
    pub fn get_meta(&self) -> Result<Option<String>, String> {
        let Some(path) = self.state_path() else { return Ok(None) };
        let locked = LockedFile::lock(&path, Duration::from_secs(1000))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let state = parse_state(locked.contents()).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(state.get("meta").and_then(PerlValue::as_str).map(str::to_owned))
    }

    /// Records the changer's meta label (chg-disk only, as Amanda's `set_meta_label`).
    pub fn set_meta(&self, meta: &str) -> Result<(), String> {
        let Some(path) = self.state_path() else { return Ok(()) };
        let mut locked = LockedFile::lock(&path, Duration::from_secs(1000))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut state = parse_state(locked.contents()).map_err(|e| format!("{}: {e}", path.display()))?;
        state.insert("meta", PerlValue::Scalar(meta.to_owned()));
        locked.write(&dump_state(&state)).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The slots Amanda's `info slots` lists: chg-disk's slot directories (not the blank
    /// ones `auto-create-slot` would add), the one drive of chg-single.
    pub fn slots(&self, changer: &mut dyn Changer) -> Result<Vec<u32>, ChangerError> {
        let inventory = changer.inventory()?;
        Ok(inventory
            .iter()
            .map(|s| s.slot)
            .filter(|slot| match &self.spec {
                ChangerSpec::Disk { dir } => Path::new(dir).join(format!("slot{slot}")).is_dir(),
                ChangerSpec::Single { .. } => true,
            })
            .collect())
    }

    /// Amanda's `make_new_tape_label`: a new label from the autolabel template, not yet in
    /// the tapelist. The error is Amanda's message.
    pub fn make_new_tape_label(
        &self,
        site: &Site,
        tl: &Tapelist,
        barcode: Option<&str>,
        meta: Option<&str>,
        slot: u32,
    ) -> Result<String, String> {
        let template = self.policy.autolabel.template.clone().unwrap_or_default();
        if template.is_empty() {
            return Err("template is not set, you must set autolabel".into());
        }
        let mut slot_digits = 1;
        let mut t = template
            .replace("$$", "\u{1}D")
            .replace("$b", "\u{1}B")
            .replace("$m", "\u{1}M")
            .replace("$o", "\u{1}O")
            .replace("$c", "\u{1}C")
            .replace("$r", "\u{1}R");
        if let Some(pos) = find_slot_token(&t) {
            let digits: String = t[pos + 1..].chars().take_while(char::is_ascii_digit).collect();
            slot_digits = digits.parse::<usize>().unwrap_or(1).max(1);
            // Every `$Ns` becomes the slot marker, as Amanda's `s/\$[0-9]*s/…/g`.
            while let Some(p) = find_slot_token(&t) {
                let len = 1 + t[p + 1..].chars().take_while(char::is_ascii_digit).count() + 1;
                t.replace_range(p..p + len, "\u{1}S");
            }
        }
        let org = site.cfg.global_str("CNF_ORG");
        t = t
            .replace("\u{1}D", "$")
            .replace("\u{1}O", org)
            .replace("\u{1}C", &site.name)
            .replace("\u{1}M", meta.unwrap_or(""))
            .replace("\u{1}R", &self.policy.name);
        let barcode_text = barcode.unwrap_or("");
        let slot_text = format!("{slot:0slot_digits$}");
        let percents = single_run(&t, '%');
        let bangs = single_run(&t, '!');
        if percents > 0 && bangs > 0 {
            return Err("Can't generate label: '%' and '!' in autolabel".into());
        }
        let label = if percents == 0 && bangs == 0 {
            let label = t.replace("\u{1}B", barcode_text).replace("\u{1}S", &slot_text);
            if label == t {
                return Err("autolabel require at least one '%' or '!'".into());
            }
            if tl.lookup(&label).is_some() {
                return Err(format!("Label '{label}' already exists"));
            }
            label
        } else {
            let existing: BTreeSet<String> = tl
                .entries
                .iter()
                .map(|e| match &e.barcode {
                    Some(b) if !b.is_empty() => e.label.replace(b.as_str(), "\u{1}B"),
                    _ => e.label.clone(),
                })
                .collect();
            let found = if percents > 0 {
                let run = "%".repeat(percents);
                let max = 10u64.checked_pow(percents as u32).unwrap_or(u64::MAX);
                (1..max)
                    .map(|i| t.replacen(&run, &format!("{i:0percents$}"), 1))
                    .find(|l| !existing.contains(l))
            } else {
                let run = "!".repeat(bangs);
                let mut letters = vec![b'A'; bangs];
                loop {
                    let candidate = t.replacen(&run, &String::from_utf8_lossy(&letters), 1);
                    if !existing.contains(&candidate) {
                        break Some(candidate);
                    }
                    let mut j = bangs;
                    while j > 0 && letters[j - 1] == b'Z' {
                        letters[j - 1] = b'A';
                        j -= 1;
                    }
                    if j == 0 {
                        break None;
                    }
                    letters[j - 1] += 1;
                }
            };
            let Some(label) = found else {
                return Err("Can't label unlabeled volume: All labels used".into());
            };
            label.replace("\u{1}B", barcode_text).replace("\u{1}S", &slot_text)
        };
        if label.is_empty() {
            return Err("Generated label is empty".into());
        }
        Ok(label)
    }
}

/// Where `$` + digits + `s` starts in an autolabel template, if anywhere.
fn find_slot_token(t: &str) -> Option<usize> {
    let b = t.as_bytes();
    (0..b.len()).find(|&i| {
        if b[i] != b'$' {
            return false;
        }
        let mut j = i + 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        j < b.len() && b[j] == b's'
    })
}

/// Amanda counts `%` (or `!`) only when they form one run (`s/^[^%]*(%*)[^%]*$/…/`);
/// scattered ones count as none.
fn single_run(t: &str, c: char) -> usize {
    let first = t.find(c);
    let Some(first) = first else { return 0 };
    let run = t[first..].chars().take_while(|&x| x == c).count();
    if t[first + run..].contains(c) {
        0
    } else {
        run
    }
}

/// Amanda's text for a changer error.
pub(crate) fn changer_error_text(e: &ChangerError) -> String {
    match e {
        ChangerError::NoSuchSlot { slot, .. } => format!("Slot {slot} not found"),
        ChangerError::LabelNotFound { label, .. } => format!("Label '{label}' not found"),
        ChangerError::SlotInUse { slot, drive, pid, .. } => {
            format!("Slot {slot} is already in use by drive '{drive}' and process '{pid}'")
        }
        ChangerError::NoSuchDirectory { path, .. } => {
            format!("directory '{}' does not exist", path.display())
        }
        ChangerError::NotSupported { changer, operation } => {
            let kind = match parse_tpchanger(changer) {
                Ok(ChangerSpec::Disk { .. }) => "chg-disk",
                _ => "chg-single",
            };
            format!("'{kind}' does not support {operation}")
        }
        ChangerError::Device { source, .. } => device_error_text(source),
        other => other.to_string(),
    }
}

/// The slot an error concerns, when Amanda's error carries one.
pub(crate) fn changer_error_slot(e: &ChangerError) -> Option<u32> {
    match e {
        ChangerError::NoSuchSlot { slot, .. } | ChangerError::SlotInUse { slot, .. } => Some(*slot),
        _ => None,
    }
}

/// A device's error as shown to the user: ours (naming device and file), except a vtape
/// slot without label file, which Amanda's VFS device reports as `File 0 not found`, and
/// a block that is not a header at all, whose bytes we do not echo.
pub(crate) fn device_error_text(e: &DeviceError) -> String {
    match e {
        DeviceError::NotLabelled { reason, .. } if reason.starts_with("no file 00000.") => {
            "File 0 not found".into()
        }
        DeviceError::BadHeader { at, source: HeaderError::NotAmanda { .. } } => {
            format!("{at}: not an Amanda header")
        }
        other => other.to_string(),
    }
}

/// What a loaded volume holds, in Amanda's device-status terms.
pub(crate) enum VolState<'a> {
    /// A TAPESTART label (`DEVICE_STATUS_SUCCESS`).
    Labelled(&'a VolumeLabel),
    /// Nothing (`VOLUME_UNLABELED`, F_EMPTY header).
    Blank,
    /// Something that is not Amanda's (`VOLUME_UNLABELED`, F_WEIRD header).
    Foreign,
    /// A label that cannot be read (`VOLUME_ERROR`).
    VolumeError(&'a DeviceError),
    /// The device failed.
    Failed(&'a DeviceError),
}

/// Classifies a label read. Our devices report a blank volume and foreign data both as
/// `NotLabelled`; the reason tells them apart. A vtape label file that exists but is
/// blank is, as for Amanda's VFS device, an unreadable label, not an empty volume.
pub(crate) fn vol_state(label: &Result<VolumeLabel, DeviceError>) -> VolState<'_> {
    match label {
        Ok(l) => VolState::Labelled(l),
        Err(e @ DeviceError::NotLabelled { at, reason }) => {
            let vtape = at.device.starts_with("file:");
            let blank = reason.starts_with("no file 00000.")
                || reason == "the tape is blank"
                || (reason.ends_with(" is blank") && !vtape);
            if blank {
                VolState::Blank
            } else if vtape {
                VolState::VolumeError(e)
            } else {
                VolState::Foreign
            }
        }
        Err(
            e @ (DeviceError::BadHeader { .. }
            | DeviceError::TruncatedHeader { .. }
            | DeviceError::UnexpectedHeader { .. }),
        ) => VolState::VolumeError(e),
        Err(e) => VolState::Failed(e),
    }
}

/// Keeps the current slot across loads Amanda makes without `set_current` (our
/// `load_slot` always makes the slot current): remembers it, and [`CurrentGuard::restore`]
/// loads it again (and releases it) if it changed.
pub(crate) struct CurrentGuard(Option<u32>);

impl CurrentGuard {
    pub fn save(changer: &mut dyn Changer) -> CurrentGuard {
        CurrentGuard(changer.current_slot().ok().flatten())
    }

    pub fn restore(self, changer: &mut dyn Changer) {
        let Some(slot) = self.0 else { return };
        if changer.current_slot().ok().flatten() != Some(slot) {
            if let Ok(volume) = changer.load_slot(slot) {
                let _ = changer.release(volume);
            }
        }
    }
}

/// Makes `slot` current (load and release), ignoring failures, for the places where
/// Amanda moves the current slot without keeping the volume.
fn set_current(changer: &mut dyn Changer, slot: u32) {
    if let Ok(volume) = changer.load_slot(slot) {
        let _ = changer.release(volume);
    }
}

// ---------------------------------------------------------------------------------------
// Retention (server-src/tapefile.c `compute_retention` and friends).

/// Amanda's `RetentionType`, the kinds amrs computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetentionType {
    No,
    NoReuse,
    Tapes,
    OtherConfig,
}

impl RetentionType {
    /// `Amanda::Tapelist::get_retention_name`.
    pub fn name(self) -> &'static str {
        match self {
            RetentionType::No => "retention-no",
            RetentionType::NoReuse => "no-reuse",
            RetentionType::Tapes => "retention-tapes",
            RetentionType::OtherConfig => "other config",
        }
    }
}

/// The retention of every tapelist entry (same indexes as `Tapelist::entries`).
pub(crate) struct Retention {
    pub retention: Vec<bool>,
    pub retention_nb: Vec<bool>,
    pub kind: Vec<RetentionType>,
}

/// Whether entry `e` belongs to storage `p` (the test `compute_storage_retention_nb` and
/// `lookup_last_reusable_tape` share).
fn entry_in_storage(site: &Site, e: &TapeEntry, p: &StoragePolicy, pool_or_template: bool) -> bool {
    let template_ok = || {
        let vars = site.vars(e.barcode.as_deref(), e.meta.as_deref(), e.storage.as_deref());
        match_labelstr_template(p.labelstr.template.as_deref().unwrap_or(""), &e.label, &vars)
            .unwrap_or(false)
    };
    e.reuse
        && e.datestamp != "0"
        && e.config.as_ref().is_none_or(|c| *c == site.name)
        && e.storage.as_ref().is_none_or(|s| *s == p.name)
        && if pool_or_template {
            match &e.pool {
                Some(pool) => *pool == p.tapepool,
                None => template_ok(),
            }
        } else {
            e.pool.as_ref().is_none_or(|pool| *pool == p.tapepool) && template_ok()
        }
}

/// `compute_retention`: no-reuse and other-configuration volumes are retained; the newest
/// `retention-tapes` volumes of each storage are kept (`retention_nb`).
pub(crate) fn compute_retention(site: &Site, tl: &Tapelist) -> Retention {
    let n = tl.entries.len();
    let mut r = Retention {
        retention: vec![false; n],
        retention_nb: vec![false; n],
        kind: vec![RetentionType::No; n],
    };
    for (i, e) in tl.entries.iter().enumerate() {
        if !e.reuse {
            r.retention[i] = true;
            r.kind[i] = RetentionType::NoReuse;
        }
        if e.reuse && !r.retention[i] && e.config.as_ref().is_some_and(|c| *c != site.name) {
            r.retention[i] = true;
            r.kind[i] = RetentionType::OtherConfig;
        }
    }
    for name in site.cfg.list(SectionKind::Storage) {
        let Some(p) = storage_policy(&site.cfg, name) else { continue };
        if p.retention_tapes <= 0 {
            continue;
        }
        let mut count = 0;
        for (i, e) in tl.entries.iter().enumerate() {
            if !r.retention[i] && entry_in_storage(site, e, &p, true) {
                count += 1;
                if count <= p.retention_tapes {
                    r.retention_nb[i] = true;
                    r.kind[i] = RetentionType::Tapes;
                }
            }
        }
    }
    r
}

/// `get_last_reusable_tape_label` (skip 0): the oldest volume of the storage beyond its
/// `retention-tapes` newest.
fn oldest_reusable_volume(site: &Site, tl: &Tapelist, r: &Retention, p: &StoragePolicy) -> Option<String> {
    let mut count = 0;
    let mut oldest = None;
    for (i, e) in tl.entries.iter().enumerate() {
        if !r.retention[i] && entry_in_storage(site, e, p, false) {
            count += 1;
            oldest = Some(e.label.clone());
        }
    }
    if p.retention_tapes + 1 - count > 0 {
        None
    } else {
        oldest
    }
}

/// Amanda::Taper::Scan `is_reusable_volume` with `new_label_ok`.
fn is_reusable_volume(site: &Site, tl: &Tapelist, r: &Retention, p: &StoragePolicy, label: &str) -> bool {
    let Some(i) = tl.entries.iter().position(|e| e.label == label) else { return false };
    let e = &tl.entries[i];
    if !e.reuse || e.config.as_ref().is_some_and(|c| *c != site.name) {
        return false;
    }
    if e.pool.as_ref().is_some_and(|pool| *pool != p.tapepool) {
        return false;
    }
    if e.pool.is_none() {
        let vars = site.vars(e.barcode.as_deref(), e.meta.as_deref(), e.storage.as_deref());
        let template = p.labelstr.template.as_deref().unwrap_or("");
        if !match_labelstr_template(template, &e.label, &vars).unwrap_or(false) {
            return false;
        }
    }
    if e.datestamp == "0" {
        return true;
    }
    !r.retention[i] && !r.retention_nb[i]
}

// =======================================================================================
// amtape

const USAGE_HEAD: &str =
    "Usage: amtape [-o configoption]* <conf> <command> {<args>}\n  Valid commands are:\n";

/// The command list, as Amanda prints it (Text::Wrap to 60 columns, continuation lines
/// indented with two tabs and four spaces).
const USAGE_LIST: &str = "    clean [<drive>] clean a drive in the changer
    create          create the changer root directory
    current         load and show the contents of the current slot
    eject [<drive>] eject the volume in the specified drive
    inventory       show inventory of changer slots
    label <label>   load the volume with label <label>
    reset           reset changer to known state
    show [<slots>]  scan all slots (or listed slots) in the changer, starting
\t\t    with the current slot
    slot <slot> [drive <drive>] load the volume in slot <slot> in drive <drive>; <slot> can
\t\t    also be 'current', 'next', 'first', or
\t\t    'last'
    sync-catalog [request] [wait] sync the catalog whith the devices.
    taper           perform the taperscan algorithm and display the result
    update [WHAT]   update the changer's state; see changer docs for syntax of
\t\t    WHAT
    usage           this message
    verify          verify the changer is correctly configured
";

const COMMANDS: &[&str] = &[
    "clean",
    "create",
    "current",
    "eject",
    "inventory",
    "label",
    "reset",
    "show",
    "slot",
    "sync-catalog",
    "taper",
    "update",
    "usage",
    "verify",
];

fn usage() -> i32 {
    eprint!("{USAGE_HEAD}");
    print!("{USAGE_LIST}");
    1
}

/// Amanda's `failure`: `ERROR: [Slot: N: ]MESSAGE`, exit status 1.
fn failure(message: &str, slot: Option<&str>) -> i32 {
    match slot {
        Some(slot) => eprintln!("ERROR: Slot: {slot}: {message}"),
        None => eprintln!("ERROR: {message}"),
    }
    1
}

fn changer_failure(e: &ChangerError) -> i32 {
    failure(&changer_error_text(e), changer_error_slot(e).map(|s| s.to_string()).as_deref())
}

/// Amanda's `show_slot`, on standard error.
fn show_slot(volume: &LoadedVolume) {
    match &volume.label {
        Ok(l) => eprintln!("slot {:>3}: time {:<14} label {}", volume.slot, l.datestamp, l.label),
        Err(e) => eprintln!("slot {:>3}: Could not open device: {}", volume.slot, device_error_text(e)),
    }
}

struct Amtape {
    site: Site,
    storage: Storage,
    changer: Box<dyn Changer>,
    tapelist: Tapelist,
}

pub fn main(argv: &[String]) -> i32 {
    // Amanda: GetOptions('version', 'help|usage|?', 'o=s') or usage(); handlers run in
    // command-line order, errors only count at the end.
    let parsed = getopt(argv, &["version", "help|usage|?", "o=s"]);
    let mut overrides = Vec::new();
    let mut bad_option = false;
    for item in parsed.items {
        match item {
            Item::Opt("version", _) => {
                println!("amtape-{}", env!("CARGO_PKG_VERSION"));
                return 0;
            }
            Item::Opt("o", value) => match Override::parse(&value.unwrap_or_default()) {
                Ok(o) => overrides.push(o),
                Err(m) => {
                    eprintln!("amtape: {m}");
                    return 1;
                }
            },
            Item::Opt(_, _) => return usage(),
            Item::Error(_) => bad_option = true,
        }
    }
    if bad_option {
        return usage();
    }
    let mut args = parsed.args;
    if args.is_empty() {
        return usage();
    }
    let config_name = args.remove(0);
    let site = Site::load(&config_name, &overrides);
    if site.report_diagnostics() {
        eprintln!("amtape: errors processing config file at /usr/sbin/amtape line 788.\n");
        return 1;
    }
    let tapelist = match Tapelist::read(&site.tapelist_path()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ERROR: {e}");
            Tapelist::default()
        }
    };
    let Some(command) = args.first().cloned().filter(|c| COMMANDS.contains(&c.as_str())) else {
        return usage();
    };
    let args = &args[1..];
    // Commands that check their arguments before opening the changer.
    match command.as_str() {
        "usage" => return usage(),
        "show" if args.len() > 1 => return usage(),
        "current" if !args.is_empty() => return usage(),
        "slot" if args.len() != 1 && args.len() != 3 => return usage(),
        "label" if args.len() != 1 => return usage(),
        "taper" if !args.is_empty() => return usage(),
        "create" | "verify" | "sync-catalog" => {
            return failure(&format!("amtape {command} is not implemented by amrs"), None);
        }
        _ => {}
    }
    let storage = match Storage::resolve(&site) {
        Ok(s) => s,
        Err(m) => return failure(&m, None),
    };
    let changer = match storage.open() {
        Ok(c) => c,
        Err(m) => return failure(&m, None),
    };
    let mut t = Amtape { site, storage, changer, tapelist };
    match command.as_str() {
        "reset" => t.reset(),
        "eject" => t.eject(),
        "clean" if args.len() > 1 => usage(),
        "clean" => t.clean(),
        "show" => t.show(args.first().map(String::as_str)),
        "inventory" if !args.is_empty() => {
            // Amanda checks the arguments after opening the storage, and complains that
            // it was not closed.
            let code = usage();
            eprintln!("amtape: Storage '{}' not quit", t.storage.policy.name);
            eprintln!("amtape: Changer '{}' not quit", t.storage.chg_name);
            code
        }
        "inventory" => t.inventory(),
        "current" => t.slot("current"),
        "slot" => t.slot(&args[0]),
        "label" => t.label(&args[0]),
        "taper" => t.taper(),
        "update" => t.update(),
        _ => usage(),
    }
}

impl Amtape {
    fn reset(&mut self) -> i32 {
        match self.changer.reset() {
            Ok(()) => {
                eprintln!("changer is reset");
                0
            }
            Err(e) => changer_failure(&e),
        }
    }

    /// Amanda's chg-single has no `eject` (ours can eject a tape; Amanda's cannot, and
    /// scripts see its answer).
    fn eject(&mut self) -> i32 {
        if matches!(self.storage.spec, ChangerSpec::Single { .. }) {
            return failure("'chg-single' does not support eject", None);
        }
        match self.changer.eject() {
            Ok(()) => {
                eprintln!("drive ejected");
                0
            }
            Err(e) => changer_failure(&e),
        }
    }

    fn clean(&mut self) -> i32 {
        failure(&format!("'{}' does not support clean", self.storage.chg_type()), None)
    }

    fn update(&mut self) -> i32 {
        match self.storage.spec {
            ChangerSpec::Disk { .. } => failure("'chg-disk' does not support update", None),
            ChangerSpec::Single { .. } => {
                eprintln!("update failed");
                0
            }
        }
    }

    /// `show [SLOTS]`: Changer.pm `show`, loading without making slots current.
    fn show(&mut self, slots_arg: Option<&str>) -> i32 {
        let mut slots: Vec<String> = Vec::new();
        if let Some(what) = slots_arg {
            for part in what.split(',') {
                let range = part.split_once('-').filter(|(a, b)| {
                    a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit())
                });
                match range {
                    Some((a, b)) => {
                        // Perl numifies empty strings to 0.
                        let begin: u64 = a.parse().unwrap_or(0);
                        let end: u64 = b.parse::<u64>().unwrap_or(0).max(begin);
                        slots.extend((begin..=end).map(|s| s.to_string()));
                    }
                    None => slots.push(part.to_owned()),
                }
            }
        }
        if slots.is_empty() {
            match self.storage.slots(self.changer.as_mut()) {
                Ok(all) => {
                    eprintln!("scanning all {} slots in changer:", all.len());
                    slots = all.iter().map(u32::to_string).collect();
                }
                Err(e) => {
                    eprintln!("{}", changer_error_text(&e));
                    return 0;
                }
            }
        }
        let guard = CurrentGuard::save(self.changer.as_mut());
        for slot_text in &slots {
            let loaded = match slot_text.parse::<u32>() {
                Ok(slot) if slot_text == &slot.to_string() => self.changer.load_slot(slot),
                _ => {
                    eprintln!("slot {slot_text:>3}: Slot {slot_text} not found\n");
                    continue;
                }
            };
            match loaded {
                Ok(volume) => {
                    match &volume.label {
                        Ok(l) => {
                            let matched = self.storage.match_labelstr(&self.site, &l.label, None, None);
                            eprintln!(
                                "slot {:>3}: date {:<14} label {}{}",
                                volume.slot,
                                l.datestamp,
                                l.label,
                                if matched { "" } else { " (label do not match labelstr)" }
                            );
                        }
                        Err(e) => match vol_state(&volume.label) {
                            VolState::Blank | VolState::Foreign => {
                                eprintln!("slot {:>3}: unlabeled volume", volume.slot)
                            }
                            _ => eprintln!("slot {:>3}: {}", volume.slot, device_error_text(e)),
                        },
                    }
                    let _ = self.changer.release(volume);
                }
                Err(ChangerError::SlotInUse { slot, .. }) => eprintln!("slot {slot:>3}: in use"),
                Err(e @ ChangerError::NoSuchSlot { slot, .. }) => {
                    eprintln!("slot {slot:>3}: {}\n", changer_error_text(&e))
                }
                Err(e) => {
                    eprintln!("{}", changer_error_text(&e));
                    break;
                }
            }
        }
        guard.restore(self.changer.as_mut());
        0
    }

    /// `inventory`: one line per slot on standard output.
    fn inventory(&mut self) -> i32 {
        if matches!(self.storage.spec, ChangerSpec::Single { .. }) {
            // Amanda's chg-single knows nothing about its slot until it loads it.
            println!("slot 1: unknown state");
            return 0;
        }
        let inventory: Vec<SlotInfo> = match self.changer.inventory() {
            Ok(i) => i,
            Err(e) => {
                eprintln!("{}", changer_error_text(&e));
                return 0;
            }
        };
        let retention = compute_retention(&self.site, &self.tapelist);
        for sl in &inventory {
            let mut line = format!("slot {}:", sl.slot);
            let mut tle = None;
            let mut meta = None;
            match &sl.label {
                Some(label) => {
                    line.push_str(&format!(" label {label}"));
                    tle = self.tapelist.entries.iter().position(|e| e.label == *label);
                    if let Some(m) =
                        tle.and_then(|i| self.tapelist.entries[i].meta.clone()).filter(|m| !m.is_empty())
                    {
                        line.push_str(&format!(" ({m})"));
                        meta = Some(m);
                    }
                }
                None => line.push_str(" blank"),
            }
            if sl.reserved {
                line.push_str(" reserved");
            }
            if sl.current {
                line.push_str(" (current)");
            }
            if let Some(label) = &sl.label {
                if !self.storage.match_labelstr(&self.site, label, None, meta.as_deref()) {
                    line.push_str(" (label do not match labelstr)");
                }
            }
            if let Some(i) = tle {
                line.push_str(&format!(" [{}]", retention.kind[i].name()));
            }
            println!("{line}");
        }
        0
    }

    /// `slot N|current|next|first|last`.
    fn slot(&mut self, which: &str) -> i32 {
        let loaded = match which {
            "current" => self.changer.load_current(),
            "next" => self.changer.load_next(),
            "first" | "last" => {
                let slots = match self.changer.inventory() {
                    Ok(i) => i,
                    Err(e) => return changer_failure(&e),
                };
                let pick = if which == "first" { slots.first() } else { slots.last() };
                match pick {
                    Some(s) => self.changer.load_slot(s.slot),
                    None => return failure("Slot  not found", Some("")),
                }
            }
            n => match n.parse::<u32>() {
                Ok(slot) if n == slot.to_string() => self.changer.load_slot(slot),
                _ => return failure(&format!("Slot {n} not found"), Some(n)),
            },
        };
        match loaded {
            Ok(volume) => {
                show_slot(&volume);
                eprintln!("changed to slot {}", volume.slot);
                match self.changer.release(volume) {
                    Ok(()) => 0,
                    Err(e) => changer_failure(&e),
                }
            }
            Err(e) => changer_failure(&e),
        }
    }

    /// `label L`: Amanda's Recovery::Scan `find_volume` with the stdin interactivity.
    fn label(&mut self, label: &str) -> i32 {
        // Slots tried, with the label they held (a slot whose label changes is tried
        // again after the user answered).
        let mut seen: BTreeMap<u32, Option<String>> = BTreeMap::new();
        let mut current: Option<u32> = None;
        loop {
            let inventory = match self.changer.inventory() {
                Ok(i) => i,
                Err(e) => return changer_failure(&e),
            };
            // chg-single does not know its label before loading it.
            let known = |s: &SlotInfo| match self.storage.spec {
                ChangerSpec::Single { .. } => None,
                ChangerSpec::Disk { .. } => s.label.clone(),
            };
            seen.retain(|slot, label| {
                inventory.iter().find(|s| s.slot == *slot).is_some_and(|s| known(s) == *label)
            });
            if current.is_none() {
                current = inventory.iter().find(|s| s.current).or(inventory.first()).map(|s| s.slot);
            }
            let mut last_err: Option<String> = None;
            // Slots whose known label is the one wanted, then unknown ones from the
            // current slot on.
            let mut order: Vec<(u32, bool)> = inventory
                .iter()
                .filter(|s| known(s).as_deref() == Some(label))
                .map(|s| (s.slot, true))
                .collect();
            let start = inventory.iter().position(|s| Some(s.slot) == current).unwrap_or(0);
            for s in inventory[start..].iter().chain(inventory[..start].iter()) {
                if known(s).is_none() {
                    order.push((s.slot, false));
                }
            }
            for (slot, for_label) in order {
                if seen.contains_key(&slot) {
                    continue;
                }
                let info = inventory.iter().find(|s| s.slot == slot).expect("from inventory");
                if for_label && info.reserved {
                    return failure(&format!("Source volume '{label}' in slot {slot} is reserved"), None);
                }
                print!("slot {slot:>3}:");
                seen.insert(slot, known(info));
                match self.changer.load_slot(slot) {
                    Ok(volume) => {
                        match &volume.label {
                            Ok(l) => {
                                println!(" {}", l.label);
                                if l.label == label {
                                    show_slot(&volume);
                                    eprintln!("label {label} is now loaded from slot {}", volume.slot);
                                    return match self.changer.release(volume) {
                                        Ok(()) => 0,
                                        Err(e) => changer_failure(&e),
                                    };
                                }
                                last_err = None;
                            }
                            Err(e) => {
                                let text = device_error_text(e);
                                println!(" {text}");
                                last_err = Some(text);
                            }
                        }
                        if !for_label {
                            current = Some(slot);
                        }
                        if let Err(e) = self.changer.release(volume) {
                            return changer_failure(&e);
                        }
                    }
                    Err(e) => {
                        println!(" {}", changer_error_text(&e));
                        if for_label {
                            return changer_failure(&e);
                        }
                        last_err = Some(changer_error_text(&e));
                    }
                }
            }
            let message = last_err.unwrap_or_else(|| format!("Source Volume '{label}' not found"));
            if !stdin_readable() {
                // Amanda has no interactivity then, and the scan fails.
                return failure(&message, None);
            }
            println!("{message}\n");
            println!("Insert volume labeled '{label}' in {}", self.storage.chg_name);
            println!("and press <enter> enter, or ^D to abort.");
            let mut line = String::new();
            match std::io::stdin().lock().read_line(&mut line) {
                Ok(0) => return failure("Aborted by user", None),
                Err(_) => return failure("Fail to read from stdin", None),
                Ok(_) => {}
            }
        }
    }

    /// `taper`: Amanda::Taper::Scan::traditional, reporting as amtape's user_msg_fn.
    fn taper(&mut self) -> i32 {
        let name = &self.storage.taperscan;
        if !name.is_empty() {
            let plugin = self
                .site
                .cfg
                .lookup(SectionKind::Taperscan, name)
                .map(|s| str_of(s.values.get("TAPERSCAN_PLUGIN")))
                .unwrap_or_else(|| name.clone());
            if plugin != "traditional" {
                return failure(&format!("taperscan '{plugin}' is not implemented by amrs"), None);
            }
        }
        match self.taper_scan() {
            Ok((volume, label)) => {
                let slot = volume.slot;
                match vol_state(&volume.label) {
                    VolState::Labelled(l) if l.label == label => {
                        eprintln!("Will write to volume '{label}' in slot {slot}.")
                    }
                    VolState::Labelled(l) => eprintln!(
                        "Will write label '{label}' to '{}' labelled volume in slot {slot}.",
                        l.label
                    ),
                    VolState::Blank => eprintln!("Will write label '{label}' to new volume in slot {slot}."),
                    _ => eprintln!("Will write label '{label}' to non-Amanda volume in slot {slot}."),
                }
                match self.changer.release(volume) {
                    Ok(()) => 0,
                    Err(e) => changer_failure(&e),
                }
            }
            Err(message) => failure(&message, None),
        }
    }

    /// One slot's result line (amtape's `taper_user_msg_fn` for a loaded volume).
    fn taper_slot_text(&self, volume: &LoadedVolume, flag: TaperFlag) -> String {
        match vol_state(&volume.label) {
            VolState::Labelled(l) => match flag {
                TaperFlag::Active => {
                    format!(" volume '{}' is still active and cannot be overwritten", l.label)
                }
                TaperFlag::NoMatch => {
                    format!(" volume '{}' does not match labelstr '{}'", l.label, self.scan_labelstr())
                }
                TaperFlag::NotInTapelist => format!(" volume '{}' is not in the tapelist", l.label),
                TaperFlag::None => format!(" volume '{}'", l.label),
            },
            VolState::Blank => " contains an empty volume".into(),
            VolState::Foreign => {
                if self.storage.policy.autolabel.flags & autolabel_flags::NON_AMANDA != 0 {
                    " contains a non-Amanda volume".into()
                } else {
                    " contains a non-Amanda volume; check and relabel it with 'amlabel -f'".into()
                }
            }
            VolState::VolumeError(e) => format!(" can't read label: {}", device_error_text(e)),
            VolState::Failed(e) => format!(" {}", device_error_text(e)),
        }
    }

    /// The labelstr the taperscan names: the autolabel template under MATCH-AUTOLABEL.
    fn scan_labelstr(&self) -> String {
        let p = &self.storage.policy;
        if p.labelstr.match_autolabel {
            p.autolabel.template.clone().unwrap_or_default()
        } else {
            p.labelstr.template.clone().unwrap_or_default()
        }
    }

    /// The scan itself: the volume to write and its label, or the error message.
    fn taper_scan(&mut self) -> Result<(LoadedVolume, String), String> {
        let policy = self.storage.policy.clone();
        let retention = compute_retention(&self.site, &self.tapelist);
        let mut seen: BTreeSet<u32> = BTreeSet::new();

        // Stage 1: the oldest reusable volume, when the changer can find a label fast.
        let oldest = oldest_reusable_volume(&self.site, &self.tapelist, &retention, &policy);
        if let (Some(oldest), ChangerSpec::Disk { .. }) = (oldest, &self.storage.spec) {
            eprint!("Searching for label '{oldest}':");
            match self.changer.load_label(&oldest) {
                Err(e) => {
                    if let Some(slot) = changer_error_slot(&e) {
                        eprint!("slot {slot}:");
                    }
                    eprintln!(" {}", changer_error_text(&e));
                    match e {
                        ChangerError::LabelNotFound { .. }
                        | ChangerError::SlotInUse { .. }
                        | ChangerError::NoSuchSlot { .. }
                        | ChangerError::Device { .. } => {}
                        e => return Err(changer_error_text(&e)),
                    }
                }
                Ok(volume) => {
                    eprint!(" found in slot {}:", volume.slot);
                    eprintln!("{}", self.taper_slot_text(&volume, TaperFlag::None));
                    seen.insert(volume.slot);
                    let ok = match &volume.label {
                        Ok(l) => {
                            l.label == oldest && self.storage.match_labelstr(&self.site, &l.label, None, None)
                        }
                        Err(_) => false,
                    };
                    if ok {
                        return Ok((volume, oldest));
                    }
                    self.changer.release(volume).map_err(|e| changer_error_text(&e))?;
                }
            }
        }

        // Stage 2: every slot from the current one.
        let slots = self.storage.slots(self.changer.as_mut()).map_err(|e| changer_error_text(&e))?;
        let mut last_slot: Option<u32> = None;
        let mut first = true;
        loop {
            let loaded_current = first;
            let loaded = if first {
                first = false;
                match self.changer.current_slot() {
                    Ok(Some(c)) if seen.contains(&c) => None,
                    _ => Some(self.changer.load_current()),
                }
            } else {
                let from = match last_slot {
                    Some(s) => Some(s),
                    None => self.changer.current_slot().ok().flatten(),
                };
                let next = next_slot(&slots, from);
                match next {
                    Some(n) if !seen.contains(&n) => Some(self.changer.load_slot(n)),
                    Some(n) => {
                        // Amanda moves the current slot before finding it was tried.
                        set_current(self.changer.as_mut(), n);
                        None
                    }
                    None => None,
                }
            };
            let Some(loaded) = loaded else {
                eprintln!(" all slots have been loaded");
                eprintln!("UNKNOWN");
                return Err("No acceptable volumes found".into());
            };
            let volume = match loaded {
                Ok(v) => v,
                Err(e) => {
                    match changer_error_slot(&e) {
                        Some(slot) => eprint!("slot {slot}:"),
                        None => eprint!("slot ?:"),
                    }
                    eprintln!(" {}", changer_error_text(&e));
                    let ignore =
                        matches!(e, ChangerError::SlotInUse { .. } | ChangerError::NoSuchSlot { .. })
                            || (loaded_current && matches!(e, ChangerError::Device { .. }));
                    if !ignore {
                        return Err(changer_error_text(&e));
                    }
                    if let Some(slot) = changer_error_slot(&e) {
                        last_slot = Some(slot);
                        seen.insert(slot);
                    }
                    continue;
                }
            };
            let slot = volume.slot;
            eprint!("slot {slot}:");
            seen.insert(slot);
            match self.try_volume(&volume, &policy, &retention) {
                Try::Take(label) => return Ok((volume, label)),
                Try::Skip => {
                    last_slot = Some(slot);
                    self.changer.release(volume).map_err(|e| changer_error_text(&e))?;
                }
                Try::Fail(message) => {
                    let _ = self.changer.release(volume);
                    return Err(message);
                }
            }
        }
    }

    /// The traditional taperscan's `try_volume` for one loaded slot.
    fn try_volume(&self, volume: &LoadedVolume, policy: &StoragePolicy, retention: &Retention) -> Try {
        let autolabel = &policy.autolabel;
        let say = |flag| eprintln!("{}", self.taper_slot_text(volume, flag));
        let state = vol_state(&volume.label);
        if let VolState::Labelled(l) = state {
            let label = l.label.as_str();
            match self.tapelist.lookup(label) {
                None => {
                    if !self.storage.match_labelstr(&self.site, label, None, None) {
                        if autolabel.flags & autolabel_flags::OTHER_CONFIG == 0 {
                            say(TaperFlag::NoMatch);
                            return Try::Skip;
                        }
                    } else {
                        say(TaperFlag::NotInTapelist);
                        return Try::Skip;
                    }
                }
                Some(tle) => {
                    let other_config = tle.config.as_ref().is_some_and(|c| *c != self.site.name);
                    let other_pool = tle.pool.as_ref().is_some_and(|p| *p != policy.tapepool);
                    if other_config || other_pool {
                        say(TaperFlag::None);
                        return Try::Skip;
                    }
                    if tle.pool.is_none() && !self.storage.match_labelstr(&self.site, label, None, None) {
                        say(TaperFlag::NoMatch);
                        return Try::Skip;
                    }
                    if !is_reusable_volume(&self.site, &self.tapelist, retention, policy, label) {
                        say(TaperFlag::Active);
                        return Try::Skip;
                    }
                    say(TaperFlag::None);
                    return Try::Take(label.to_owned());
                }
            }
        }
        let template_set = autolabel.template.as_deref().is_some_and(|t| !t.is_empty());
        let allowed = match state {
            _ if !template_set => false,
            VolState::Blank => autolabel.flags & autolabel_flags::EMPTY != 0,
            VolState::Foreign => autolabel.flags & autolabel_flags::NON_AMANDA != 0,
            VolState::VolumeError(_) => autolabel.flags & autolabel_flags::VOLUME_ERROR != 0,
            VolState::Failed(_) => false,
            VolState::Labelled(_) => true,
        };
        if !allowed {
            // Amanda passes the device's error along with these, and prints it alone.
            match state {
                VolState::VolumeError(e) | VolState::Failed(e) => eprintln!(" {}", device_error_text(e)),
                _ => say(TaperFlag::None),
            }
            return Try::Skip;
        }
        say(TaperFlag::None);
        let meta = match self.storage.get_meta() {
            Ok(m) => m,
            Err(e) => return Try::Fail(e),
        };
        match self.storage.make_new_tape_label(&self.site, &self.tapelist, None, meta.as_deref(), volume.slot)
        {
            Ok(label) => Try::Take(label),
            Err(e) => Try::Fail(e),
        }
    }
}

/// What a taperscan slot message adds to ` volume 'L'`.
#[derive(Clone, Copy)]
enum TaperFlag {
    None,
    Active,
    NoMatch,
    NotInTapelist,
}

/// The taperscan's verdict on one slot.
enum Try {
    Take(String),
    Skip,
    Fail(String),
}

/// Perl's `-r STDIN`, which decides whether Amanda may ask on standard input: the file
/// behind descriptor 0 is readable by the effective user (always, for root).
fn stdin_readable() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata("/proc/self/fd/0") else { return false };
    let uid = nix::unistd::geteuid().as_raw();
    if uid == 0 {
        return true;
    }
    let mode = meta.mode();
    if meta.uid() == uid {
        return mode & 0o400 != 0;
    }
    let in_group = nix::unistd::getegid().as_raw() == meta.gid()
        || nix::unistd::getgroups().is_ok_and(|g| g.iter().any(|g| g.as_raw() == meta.gid()));
    if in_group {
        mode & 0o040 != 0
    } else {
        mode & 0o004 != 0
    }
}

/// chg-disk's `_get_next` over the slot list: the next slot, wrapping around.
fn next_slot(slots: &[u32], from: Option<u32>) -> Option<u32> {
    let from = from?;
    slots.iter().copied().find(|&s| s > from).or_else(|| slots.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autolabel_runs_count_only_when_contiguous() {
        assert_eq!(single_run("TEST-%%%", '%'), 3);
        assert_eq!(single_run("T%-%", '%'), 0);
        assert_eq!(single_run("TEST", '%'), 0);
        assert_eq!(find_slot_token("A-\u{1}S"), None);
        assert_eq!(find_slot_token("A-$3s"), Some(2));
    }

    #[test]
    fn next_slot_wraps() {
        assert_eq!(next_slot(&[1, 2, 5], Some(2)), Some(5));
        assert_eq!(next_slot(&[1, 2, 5], Some(5)), Some(1));
        assert_eq!(next_slot(&[1], Some(1)), Some(1));
        assert_eq!(next_slot(&[], Some(1)), None);
    }
}
