//! Changers in Amanda's terms (perl/Amanda/Changer.pm): the [`Changer`] trait, its
//! errors, and [`open_changer`], which turns a `tpchanger` string into `chg-disk`
//! ([`disk`]) or `chg-single` ([`single`]).
//!
//! # Model
//!
//! A changer holds numbered *slots*, each possibly holding a volume; one slot is
//! *current*. Loading a slot gives a [`LoadedVolume`]: the slot number, an opened
//! [`Device`] for it (its label already read) and a reservation that
//! [`Changer::release`] gives back. `load_slot`, `load_label` and `load_next` make the
//! loaded slot current, as `amtape CONFIG slot N|label L|slot next` do.
//!
//! # `tpchanger` strings (Amanda::Changer `_uri_to_pkgname`)
//!
//! * `chg-disk:/path` → chg-disk on that directory;
//! * `chg-single:DEVICE` → chg-single on that device;
//! * any other `chg-NAME:…` → an Amanda changer amrs does not implement (an error);
//! * anything else is a device name, meaning `chg-single:` on it (`tape:/dev/nst0`,
//!   `file:/vtapes`, a bare `/dev/nst0`).
//!
//! Changer aliases (`define changer NAME { tpchanger "…" property … }`) are resolved by
//! the configuration layer, which passes the resolved string and the properties in
//! [`ChangerOptions`].

pub mod disk;
pub mod single;
pub mod state;

use std::io;
use std::path::PathBuf;

use crate::device::{Device, DeviceError, DeviceProperties, VolumeLabel};

/// A loaded slot: its device, opened and with its label read.
pub struct LoadedVolume {
    /// The slot number.
    pub slot: u32,
    /// The device for the slot (`file:/path/slotN` for chg-disk).
    pub device: Box<dyn Device>,
    /// The result of reading the label: the label, or why there is none (blank volume,
    /// error).
    pub label: Result<VolumeLabel, DeviceError>,
    /// The changer's reservation key (chg-disk: the `driveN` entry in the state file).
    reservation: Option<String>,
}

impl std::fmt::Debug for LoadedVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedVolume")
            .field("slot", &self.slot)
            .field("device", &self.device.name())
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl LoadedVolume {
    /// The label, if the volume has one.
    pub fn label(&self) -> Option<&str> {
        self.label.as_ref().ok().map(|label| label.label.as_str())
    }
}

/// Whether a slot holds a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// A volume is in the slot (always, for vtapes).
    Full,
    /// The slot is empty.
    Empty,
}

/// One line of an inventory (`amtape CONFIG inventory`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotInfo {
    /// Slot number.
    pub slot: u32,
    /// Whether a volume is there.
    pub state: SlotState,
    /// The volume's label; `None` for a blank volume or when unknown.
    pub label: Option<String>,
    /// This is the current slot.
    pub current: bool,
    /// A process has the slot loaded.
    pub reserved: bool,
}

/// A changer. See the module documentation.
pub trait Changer: Send {
    /// The `tpchanger` string it was opened with (`chg-disk:/vtapes`).
    fn name(&self) -> &str;

    /// Loads slot `slot` and makes it current.
    fn load_slot(&mut self, slot: u32) -> Result<LoadedVolume, ChangerError>;

    /// Loads the slot holding the volume labelled `label` and makes it current.
    fn load_label(&mut self, label: &str) -> Result<LoadedVolume, ChangerError>;

    /// Loads the current slot.
    fn load_current(&mut self) -> Result<LoadedVolume, ChangerError>;

    /// Loads the slot after the current one (wrapping around) and makes it current.
    fn load_next(&mut self) -> Result<LoadedVolume, ChangerError>;

    /// Gives a loaded volume back (ends its reservation).
    fn release(&mut self, volume: LoadedVolume) -> Result<(), ChangerError>;

    /// The current slot, if there is one.
    fn current_slot(&mut self) -> Result<Option<u32>, ChangerError>;

    /// Makes the first slot current.
    fn reset(&mut self) -> Result<(), ChangerError>;

    /// Ejects the volume in the drive.
    fn eject(&mut self) -> Result<(), ChangerError>;

    /// Every slot with its label and state.
    fn inventory(&mut self) -> Result<Vec<SlotInfo>, ChangerError>;
}

/// How a changer is set up beyond its `tpchanger` string.
#[derive(Debug, Clone)]
pub struct ChangerOptions {
    /// Changer properties (`property "num-slot" "10"` in `define changer`).
    pub properties: DeviceProperties,
    /// Properties for every device the changer opens (`device-property`).
    pub device_properties: DeviceProperties,
    /// `changerfile`: the state file, instead of `DIR/state` (chg-disk).
    pub changer_file: Option<PathBuf>,
    /// The configuration name, for the per-configuration current slot in the chg-disk
    /// state (`current_slot->{config}->{CONFIG}->{storage}->{STORAGE}->{changer}->{TPCHANGER}`).
    pub config_name: Option<String>,
    /// The storage name (Amanda defaults it to the configuration name).
    pub storage_name: Option<String>,
    /// `runtapes`: chg-disk with `auto-create-slot` lists this many blank slots ahead.
    pub runtapes: u32,
}

impl Default for ChangerOptions {
    fn default() -> ChangerOptions {
        ChangerOptions {
            properties: DeviceProperties::new(),
            device_properties: DeviceProperties::new(),
            changer_file: None,
            config_name: None,
            storage_name: None,
            runtapes: 1,
        }
    }
}

/// Everything a changer can report. Messages start with the changer's name, then the
/// slot where one is concerned.
#[derive(Debug, thiserror::Error)]
pub enum ChangerError {
    /// The `tpchanger` string names no usable changer.
    #[error("tpchanger {tpchanger:?}: {reason}")]
    BadName {
        /// The string given.
        tpchanger: String,
        /// Why.
        reason: String,
    },
    /// A changer property is unknown or has a bad value.
    #[error("{changer}: property {property} {value:?}: {reason}")]
    BadProperty {
        /// The changer.
        changer: String,
        /// The property.
        property: String,
        /// The value.
        value: String,
        /// Why.
        reason: String,
    },
    /// The changer's directory is missing.
    #[error("{changer}: directory {} does not exist", path.display())]
    NoSuchDirectory {
        /// The changer.
        changer: String,
        /// The directory.
        path: PathBuf,
    },
    /// A slot that does not exist.
    #[error("{changer}: slot {slot}: no such slot directory {}", path.display())]
    NoSuchSlot {
        /// The changer.
        changer: String,
        /// The slot asked for.
        slot: u32,
        /// Its directory.
        path: PathBuf,
    },
    /// The changer has no slots at all.
    #[error("{changer}: no slots (create slot1, slot2, … directories)")]
    NoSlots {
        /// The changer.
        changer: String,
    },
    /// No slot holds the label.
    #[error("{changer}: label {label} not found in any slot")]
    LabelNotFound {
        /// The changer.
        changer: String,
        /// The label asked for.
        label: String,
    },
    /// The slot is loaded by a live process.
    #[error("{changer}: slot {slot}: already in use by {drive} of process {pid}")]
    SlotInUse {
        /// The changer.
        changer: String,
        /// The slot.
        slot: u32,
        /// The reservation (`drive0`, or `the drive`).
        drive: String,
        /// The process holding it.
        pid: String,
    },
    /// The state file cannot be used.
    #[error("{changer}: state file {}: {reason}", path.display())]
    State {
        /// The changer.
        changer: String,
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The operation does not exist for this changer (Amanda: "notimpl").
    #[error("{changer}: '{operation}' is not supported by this changer")]
    NotSupported {
        /// The changer.
        changer: String,
        /// The operation.
        operation: &'static str,
    },
    /// The slot's device failed.
    #[error("{changer}: slot {slot}: {source}")]
    Device {
        /// The changer.
        changer: String,
        /// The slot.
        slot: u32,
        /// The device's error (boxed: it is large and rare).
        source: Box<DeviceError>,
    },
    /// An operating-system error.
    #[error("{changer}: {action}: {source}")]
    Io {
        /// The changer.
        changer: String,
        /// What was being done.
        action: String,
        /// The error.
        source: io::Error,
    },
}

/// What a `tpchanger` string names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangerSpec {
    /// `chg-disk:DIR`.
    Disk {
        /// The vtape root directory.
        dir: String,
    },
    /// `chg-single:DEVICE`, or a bare device name.
    Single {
        /// The device name.
        device: String,
    },
}

/// Parses a `tpchanger` string as Amanda does (see the module documentation).
pub fn parse_tpchanger(tpchanger: &str) -> Result<ChangerSpec, ChangerError> {
    let bad =
        |reason: &str| ChangerError::BadName { tpchanger: tpchanger.to_owned(), reason: reason.to_owned() };
    if tpchanger.is_empty() {
        return Err(bad("empty"));
    }
    let changer_type = tpchanger.strip_prefix("chg-").and_then(|rest| {
        let end = rest.find(|c: char| !(c.is_ascii_alphabetic() || c == '_'))?;
        (end > 0 && rest[end..].starts_with(':'))
            .then(|| (rest[..end].to_ascii_lowercase(), &rest[end + 1..]))
    });
    match changer_type {
        Some((kind, rest)) if kind == "disk" => {
            if rest.is_empty() {
                return Err(bad("chg-disk needs a directory (chg-disk:/path)"));
            }
            Ok(ChangerSpec::Disk { dir: rest.to_owned() })
        }
        Some((kind, rest)) if kind == "single" => {
            if rest.is_empty() {
                return Err(bad("chg-single needs a device (chg-single:tape:/dev/nst0)"));
            }
            Ok(ChangerSpec::Single { device: rest.to_owned() })
        }
        Some((kind, _)) => Err(bad(&format!(
            "chg-{kind} is an Amanda changer amrs does not implement (chg-disk and chg-single are)"
        ))),
        None => Ok(ChangerSpec::Single { device: tpchanger.to_owned() }),
    }
}

/// Opens the changer named by `tpchanger`.
pub fn open_changer(tpchanger: &str, options: &ChangerOptions) -> Result<Box<dyn Changer>, ChangerError> {
    Ok(match parse_tpchanger(tpchanger)? {
        ChangerSpec::Disk { dir } => Box::new(disk::ChgDisk::open(tpchanger, &dir, options)?),
        ChangerSpec::Single { device } => Box::new(single::ChgSingle::open(tpchanger, &device, options)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tpchanger_strings_pick_the_changer() {
        assert_eq!(parse_tpchanger("chg-disk:/vt").unwrap(), ChangerSpec::Disk { dir: "/vt".into() });
        assert_eq!(
            parse_tpchanger("chg-single:tape:/dev/nst0").unwrap(),
            ChangerSpec::Single { device: "tape:/dev/nst0".into() }
        );
        assert_eq!(
            parse_tpchanger("tape:/dev/nst0").unwrap(),
            ChangerSpec::Single { device: "tape:/dev/nst0".into() }
        );
        assert_eq!(parse_tpchanger("/dev/nst0").unwrap(), ChangerSpec::Single { device: "/dev/nst0".into() });
        assert_eq!(parse_tpchanger("file:/vt").unwrap(), ChangerSpec::Single { device: "file:/vt".into() });
        assert_eq!(parse_tpchanger("chg-Disk:/vt").unwrap(), ChangerSpec::Disk { dir: "/vt".into() });
        let error = parse_tpchanger("chg-robot:/dev/sg1").unwrap_err().to_string();
        assert!(error.contains("chg-robot is an Amanda changer amrs does not implement"), "{error}");
        // Without the colon it is not a changer URI: Amanda takes it for a device name.
        assert_eq!(parse_tpchanger("chg-disk").unwrap(), ChangerSpec::Single { device: "chg-disk".into() });
        assert!(parse_tpchanger("chg-disk:").is_err());
        assert!(parse_tpchanger("").is_err());
    }

    #[test]
    fn open_changer_builds_the_right_one() {
        let changer = open_changer("null:", &ChangerOptions::default()).unwrap();
        assert_eq!(changer.name(), "null:");
        let error = open_changer("chg-disk:/nonexistent/amrs-vt", &ChangerOptions::default()).err().unwrap();
        assert_eq!(
            error.to_string(),
            "chg-disk:/nonexistent/amrs-vt: directory /nonexistent/amrs-vt does not exist"
        );
        let error = open_changer("bogus:x", &ChangerOptions::default()).err().unwrap();
        assert!(error.to_string().contains("unknown device type"), "{error}");
    }
}
