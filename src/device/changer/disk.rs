//! `chg-disk`: a directory of vtape slots, laid out and tracked exactly as Amanda 3.5's
//! perl/Amanda/Changer/disk.pm, so Amanda's `amtape` works on a changer amrs used and the
//! other way round.
//!
//! # Layout
//!
//! ```text
//! DIR/slot1/ … DIR/slotN/   one vtape per slot (device file:DIR/slotN, USE_DATA NO)
//! DIR/data -> slotK         symlink (relative) to the current slot
//! DIR/state                 Data::Dumper state, see `state.rs` (or `changerfile`)
//! ```
//!
//! * Slots are the directories (or links to directories) named `slot` + a decimal number
//!   without leading zeros, in numeric order. (Amanda globs `slot*/` and takes the
//!   number after `slot`; a `slot01` would give slot 1 whose device `slot1` does not
//!   exist; we ignore such names.)
//! * A slot's label is the rest of the name of its first `00000.*` file (in name order);
//!   none means a blank volume. A label is found by looking for `slot*/00000.LABEL`,
//!   slots taken in name order (`slot10` before `slot2`, as Perl's glob).
//! * The state hash holds `current` (`slotK`), the per-configuration current slot
//!   `current_slot->{config}->{CONFIG}->{storage}->{STORAGE}->{changer}->{TPCHANGER}`,
//!   `meta`, and `drives->{driveN} = { slot => 'slotK', pid => PID }` for each loaded
//!   slot. It is read and rewritten under the state file's lock for every operation.
//! * The current slot is, in order: the per-configuration entry (when the configuration
//!   name is known), `current`, the `data` link (a legacy `current` link is first renamed
//!   to `data`, as 2.6.1 compatibility), the first slot.
//! * Setting the current slot writes both state entries and replaces the `data` link.
//! * A slot reserved by a live process (its `pid` exists in `/proc`) cannot be loaded;
//!   entries of dead processes are dropped.
//! * Properties: `num-slot` (default 1), `auto-create-slot` (create `slotN` on demand for
//!   N ≤ num-slot), `lock-timeout` (seconds, default 1000). Amanda's `removable`, `mount`,
//!   `umount`, `umount-lockfile`, `umount-idle` (removable disks) are not implemented and
//!   are refused.
//! * `next` after slot K: K+1 if it exists (or may be auto-created), else the slot after K
//!   in the list, else the first.
//! * `eject` is not supported (Amanda: notimpl).

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::device::changer::state::{dump_state, parse_state, LockedFile, PerlValue};
use crate::device::changer::{Changer, ChangerError, ChangerOptions, LoadedVolume, SlotInfo, SlotState};
use crate::device::{
    open_device, parse_bool_property, parse_size_property, DeviceError, DeviceProperties, Location,
};

/// Amanda's default `lock-timeout` when the property is unset.
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(1000);

/// The `chg-disk` changer. See the module documentation.
#[derive(Debug)]
pub struct ChgDisk {
    name: String,
    /// The directory as written in the tpchanger string (used verbatim in device names).
    dir_text: String,
    dir: PathBuf,
    state_path: PathBuf,
    num_slots: u32,
    auto_create_slot: bool,
    lock_timeout: Duration,
    device_properties: DeviceProperties,
    /// `(config, storage)` for the per-configuration current slot.
    context: Option<(String, String)>,
    runtapes: u32,
}

impl ChgDisk {
    /// Opens `chg-disk:DIR` (`tpchanger` is the whole string). The directory must exist.
    pub fn open(tpchanger: &str, dir: &str, options: &ChangerOptions) -> Result<ChgDisk, ChangerError> {
        let mut num_slots = 1;
        let mut auto_create_slot = false;
        let mut lock_timeout = DEFAULT_LOCK_TIMEOUT;
        for property in options.properties.iter() {
            let bad = |reason: String| ChangerError::BadProperty {
                changer: tpchanger.to_owned(),
                property: property.name.clone(),
                value: property.value.clone(),
                reason,
            };
            let outcome = match property.name.as_str() {
                "NUM_SLOT" => parse_size_property(&property.value).and_then(|n| {
                    // Amanda: `get_property('num-slot') || 1`.
                    u32::try_from(n).map(|n| num_slots = n.max(1)).map_err(|_| "too large".to_owned())
                }),
                "AUTO_CREATE_SLOT" => parse_bool_property(&property.value).map(|b| auto_create_slot = b),
                "LOCK_TIMEOUT" => {
                    parse_size_property(&property.value).map(|s| lock_timeout = Duration::from_secs(s))
                }
                "REMOVABLE" | "MOUNT" | "UMOUNT" | "UMOUNT_LOCKFILE" | "UMOUNT_IDLE" => {
                    Err("removable-disk vtapes are not implemented by amrs".to_owned())
                }
                _ => Err("no such property for chg-disk".to_owned()),
            };
            if let Err(reason) = outcome {
                if !property.optional {
                    return Err(bad(reason));
                }
            }
        }
        let dir_path = PathBuf::from(dir);
        if !dir_path.is_dir() {
            return Err(ChangerError::NoSuchDirectory { changer: tpchanger.to_owned(), path: dir_path });
        }
        let state_path = options.changer_file.clone().unwrap_or_else(|| dir_path.join("state"));
        let context = options
            .config_name
            .as_ref()
            .map(|config| (config.clone(), options.storage_name.clone().unwrap_or_else(|| config.clone())));
        Ok(ChgDisk {
            name: tpchanger.to_owned(),
            dir_text: dir.to_owned(),
            dir: dir_path,
            state_path,
            num_slots,
            auto_create_slot,
            lock_timeout,
            device_properties: options.device_properties.clone(),
            context,
            runtapes: options.runtapes.max(1),
        })
    }

    fn slot_path(&self, slot: u32) -> PathBuf {
        self.dir.join(format!("slot{slot}"))
    }

    fn io_error(&self, action: String) -> impl FnOnce(io::Error) -> ChangerError + '_ {
        move |source| ChangerError::Io { changer: self.name.clone(), action, source }
    }

    /// Runs `operation` on the state under the state file's lock, then writes it back.
    fn with_state<T>(
        &self,
        operation: impl FnOnce(&mut PerlValue) -> Result<T, ChangerError>,
    ) -> Result<T, ChangerError> {
        let state_error = |reason: String| ChangerError::State {
            changer: self.name.clone(),
            path: self.state_path.clone(),
            reason,
        };
        let mut locked = LockedFile::lock(&self.state_path, self.lock_timeout)
            .map_err(|error| state_error(error.to_string()))?;
        let mut state = parse_state(locked.contents()).map_err(|error| state_error(error.to_string()))?;
        let result = operation(&mut state);
        // Amanda writes the state back whatever happened (the operation may have dropped
        // dead reservations).
        locked.write(&dump_state(&state)).map_err(|error| state_error(error.to_string()))?;
        result
    }

    /// All slots, in numeric order.
    fn all_slots(&self) -> Result<Vec<u32>, ChangerError> {
        let mut slots = Vec::new();
        let entries =
            fs::read_dir(&self.dir).map_err(self.io_error(format!("listing {}", self.dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(self.io_error(format!("listing {}", self.dir.display())))?;
            let name = entry.file_name();
            let Some(slot) = name.to_str().and_then(parse_slot_name) else { continue };
            if entry.path().is_dir() {
                slots.push(slot);
            }
        }
        slots.sort_unstable();
        Ok(slots)
    }

    /// Amanda's `_slot_exists`, including `auto-create-slot`.
    fn slot_exists(&self, slot: u32) -> bool {
        if slot == 0 {
            return false;
        }
        let path = self.slot_path(slot);
        if self.auto_create_slot && slot <= self.num_slots {
            // As Amanda: a failure shows up as the slot not existing.
            let _ = fs::create_dir(&path);
        }
        path.is_dir()
    }

    /// The label in `slot`, from its `00000.*` file name.
    fn slot_label(&self, slot: u32) -> Option<String> {
        let mut names: Vec<String> = fs::read_dir(self.slot_path(slot))
            .ok()?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with("00000."))
            .collect();
        names.sort();
        names.first().map(|name| name["00000.".len()..].to_owned())
    }

    fn find_label(&self, label: &str) -> Result<Option<u32>, ChangerError> {
        let mut slots = self.all_slots()?;
        // Perl's glob returns `slot10` before `slot2`.
        slots.sort_by_key(|slot| format!("slot{slot}"));
        Ok(slots.into_iter().find(|&slot| self.slot_path(slot).join(format!("00000.{label}")).is_file()))
    }

    fn context_path<'a>(&'a self, config: &'a str, storage: &'a str) -> [&'a str; 7] {
        ["current_slot", "config", config, "storage", storage, "changer", &self.name]
    }

    /// Amanda's `_get_current`; 0 when there are no slots.
    fn get_current(&self, state: &PerlValue) -> Result<u32, ChangerError> {
        if let Some((config, storage)) = &self.context {
            let entry = state.get_path(&self.context_path(config, storage));
            if let Some(slot) = entry.and_then(PerlValue::as_str).and_then(slot_from_reference) {
                return Ok(slot);
            }
        }
        if let Some(slot) = state.get("current").and_then(PerlValue::as_str).and_then(slot_from_reference) {
            return Ok(slot);
        }
        let data_link = self.dir.join("data");
        let old_link = self.dir.join("current");
        if old_link.is_symlink() && !data_link.exists() {
            fs::rename(&old_link, &data_link)
                .map_err(self.io_error(format!("renaming the legacy link {}", old_link.display())))?;
        }
        if let Ok(target) = fs::read_link(&data_link) {
            if let Some(slot) = target.to_str().and_then(slot_from_reference) {
                return Ok(slot);
            }
        }
        Ok(self.all_slots()?.first().copied().unwrap_or(0))
    }

    /// Amanda's `_set_current`: both state entries and the `data` link.
    fn set_current(&self, state: &mut PerlValue, slot: u32) -> Result<(), ChangerError> {
        let reference = format!("slot{slot}");
        state.insert("current", PerlValue::Scalar(reference.clone()));
        if let Some((config, storage)) = &self.context {
            state.insert_path(&self.context_path(config, storage), PerlValue::Scalar(reference.clone()));
        }
        // Replace the link atomically (Amanda unlinks then links; the result is the same).
        let data_link = self.dir.join("data");
        let temporary = self.dir.join(format!(".data.amrs-{}", std::process::id()));
        let _ = fs::remove_file(&temporary);
        symlink(&reference, &temporary)
            .and_then(|()| fs::rename(&temporary, &data_link))
            .map_err(self.io_error(format!("pointing {} at {reference}", data_link.display())))
    }

    /// Amanda's `_get_next`.
    fn get_next(&self, slot: u32) -> Result<u32, ChangerError> {
        let next = slot + 1;
        if (next <= self.num_slots && self.auto_create_slot) || self.slot_path(next).is_dir() {
            return Ok(next);
        }
        let slots = self.all_slots()?;
        let Some(&first) = slots.first() else {
            return Err(ChangerError::NoSlots { changer: self.name.clone() });
        };
        let mut previous = *slots.last().expect("non-empty");
        for &candidate in &slots {
            if previous == slot {
                return Ok(candidate);
            }
            previous = candidate;
        }
        Ok(first)
    }

    /// Amanda's `_is_slot_in_use`: the reservation holding `slot`, dropping dead ones.
    fn slot_in_use(state: &mut PerlValue, slot: u32) -> Option<(String, String)> {
        let drives = state.get("drives")?.clone();
        let mut holder = None;
        for drive in drives.keys() {
            let entry = drives.get(&drive).expect("key listed");
            let drive_slot = entry.get("slot").and_then(PerlValue::as_str);
            let pid = entry.get("pid").and_then(PerlValue::as_str);
            let (Some(drive_slot), Some(pid)) = (drive_slot, pid) else {
                state.entry_hash("drives").remove(&drive);
                continue;
            };
            if slot_from_reference(drive_slot) != Some(slot) {
                continue;
            }
            if is_pid_alive(pid) {
                holder = Some((drive, pid.to_owned()));
            } else {
                state.entry_hash("drives").remove(&drive);
            }
        }
        holder
    }

    /// Reserves `slot` (Amanda's `_load_by_slot` and `_make_res`) and opens its device.
    fn load(
        &self,
        state: &mut PerlValue,
        slot: u32,
        make_current: bool,
    ) -> Result<LoadedVolume, ChangerError> {
        if !self.slot_exists(slot) {
            return Err(ChangerError::NoSuchSlot {
                changer: self.name.clone(),
                slot,
                path: self.slot_path(slot),
            });
        }
        if let Some((drive, pid)) = ChgDisk::slot_in_use(state, slot) {
            return Err(ChangerError::SlotInUse { changer: self.name.clone(), slot, drive, pid });
        }
        let drives = state.entry_hash("drives");
        let drive = (0..).map(|n| format!("drive{n}")).find(|d| drives.get(d).is_none()).expect("unbounded");
        if make_current {
            self.set_current(state, slot)?;
        }
        let mut properties = self.device_properties.clone();
        if !properties.is_set("USE_DATA") {
            properties.set("USE_DATA", "NO");
        }
        let device_name = format!("file:{}/slot{slot}", self.dir_text);
        let mut device = open_device(&device_name, &properties).map_err(|source| ChangerError::Device {
            changer: self.name.clone(),
            slot,
            source: Box::new(source),
        })?;
        state.insert_path(&["drives", &drive, "slot"], PerlValue::Scalar(format!("slot{slot}")));
        state.insert_path(&["drives", &drive, "pid"], PerlValue::Scalar(std::process::id().to_string()));
        let label = device.read_label();
        Ok(LoadedVolume { slot, device, label, reservation: Some(drive) })
    }
}

impl Changer for ChgDisk {
    fn name(&self) -> &str {
        &self.name
    }

    fn load_slot(&mut self, slot: u32) -> Result<LoadedVolume, ChangerError> {
        self.with_state(|state| self.load(state, slot, true))
    }

    fn load_label(&mut self, label: &str) -> Result<LoadedVolume, ChangerError> {
        let Some(slot) = self.find_label(label)? else {
            return Err(ChangerError::LabelNotFound { changer: self.name.clone(), label: label.to_owned() });
        };
        let volume = self.with_state(|state| self.load(state, slot, true))?;
        if volume.label() == Some(label) {
            return Ok(volume);
        }
        // The file name promised the label; the volume says otherwise (or nothing).
        let device_name = volume.device.name().to_owned();
        let volume = self.release_keeping_label(volume)?;
        let source = match volume.label {
            Ok(found) => DeviceError::WrongLabel {
                at: Location::device(&device_name),
                expected: label.to_owned(),
                found: found.label,
            },
            Err(source) => source,
        };
        Err(ChangerError::Device { changer: self.name.clone(), slot, source: Box::new(source) })
    }

    fn load_current(&mut self) -> Result<LoadedVolume, ChangerError> {
        self.with_state(|state| {
            let slot = self.get_current(state)?;
            if slot == 0 {
                return Err(ChangerError::NoSlots { changer: self.name.clone() });
            }
            self.load(state, slot, false)
        })
    }

    fn load_next(&mut self) -> Result<LoadedVolume, ChangerError> {
        self.with_state(|state| {
            let current = self.get_current(state)?;
            let next = self.get_next(current)?;
            self.load(state, next, true)
        })
    }

    fn release(&mut self, volume: LoadedVolume) -> Result<(), ChangerError> {
        self.release_keeping_label(volume).map(drop)
    }

    fn current_slot(&mut self) -> Result<Option<u32>, ChangerError> {
        self.with_state(|state| self.get_current(state)).map(|slot| (slot != 0).then_some(slot))
    }

    fn reset(&mut self) -> Result<(), ChangerError> {
        self.with_state(|state| {
            let first = self.all_slots()?.first().copied().unwrap_or(0);
            self.set_current(state, first)
        })
    }

    fn eject(&mut self) -> Result<(), ChangerError> {
        Err(ChangerError::NotSupported { changer: self.name.clone(), operation: "eject" })
    }

    fn inventory(&mut self) -> Result<Vec<SlotInfo>, ChangerError> {
        self.with_state(|state| {
            let slots = self.all_slots()?;
            let current = self.get_current(state)?;
            let mut inventory = Vec::new();
            let mut blank_slots = 0;
            for &slot in &slots {
                let label = self.slot_label(slot);
                blank_slots += u32::from(label.is_none());
                inventory.push(SlotInfo {
                    slot,
                    state: SlotState::Full,
                    label,
                    current: slot == current,
                    reserved: ChgDisk::slot_in_use(state, slot).is_some(),
                });
            }
            // As Amanda: with auto-create-slot, list enough blank slots for a run.
            let last = slots.last().copied().unwrap_or(0);
            if blank_slots < self.runtapes && self.auto_create_slot && last < self.num_slots {
                for slot in
                    (last + 1..=last + self.runtapes - blank_slots).take_while(|&s| s <= self.num_slots)
                {
                    inventory.push(SlotInfo {
                        slot,
                        state: SlotState::Full,
                        label: None,
                        current: false,
                        reserved: false,
                    });
                }
            }
            Ok(inventory)
        })
    }
}

impl ChgDisk {
    /// Ends the reservation and hands the volume back (so callers can take its parts).
    fn release_keeping_label(&mut self, volume: LoadedVolume) -> Result<LoadedVolume, ChangerError> {
        if let Some(drive) = &volume.reservation {
            self.with_state(|state| {
                state.entry_hash("drives").remove(drive);
                Ok(())
            })?;
        }
        Ok(LoadedVolume { reservation: None, ..volume })
    }

    /// The state file's path.
    pub fn state_path(&self) -> &Path {
        &self.state_path
    }
}

/// `slotN` with N a decimal number without leading zeros (N ≥ 1... or 0, as Amanda's
/// `reset` on an empty changer writes `slot0`).
fn parse_slot_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("slot")?;
    let slot: u32 = digits.parse().ok()?;
    (slot.to_string() == digits).then_some(slot)
}

/// Amanda matches state and link values with `^slot([0-9]+)/?`.
fn slot_from_reference(reference: &str) -> Option<u32> {
    let digits = reference.strip_prefix("slot")?;
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// Amanda's `is_pid_alive` is `kill(pid, 0)`; on Linux `/proc/PID` tells the same.
fn is_pid_alive(pid: &str) -> bool {
    pid.parse::<u32>().is_ok_and(|pid| pid > 0 && Path::new(&format!("/proc/{pid}")).exists())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::test_support::TempDir;
    use crate::device::AccessMode;
    use crate::format::header::DumpFile;

    fn vtapes(slots: u32) -> TempDir {
        let dir = TempDir::new("chgdisk");
        for slot in 1..=slots {
            fs::create_dir(dir.path().join(format!("slot{slot}"))).unwrap();
        }
        dir
    }

    fn changer(dir: &TempDir, options: &ChangerOptions) -> ChgDisk {
        let tpchanger = format!("chg-disk:{}", dir.path().display());
        ChgDisk::open(&tpchanger, &dir.path().display().to_string(), options).unwrap()
    }

    fn label_slot(changer: &mut ChgDisk, slot: u32, label: &str) {
        let mut volume = changer.load_slot(slot).unwrap();
        volume.device.start(AccessMode::Write { label: label.into(), datestamp: "X".into() }).unwrap();
        volume.device.finish().unwrap();
        changer.release(volume).unwrap();
    }

    #[test]
    fn slots_labels_and_the_data_link() {
        let dir = vtapes(3);
        let mut changer = changer(&dir, &ChangerOptions::default());
        assert_eq!(changer.current_slot().unwrap(), Some(1));
        label_slot(&mut changer, 1, "VT-01");
        label_slot(&mut changer, 3, "VT-03");
        assert_eq!(fs::read_link(dir.path().join("data")).unwrap(), Path::new("slot3"));
        assert!(dir.path().join("slot3/00000.VT-03").is_file());
        assert_eq!(changer.current_slot().unwrap(), Some(3));

        let volume = changer.load_label("VT-01").unwrap();
        assert_eq!((volume.slot, volume.label()), (1, Some("VT-01")));
        assert_eq!(volume.device.name(), format!("file:{}/slot1", dir.path().display()));
        changer.release(volume).unwrap();
        assert_eq!(changer.current_slot().unwrap(), Some(1));

        let inventory = changer.inventory().unwrap();
        let summary: Vec<_> =
            inventory.iter().map(|s| (s.slot, s.label.clone(), s.current, s.reserved)).collect();
        assert_eq!(
            summary,
            [
                (1, Some("VT-01".into()), true, false),
                (2, None, false, false),
                (3, Some("VT-03".into()), false, false)
            ]
        );
        let error = changer.load_label("VT-99").unwrap_err();
        assert!(error.to_string().ends_with(": label VT-99 not found in any slot"), "{error}");
        let blank = changer.load_slot(2).unwrap();
        assert!(matches!(blank.label, Err(DeviceError::NotLabelled { .. })));
        changer.release(blank).unwrap();
    }

    #[test]
    fn next_walks_and_wraps() {
        let dir = vtapes(3);
        fs::create_dir(dir.path().join("slot5")).unwrap();
        fs::create_dir(dir.path().join("slot01")).unwrap();
        fs::create_dir(dir.path().join("slotx")).unwrap();
        let mut changer = changer(&dir, &ChangerOptions::default());
        let mut walked = Vec::new();
        for _ in 0..6 {
            let volume = changer.load_next().unwrap();
            walked.push(volume.slot);
            changer.release(volume).unwrap();
        }
        assert_eq!(walked, [2, 3, 5, 1, 2, 3]);
        changer.reset().unwrap();
        assert_eq!(changer.current_slot().unwrap(), Some(1));
        assert_eq!(fs::read_link(dir.path().join("data")).unwrap(), Path::new("slot1"));
    }

    #[test]
    fn a_missing_slot_is_named() {
        let dir = vtapes(2);
        let mut changer = changer(&dir, &ChangerOptions::default());
        let error = changer.load_slot(7).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("chg-disk:{0}: slot 7: no such slot directory {0}/slot7", dir.path().display())
        );
    }

    #[test]
    fn auto_create_slot_makes_slots_up_to_num_slot() {
        let dir = vtapes(0);
        let mut options = ChangerOptions::default();
        options.properties.set("num-slot", "4").set("auto-create-slot", "yes");
        options.runtapes = 2;
        let mut changer = changer(&dir, &options);
        assert_eq!(changer.current_slot().unwrap(), None);
        let inventory = changer.inventory().unwrap();
        assert_eq!(inventory.iter().map(|s| s.slot).collect::<Vec<_>>(), [1, 2]);
        label_slot(&mut changer, 1, "AC-1");
        assert!(dir.path().join("slot1").is_dir());
        let next = changer.load_next().unwrap();
        assert_eq!(next.slot, 2);
        changer.release(next).unwrap();
        assert!(matches!(changer.load_slot(5), Err(ChangerError::NoSuchSlot { slot: 5, .. })));
        let mut bad = ChangerOptions::default();
        bad.properties.set("removable", "yes");
        let error = ChgDisk::open("chg-disk:x", &dir.path().display().to_string(), &bad).unwrap_err();
        assert!(error.to_string().contains("REMOVABLE"), "{error}");
    }

    #[test]
    fn reservations_are_recorded_and_respected() {
        let dir = vtapes(2);
        let mut changer = changer(&dir, &ChangerOptions::default());
        let volume = changer.load_slot(1).unwrap();
        let state = fs::read_to_string(dir.path().join("state")).unwrap();
        assert!(state.contains(&format!("'pid' => {}", std::process::id())), "{state}");
        let error = changer.load_slot(1).unwrap_err();
        assert!(error.to_string().contains("slot 1: already in use by drive0 of process"), "{error}");
        let other = changer.load_slot(2).unwrap();
        changer.release(volume).unwrap();
        changer.release(other).unwrap();
        let state = parse_state(&fs::read_to_string(dir.path().join("state")).unwrap()).unwrap();
        assert_eq!(state.get("drives"), Some(&PerlValue::empty_hash()));
        // A reservation of a dead process is ignored and dropped.
        let stale = "$STATE = { 'drives' => { 'drive0' => { 'slot' => 'slot1', 'pid' => 999999999 } } };";
        fs::write(dir.path().join("state"), stale).unwrap();
        let volume = changer.load_slot(1).unwrap();
        changer.release(volume).unwrap();
    }

    #[test]
    fn current_slot_sources_in_amandas_order() {
        let dir = vtapes(4);
        let options = ChangerOptions { config_name: Some("daily".into()), ..ChangerOptions::default() };
        let mut changer = changer(&dir, &options);
        // Legacy `current` link, no data link and no state: renamed to data.
        symlink("slot2", dir.path().join("current")).unwrap();
        assert_eq!(changer.current_slot().unwrap(), Some(2));
        assert!(dir.path().join("data").is_symlink());
        assert!(!dir.path().join("current").exists());
        // The state's `current` beats the link…
        let tpchanger = changer.name().to_owned();
        fs::write(dir.path().join("state"), "$STATE = { 'current' => 'slot3' };").unwrap();
        assert_eq!(changer.current_slot().unwrap(), Some(3));
        // … and the per-configuration entry beats `current`.
        let mut state = parse_state("$STATE = { 'current' => 'slot3' };").unwrap();
        state.insert_path(
            &["current_slot", "config", "daily", "storage", "daily", "changer", &tpchanger],
            PerlValue::Scalar("slot4".into()),
        );
        fs::write(dir.path().join("state"), dump_state(&state)).unwrap();
        assert_eq!(changer.current_slot().unwrap(), Some(4));
        let volume = changer.load_slot(1).unwrap();
        changer.release(volume).unwrap();
        let state = parse_state(&fs::read_to_string(dir.path().join("state")).unwrap()).unwrap();
        let path = ["current_slot", "config", "daily", "storage", "daily", "changer", tpchanger.as_str()];
        assert_eq!(state.get_path(&path).and_then(PerlValue::as_str), Some("slot1"));
        assert_eq!(state.get("current").and_then(PerlValue::as_str), Some("slot1"));
    }

    #[test]
    fn volumes_written_through_the_changer_use_the_slot_directory() {
        let dir = vtapes(1);
        fs::create_dir(dir.path().join("slot1/data")).unwrap();
        let mut changer = changer(&dir, &ChangerOptions::default());
        let mut volume = changer.load_slot(1).unwrap();
        volume.device.start(AccessMode::Write { label: "UD-1".into(), datestamp: "X".into() }).unwrap();
        let header = DumpFile::new_split_file("20240101", "h", "/d", 0, "GNUTAR", 1, -1);
        volume.device.start_file(&header).unwrap();
        volume.device.finish_file().unwrap();
        volume.device.finish().unwrap();
        changer.release(volume).unwrap();
        // USE_DATA is forced to NO: slot1/data is not used.
        assert!(dir.path().join("slot1/00000.UD-1").is_file());
        assert!(dir.path().join("slot1/00001.h._d.0").is_file());
        assert!(fs::read_dir(dir.path().join("slot1/data")).unwrap().next().is_none());
        assert!(matches!(changer.eject(), Err(ChangerError::NotSupported { .. })));
    }

    /// An environment variable the interoperability checks need.
    fn required_env(name: &str) -> String {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} is not set: run tools/check-vtape-with-amanda.sh"))
    }

    fn interop_changer() -> ChgDisk {
        let dir = required_env("AMRS_CHG_DIR");
        let options =
            ChangerOptions { config_name: Some(required_env("AMRS_CONFIG")), ..ChangerOptions::default() };
        ChgDisk::open(&format!("chg-disk:{dir}"), &dir, &options).unwrap()
    }

    /// Not a unit test: `tools/check-vtape-with-amanda.sh` runs it to label slots 1 and 3
    /// of `AMRS_CHG_DIR` (AMRS-01, AMRS-03), leaving slot 3 current, before Amanda's
    /// `amtape` looks at the changer.
    #[test]
    #[ignore = "interoperability check, run by tools/check-vtape-with-amanda.sh"]
    fn interop_prepare_changer_for_amanda() {
        let mut changer = interop_changer();
        for (slot, label) in [(1, "AMRS-01"), (3, "AMRS-03")] {
            let mut volume = changer.load_slot(slot).unwrap();
            volume
                .device
                .start(AccessMode::Write { label: label.into(), datestamp: "20240102030405".into() })
                .unwrap();
            volume.device.finish().unwrap();
            changer.release(volume).unwrap();
        }
        assert_eq!(changer.current_slot().unwrap(), Some(3));
    }

    /// Not a unit test: run by `tools/check-vtape-with-amanda.sh` after Amanda's tools
    /// changed the changer: the current slot must be `AMRS_EXPECT_CURRENT` and the labels
    /// `AMRS_EXPECT_LABELS` (`1:AMRS-01,2:AMRS-02,…`); it then loads AMRS-02 by label,
    /// making slot 2 current for Amanda to see.
    #[test]
    #[ignore = "interoperability check, run by tools/check-vtape-with-amanda.sh"]
    fn interop_read_changer_after_amanda() {
        let mut changer = interop_changer();
        let expected_current: u32 = required_env("AMRS_EXPECT_CURRENT").parse().unwrap();
        assert_eq!(changer.current_slot().unwrap(), Some(expected_current));
        let expected_labels: Vec<(u32, String)> = required_env("AMRS_EXPECT_LABELS")
            .split(',')
            .map(|pair| {
                let (slot, label) = pair.split_once(':').unwrap();
                (slot.parse().unwrap(), label.to_owned())
            })
            .collect();
        let inventory: Vec<(u32, String)> =
            changer.inventory().unwrap().into_iter().map(|s| (s.slot, s.label.unwrap_or_default())).collect();
        assert_eq!(inventory, expected_labels);
        let current = changer.load_current().unwrap();
        let (_, current_label) = expected_labels.iter().find(|(slot, _)| *slot == expected_current).unwrap();
        assert_eq!(current.label(), Some(current_label.as_str()));
        changer.release(current).unwrap();
        let volume = changer.load_label("AMRS-02").unwrap();
        assert_eq!(volume.slot, 2);
        changer.release(volume).unwrap();
    }
}
