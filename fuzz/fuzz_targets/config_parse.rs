//! Fuzz target: arbitrary bytes through the amanda.conf / amanda-client.conf reader and
//! the disklist reader; none may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let dir = Path::new("/nonexistent/amrs-fuzz");
    let cfg = amrs::config::parse_bytes(data, dir, false);
    let _ = amrs::config::parse_bytes(data, dir, true);
    // Exercise the display rules over whatever was parsed.
    for kind in amrs::config::SectionKind::ALL {
        for name in cfg.list(kind) {
            if let Some(sec) = cfg.lookup(kind, name) {
                for v in sec.values.values() {
                    let _ = v.display_strs();
                }
            }
        }
    }
});
