//! Fuzz target for the Amanda header parser (amrs::format::header): arbitrary bytes must
//! never panic, and whatever parses must survive a build → parse → build cycle unchanged.
#![no_main]

use amrs::format::header::{
    build_header, parse_header, parse_header_lenient, summarize_header, DISK_BLOCK_BYTES,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|block: &[u8]| {
    // The lenient parser (Amanda's semantics) and the summary must accept anything.
    let lenient = parse_header_lenient(block);
    let _ = summarize_header(&lenient);

    let Ok(file) = parse_header(block) else {
        return;
    };
    // Whenever the strict parser succeeds it agrees with the lenient one.
    assert_eq!(file, lenient, "strict and lenient parses differ");

    // Many parsed headers cannot be written back (no program, odd datestamp, fields that
    // would not survive the trip); those are refused with an error, never a panic.
    let Ok(rebuilt) = build_header(&file, DISK_BLOCK_BYTES) else {
        return;
    };
    assert_eq!(rebuilt.len(), DISK_BLOCK_BYTES);
    let reparsed = parse_header(&rebuilt).expect("a header we built must parse");
    let rebuilt_again =
        build_header(&reparsed, DISK_BLOCK_BYTES).expect("a header we parsed from our own block must build");
    assert_eq!(rebuilt, rebuilt_again, "build/parse is not a fixed point");
    assert_eq!(summarize_header(&reparsed), summarize_header(&parse_header(&rebuilt_again).expect("parses")));
});
