//! `amlabel`: write a volume label and record it in the tapelist, or (`--assign`) change
//! the tapelist's metadata of labels, as Amanda 3.5.1's `server-src/amlabel.pl` and
//! `perl/Amanda/Label.pm` do.
//!
//! `amlabel [-f] [--barcode B] [--meta M] [--assign [--pool P] [--storage S]] [--version]
//! [-o NAME=VALUE]… CONFIG [LABEL] [slot N]`
//!
//! Labelling: the slot (or the current one) is loaded and its label read (`Reading
//! label...`); what is found decides whether it may be overwritten:
//!
//! - blank: yes (`Found an empty tape.`);
//! - a label of this configuration in the tapelist: only with `-f` (`Volume with label 'L'
//!   is active and contains data from this configuration.`, then with `-f` the hint to run
//!   `amrmtape`); a label of another configuration or pool, one not in the tapelist, one
//!   not matching `labelstr`, foreign data or an unreadable label: only with `-f`;
//! - a device failure: never.
//!
//! The new label (given, or made from `autolabel`) must match `labelstr` and, without
//! `-f`, not be in the tapelist already. It is written (`Writing label 'L'...`), read back
//! (`Checking label...`) and recorded in the tapelist (`0 L reuse [BARCODE:…] [META:…]
//! BLOCKSIZE:KiB POOL:P STORAGE:S CONFIG:C`, replacing an entry of the same label; the
//! tapelist is rewritten atomically under its lock), then `Success!`.
//!
//! Messages go to standard output; an error is also printed on standard error and makes
//! the exit status 1 (Amanda's `user_msg` and `failure`). Errors that stop before a volume
//! is read (usage, configuration, tapelist, a label already used) go to standard error
//! only. The tapelist is changed only after the label was written and read back.
//!
//! `--assign LABEL` (LABEL is a regular expression, as in Amanda): sets META, BARCODE,
//! POOL and STORAGE of the matching tapelist entries (an empty value removes META or
//! BARCODE); changing a value already set needs `-f`.
//!
//! Deliberate differences from Amanda 3.5.1:
//! - `--version` prints `amlabel-<amrs version>`, as our `amgetconf` does.
//! - Device errors are ours (they name the device and the file); a truncated label file
//!   is reported as unreadable (Amanda reads what it can).
//! - `meta-autolabel` is not used to make a meta label (Amanda uses it for removable-disk
//!   changers, which amrs does not implement).
//! - `--assign`'s LABEL is a POSIX extended regex (Amanda: a Perl one).
//! - A tapelist that cannot be written is reported (naming the file) and exits 1; Amanda
//!   dies.
//! - Amanda refuses to run as another user than its dump user; we do not check.

use crate::catalog::tapelist::{TapeEntry, Tapelist, TapelistLock};
use crate::cli::amtape::{
    changer_error_text, device_error_text, vol_state, CurrentGuard, Site, Storage, VolState,
};
use crate::cli::getopt::getopt;
use crate::cmdline::match_regex;
use crate::config::Override;
use crate::device::changer::{Changer, LoadedVolume};
use crate::device::{AccessMode, Device};

const USAGE: &str = "Usage: amlabel [--barcode <barcode>] [--meta <meta>] [--version]
 [--assign [--pool <pool>] [--storage <storage>]] [-f]
 [-o configoption]*
 <conf> [<label>] [slot <slot-number>]
";

fn usage() -> i32 {
    eprint!("{USAGE}");
    1
}

#[derive(Default)]
struct Args {
    force: bool,
    barcode: Option<String>,
    meta: Option<String>,
    pool: Option<String>,
    storage: Option<String>,
    assign: bool,
    overrides: Vec<Override>,
    config: String,
    label: Option<String>,
    slot: Option<String>,
}

fn parse_args(argv: &[String]) -> Result<Args, i32> {
    // Amanda: GetOptions(...) or usage(); handlers (`--version`, `--help`, `-o`) run in
    // command-line order, errors only count at the end.
    let spec =
        ["version", "help|usage|?", "o=s", "f", "barcode=s", "meta=s", "pool=s", "storage=s", "assign"];
    let (options, bad_option, pos) = getopt(argv, &spec).lenient();
    let mut a = Args::default();
    for (name, value) in options {
        match name {
            "version" => {
                println!("amlabel-{}", env!("CARGO_PKG_VERSION"));
                return Err(0);
            }
            "o" => match Override::parse(&value.unwrap_or_default()) {
                Ok(o) => a.overrides.push(o),
                Err(m) => {
                    eprintln!("amlabel: {m}");
                    return Err(1);
                }
            },
            "f" => a.force = true,
            "barcode" => a.barcode = value,
            "meta" => a.meta = value,
            "pool" => a.pool = value,
            "storage" => a.storage = value,
            "assign" => a.assign = true,
            _ => return Err(usage()),
        }
    }
    if bad_option {
        return Err(usage());
    }
    match pos.as_slice() {
        [] => return Err(usage()),
        [c] => a.config = c.clone(),
        [c, l] => (a.config, a.label) = (c.clone(), Some(l.clone())),
        [c, kw, s] if kw == "slot" => (a.config, a.slot) = (c.clone(), Some(s.clone())),
        [c, l, kw, s] if kw == "slot" => {
            (a.config, a.label, a.slot) = (c.clone(), Some(l.clone()), Some(s.clone()))
        }
        _ => return Err(usage()),
    }
    Ok(a)
}

/// Messages and the exit status they imply (Amanda's `user_msg`).
#[derive(Default)]
struct Out {
    status: i32,
}

impl Out {
    fn info(&mut self, msg: &str) {
        println!("{msg}");
    }

    fn error(&mut self, msg: &str) {
        println!("{msg}");
        self.status = 1;
    }

    /// An error that ends the run: reported by `releasing` (standard output) and by
    /// `failure` (standard error).
    fn fail(&mut self, msg: &str) -> i32 {
        println!("{msg}");
        eprintln!("{msg}");
        1
    }
}

pub fn main(argv: &[String]) -> i32 {
    let a = match parse_args(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let site = Site::load(&a.config, &a.overrides);
    if site.report_diagnostics() {
        // Amanda prints this without a newline.
        eprint!("errors processing config file");
        return 1;
    }
    let tlf = site.tapelist_path();
    let tapelist = match Tapelist::read(&tlf) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("Can't load tapelist file ({}): {e}", tlf.display());
            return 1;
        }
    };
    let storage = match Storage::resolve(&site) {
        Ok(s) => s,
        Err(m) => {
            eprintln!("{m}");
            return 1;
        }
    };
    let mut changer = match storage.open() {
        Ok(c) => c,
        Err(m) => {
            eprintln!("{m}");
            return 1;
        }
    };
    let mut l = Labeler { site: &site, storage: &storage, tapelist, out: Out::default() };
    if a.assign {
        return l.assign(&a, changer.as_mut());
    }
    if let Some(label) = &a.label {
        if !a.force && l.tapelist.lookup(label).is_some() {
            eprintln!("Label '{label}' already on a volume");
            return 1;
        }
    }
    l.label(&a, changer.as_mut())
}

struct Labeler<'a> {
    site: &'a Site,
    storage: &'a Storage,
    tapelist: Tapelist,
    out: Out,
}

impl Labeler<'_> {
    /// Label.pm `label`.
    fn label(&mut self, a: &Args, changer: &mut dyn Changer) -> i32 {
        self.out.info("Reading label...");
        let guard = CurrentGuard::save(changer);
        let loaded = match (&a.slot, &a.barcode) {
            (Some(slot), _) => match slot.parse::<u32>() {
                Ok(n) if *slot == n.to_string() => changer.load_slot(n),
                _ => return self.out.fail(&format!("Slot {slot} not found")),
            },
            // Our changers know no barcodes, so no volume has the one asked for.
            (None, Some(barcode)) => {
                return self.out.fail(&format!("No volume with barcode '{barcode}' available."));
            }
            (None, None) => changer.load_current(),
        };
        let mut volume = match loaded {
            Ok(v) => v,
            Err(e) => {
                guard.restore(changer);
                return self.out.fail(&changer_error_text(&e));
            }
        };
        let result = self.label_loaded(a, &mut volume);
        let released = changer.release(volume);
        if a.slot.is_some() {
            guard.restore(changer);
        }
        match (result, released) {
            (Err(msg), _) => self.out.fail(&msg),
            (Ok(()), Err(e)) => self.out.fail(&changer_error_text(&e)),
            (Ok(()), Ok(())) => self.out.status,
        }
    }

    /// From the loaded volume to the updated tapelist; `Err` is the final error.
    fn label_loaded(&mut self, a: &Args, volume: &mut LoadedVolume) -> Result<(), String> {
        let (site, storage) = (self.site, self.storage);
        if let (Some(slot), Some(_)) = (&a.slot, &a.barcode) {
            return Err(format!("Volume in slot {slot} have no barcode."));
        }
        let mut dev_ok = true;
        match vol_state(&volume.label) {
            VolState::Blank => self.out.info("Found an empty tape."),
            VolState::Foreign => {
                self.say("Found a non-Amanda tape.", !a.force);
                dev_ok = a.force;
            }
            VolState::VolumeError(e) => {
                self.say(&format!("Error reading volume label: {}.", device_error_text(e)), !a.force);
                dev_ok = a.force;
            }
            VolState::Failed(e) => {
                self.out.error(&format!("Error reading volume label: {}.", device_error_text(e)));
                dev_ok = false;
            }
            VolState::Labelled(found) => {
                let old = found.label.as_str();
                let tle = self.tapelist.lookup(old).cloned();
                let new_mismatch = a.label.as_deref().is_some_and(|new| {
                    !storage.labelstr_template().is_empty() && !storage.match_labelstr(site, new, None, None)
                });
                let no_match = format!(
                    "Found label '{old}' but it doesn't match the labelstr '{}'.",
                    storage.labelstr_template()
                );
                if new_mismatch {
                    self.out.error(&no_match);
                    dev_ok = a.force;
                } else if let Some(tle) = tle {
                    if let Some(config) = tle.config.as_ref().filter(|c| **c != site.name) {
                        self.out.error(&format!("Found label '{old}' but it is from config '{config}'"));
                        dev_ok = a.force;
                    } else if let Some(pool) = tle.pool.as_ref().filter(|p| **p != storage.policy.tapepool) {
                        self.out.error(&format!("Found label '{old}' but it is from tape pool '{pool}'."));
                        dev_ok = a.force;
                    } else if tle.pool.is_none() && !storage.match_labelstr(site, old, None, None) {
                        self.out.error(&no_match);
                        dev_ok = a.force;
                    } else {
                        self.say(
                            &format!(
                                "Volume with label '{old}' is active and contains data from this configuration."
                            ),
                            !a.force,
                        );
                        if a.force {
                            self.out.info(&format!(
                                "Consider using 'amrmtape' to remove volume '{old}' from the catalog."
                            ));
                        } else {
                            dev_ok = false;
                        }
                    }
                } else {
                    self.say(&format!("Found label '{old}' but it is not in the tapelist file."), !a.force);
                    dev_ok = a.force;
                }
            }
        }

        // The changer's meta label (chg-disk keeps one in its state file).
        let mut meta = storage.get_meta()?;
        if let (Some(dev_meta), Some(want)) = (&meta, &a.meta) {
            if dev_meta != want {
                return Err(format!(
                    "Device meta '{dev_meta}' is not the same as the --meta argument '{want}'"
                ));
            }
        }
        if meta.is_none() {
            meta = a.meta.clone();
        }
        let label = match &a.label {
            Some(l) => l.clone(),
            None => storage.make_new_tape_label(site, &self.tapelist, None, meta.as_deref(), volume.slot)?,
        };
        if a.label.is_some() && dev_ok && !storage.match_labelstr(site, &label, None, meta.as_deref()) {
            return Err(format!(
                "Label '{label}' doesn't match the labelstr '{}'.",
                storage.labelstr_template()
            ));
        }
        if !dev_ok {
            return Err("Not writing label.".into());
        }

        self.out.info(&format!("Writing label '{label}'..."));
        self.write_and_check(volume.device.as_mut(), &label)?;

        // Update the tapelist under its lock, from its current contents.
        let tlf = site.tapelist_path();
        let lock = TapelistLock::acquire(&tlf).map_err(|e| format!("Can't lock the tapelist file: {e}"))?;
        let mut tl = lock.read().map_err(|e| format!("Can't load tapelist file ({}): {e}", tlf.display()))?;
        tl.remove(&label);
        let mut entry = TapeEntry::new_labelled(&label);
        entry.meta = meta.clone();
        entry.block_size_kib = Some((volume.device.block_size_bytes() / 1024) as u64);
        entry.pool = Some(storage.policy.tapepool.clone());
        entry.storage = Some(storage.policy.name.clone());
        entry.config = Some(site.name.clone());
        tl.add(entry);
        lock.write(&tl).map_err(|e| format!("Can't write the tapelist file: {e}"))?;
        drop(lock);
        self.tapelist = tl;
        self.out.info("Success!");
        if let Some(m) = &a.meta {
            storage.set_meta(m)?;
        }
        Ok(())
    }

    /// An error when `error`, else information (Amanda's severity depends on `-f`).
    fn say(&mut self, msg: &str, error: bool) {
        if error {
            self.out.error(msg);
        } else {
            self.out.info(msg);
        }
    }

    /// Writes the label and reads it back.
    fn write_and_check(&mut self, device: &mut dyn Device, label: &str) -> Result<(), String> {
        device
            .start(AccessMode::Write { label: label.to_owned(), datestamp: "X".into() })
            .map_err(|e| format!("Error writing label: {}.", device_error_text(&e)))?;
        device.finish().map_err(|e| format!("Error finishing label: {}.", device_error_text(&e)))?;
        self.out.info("Checking label...");
        let got = device
            .read_label()
            .map_err(|e| format!("Checking the tape label failed: {}.", device_error_text(&e)))?;
        if got.label != label {
            return Err(format!("Read back a different label: got '{}', but expected '{label}'.", got.label));
        }
        if got.datestamp != "X" {
            return Err(format!(
                "Read back a different timetstamp: got '{}', but expected 'X'.",
                got.datestamp
            ));
        }
        Ok(())
    }

    /// Label.pm `assign`.
    fn assign(&mut self, a: &Args, changer: &mut dyn Changer) -> i32 {
        let (site, storage) = (self.site, self.storage);
        let tlf = site.tapelist_path();
        let lock = match TapelistLock::acquire(&tlf) {
            Ok(l) => l,
            Err(e) => return self.out.fail(&format!("Can't lock the tapelist file: {e}")),
        };
        let mut tl = match lock.read() {
            Ok(t) => t,
            Err(e) => return self.out.fail(&format!("Can't load tapelist file ({}): {e}", tlf.display())),
        };
        let pattern = a.label.clone().unwrap_or_default();
        let matches = |label: &str| label == pattern || match_regex(&pattern, label).unwrap_or(false);
        let (mut matched, mut changed, mut failed) = (false, 0, false);
        for tle in tl.entries.iter_mut() {
            if !matches(&tle.label) {
                continue;
            }
            matched = true;
            let mut changed1 = false;
            let mut error = false;
            let label = tle.label.clone();
            if let Some(config) = tle.config.as_ref().filter(|c| **c != site.name) {
                self.out.error(&format!("{label}: Can't assign because it is is the '{config}' config"));
                error = true;
            } else {
                if tle.config.is_none() && tle.datestamp != "0" {
                    tle.config = Some(site.name.clone());
                    changed1 = true;
                }
                for (value, field, code_text) in
                    [(&a.meta, &mut tle.meta, "meta-label"), (&a.barcode, &mut tle.barcode, "barcode")]
                {
                    let Some(value) = value else { continue };
                    match field {
                        Some(old) if old != value && !a.force => {
                            self.out.error(&format!(
                                "{label}: Can't assign {code_text} without force, old {code_text} is '{old}'"
                            ));
                            error = true;
                        }
                        Some(old) if old == value => {}
                        _ => {
                            *field = (!value.is_empty()).then(|| value.clone());
                            changed1 = true;
                        }
                    }
                }
                if let Some(pool) = &a.pool {
                    if pool.is_empty() {
                        self.out.error(&format!("Can't remove the pool of label '{label}'."));
                        error = true;
                    } else if tle.pool.as_ref().is_some_and(|p| p != pool) && !a.force {
                        let old = tle.pool.clone().unwrap_or_default();
                        self.out
                            .error(&format!("{label}: Can't assign pool without force, old pool is '{old}'"));
                        error = true;
                    } else if tle.pool.as_ref() != Some(pool) {
                        tle.pool = Some(pool.clone());
                        changed1 = true;
                    }
                }
                if let Some(st) = &a.storage {
                    if st.is_empty() {
                        self.out.error(&format!("Can't remove the storage of label '{label}'."));
                        error = true;
                    } else if tle.storage.as_ref().is_some_and(|s| s != st) && !a.force {
                        let old = tle.storage.clone().unwrap_or_default();
                        self.out.error(&format!(
                            "{label}: Can't assign storage without force, old storage is '{old}'"
                        ));
                        error = true;
                    } else if tle.datestamp == "0" {
                        self.out.error(&format!(
                            "{label}: Can't assign storage because it is a new labelled tape."
                        ));
                    } else if tle.storage.as_ref() != Some(st) {
                        tle.storage = Some(st.clone());
                        changed1 = true;
                    }
                }
            }
            if changed1 && !error {
                self.out.info(&format!("Setting {label}"));
                changed += 1;
            }
            failed |= error;
        }
        if failed {
            // Amanda leaves the tapelist as it was.
            return 1;
        }
        if changed > 0 {
            if let Err(e) = lock.write(&tl) {
                return self.out.fail(&format!("Can't write the tapelist file: {e}"));
            }
        } else if matched {
            self.out.info("All labels already correctly set.");
        } else {
            // Amanda prints this one without making the exit status 1.
            println!("No label matching '{pattern}' in the tapelist file");
            return self.out.status;
        }
        drop(lock);
        let Some(meta) = &a.meta else { return self.out.status };
        // Tell the changer the meta label of the slots holding these volumes.
        if let Ok(inventory) = changer.inventory() {
            let hit = inventory.iter().any(|s| s.label.as_deref().is_some_and(&matches));
            if hit {
                if let Err(e) = storage.set_meta(meta) {
                    return self.out.fail(&e);
                }
            }
        }
        self.out.status
    }
}
