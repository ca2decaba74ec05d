//! `chg-single`: one fixed device presented as a one-slot changer
//! (perl/Amanda/Changer/single.pm). Whatever is loaded, you get the volume in the drive.
//!
//! # Rules
//!
//! * The device name is checked when the changer is opened; the device itself is opened
//!   at each load, with the changer's device properties, and its label read.
//! * There is one slot, 1, always current. Loading any slot or `next` gives the drive;
//!   `load_label` also checks that the volume carries that label.
//! * Only one reservation at a time: a second load before `release` fails.
//! * `eject` ejects the volume in the drive (Amanda does it at release with `eject`);
//!   `reset` is not supported (Amanda: notimpl).
//! * The inventory is the one slot with the label seen at the last load.

use crate::device::changer::{Changer, ChangerError, ChangerOptions, LoadedVolume, SlotInfo, SlotState};
use crate::device::{open_device, parse_device_name, DeviceError, DeviceProperties, Location};

/// The `chg-single` changer. See the module documentation.
#[derive(Debug)]
pub struct ChgSingle {
    name: String,
    device_name: String,
    device_properties: DeviceProperties,
    reserved: bool,
    last_label: Option<String>,
}

/// The slot number of the drive.
const THE_SLOT: u32 = 1;

impl ChgSingle {
    /// Opens `chg-single:DEVICE` (`tpchanger` is the whole string, or a bare device name).
    pub fn open(
        tpchanger: &str,
        device_name: &str,
        options: &ChangerOptions,
    ) -> Result<ChgSingle, ChangerError> {
        if let Some(property) = options.properties.iter().find(|property| !property.optional) {
            return Err(ChangerError::BadProperty {
                changer: tpchanger.to_owned(),
                property: property.name.clone(),
                value: property.value.clone(),
                reason: "chg-single has no properties".to_owned(),
            });
        }
        parse_device_name(device_name).map_err(|source| ChangerError::Device {
            changer: tpchanger.to_owned(),
            slot: THE_SLOT,
            source: Box::new(source),
        })?;
        Ok(ChgSingle {
            name: tpchanger.to_owned(),
            device_name: device_name.to_owned(),
            device_properties: options.device_properties.clone(),
            reserved: false,
            last_label: None,
        })
    }

    fn device_error(&self, source: DeviceError) -> ChangerError {
        ChangerError::Device { changer: self.name.clone(), slot: THE_SLOT, source: Box::new(source) }
    }

    fn load(&mut self) -> Result<LoadedVolume, ChangerError> {
        if self.reserved {
            return Err(ChangerError::SlotInUse {
                changer: self.name.clone(),
                slot: THE_SLOT,
                drive: format!("'{}'", self.device_name),
                pid: std::process::id().to_string(),
            });
        }
        let mut device = open_device(&self.device_name, &self.device_properties)
            .map_err(|source| self.device_error(source))?;
        let label = device.read_label();
        self.last_label = label.as_ref().ok().map(|label| label.label.clone());
        self.reserved = true;
        Ok(LoadedVolume { slot: THE_SLOT, device, label, reservation: None })
    }
}

impl Changer for ChgSingle {
    fn name(&self) -> &str {
        &self.name
    }

    fn load_slot(&mut self, _slot: u32) -> Result<LoadedVolume, ChangerError> {
        self.load()
    }

    fn load_label(&mut self, label: &str) -> Result<LoadedVolume, ChangerError> {
        let volume = self.load()?;
        if volume.label() == Some(label) {
            return Ok(volume);
        }
        let device_name = volume.device.name().to_owned();
        self.reserved = false;
        let source = match volume.label {
            Ok(found) => DeviceError::WrongLabel {
                at: Location::device(&device_name),
                expected: label.to_owned(),
                found: found.label,
            },
            Err(source) => source,
        };
        Err(self.device_error(source))
    }

    fn load_current(&mut self) -> Result<LoadedVolume, ChangerError> {
        self.load()
    }

    fn load_next(&mut self) -> Result<LoadedVolume, ChangerError> {
        self.load()
    }

    fn release(&mut self, _volume: LoadedVolume) -> Result<(), ChangerError> {
        self.reserved = false;
        Ok(())
    }

    fn current_slot(&mut self) -> Result<Option<u32>, ChangerError> {
        Ok(Some(THE_SLOT))
    }

    fn reset(&mut self) -> Result<(), ChangerError> {
        Err(ChangerError::NotSupported { changer: self.name.clone(), operation: "reset" })
    }

    fn eject(&mut self) -> Result<(), ChangerError> {
        let mut device = open_device(&self.device_name, &self.device_properties)
            .map_err(|source| self.device_error(source))?;
        device.eject().map_err(|source| self.device_error(source))?;
        self.last_label = None;
        Ok(())
    }

    fn inventory(&mut self) -> Result<Vec<SlotInfo>, ChangerError> {
        Ok(vec![SlotInfo {
            slot: THE_SLOT,
            state: SlotState::Full,
            label: self.last_label.clone(),
            current: true,
            reserved: self.reserved,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::changer::open_changer;
    use crate::device::test_support::TempDir;
    use crate::device::AccessMode;

    #[test]
    fn one_drive_as_one_slot() {
        let dir = TempDir::new("chgsingle");
        let device_name = format!("file:{}", dir.path().display());
        let mut changer =
            open_changer(&format!("chg-single:{device_name}"), &ChangerOptions::default()).unwrap();
        let mut volume = changer.load_slot(5).unwrap();
        assert_eq!(volume.slot, 1);
        assert!(matches!(volume.label, Err(DeviceError::NotLabelled { .. })));
        volume.device.start(AccessMode::Write { label: "ONE-1".into(), datestamp: "X".into() }).unwrap();
        volume.device.finish().unwrap();
        let error = changer.load_current().unwrap_err();
        assert!(error.to_string().contains("already in use"), "{error}");
        changer.release(volume).unwrap();

        let volume = changer.load_label("ONE-1").unwrap();
        assert_eq!(volume.label(), Some("ONE-1"));
        changer.release(volume).unwrap();
        let error = changer.load_label("OTHER").unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("chg-single:{device_name}: slot 1: {device_name}: wrong volume: expected label OTHER, found ONE-1")
        );
        let inventory = changer.inventory().unwrap();
        assert_eq!(inventory[0].label.as_deref(), Some("ONE-1"));
        assert!(!inventory[0].reserved);
        assert!(matches!(changer.reset(), Err(ChangerError::NotSupported { .. })));
        changer.eject().unwrap();
        assert_eq!(changer.current_slot().unwrap(), Some(1));
    }
}
