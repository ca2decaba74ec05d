//! Amanda 3.5.1's matching of hosts, disks, datestamps, levels, globs and labels
//! (`common-src/match.c`) and its command-line dump specifications
//! (`server-src/cmdline.c`), used by amrestore, amfetchdump, amadmin, amdump and others.
//!
//! Public API, rules first (each file documents its part in detail):
//!
//! - Expressions (module [`matching`], rules in its header): [`match_host`],
//!   [`match_disk`], [`match_datestamp`], [`match_level`], [`match_glob`], [`match_tar`],
//!   [`match_regex`] (Amanda's `match()`), [`match_labelstr`] /
//!   [`match_labelstr_template`] with [`make_template`], and the helpers
//!   [`make_exact_host_expression`], [`make_exact_disk_expression`], [`clean_regex`],
//!   [`glob_to_regex`], [`validate_regexp`], [`validate_glob`]. All return
//!   `Result<bool, MatchError>`: where Amanda calls `error()` and exits (an illegal
//!   datestamp or level expression, a pattern whose regex does not compile) we return the
//!   same message as a [`MatchError`].
//! - Dump specifications (module [`dumpspec`]): [`DumpSpec`], [`ParseFlags`],
//!   [`parse_dumpspecs`], [`format_dumpspec`], [`format_dumpspec_components`],
//!   [`DumpSpec::matches`] (one header), [`matches_any`] (a list; empty = everything),
//!   [`DumpSpec::matches_holding`], [`DumpSpec::matches_catalog`].
//! - Regular expressions (module [`ere`]): Amanda's regexes are glibc POSIX EREs in the C
//!   locale; `ere` parses them with glibc's rules (same accepted set, same error texts)
//!   and compiles them for the `regex` crate, with a bounded cache so a pattern is compiled
//!   once however many headers it is matched against.
//!
//! Conformance: `tests/matching_vs_amanda.rs` checks every function against records made
//! by the real Amanda 3.5.1 (`tools/gen-matching-golden.py` → `tests/golden/matching/`).

pub mod dumpspec;
pub mod ere;
pub mod matching;

pub use dumpspec::{
    format_dumpspec, format_dumpspec_components, matches_any, parse_dumpspecs, CatalogDump, DumpSpec,
    ParseFlags,
};
pub use matching::{
    clean_regex, glob_to_regex, make_exact_disk_expression, make_exact_host_expression, make_template,
    match_datestamp, match_disk, match_glob, match_host, match_labelstr, match_labelstr_template,
    match_level, match_regex, match_regex_no_newline, match_tar, tar_to_regex, validate_glob,
    validate_regexp, MatchError, TemplateVars,
};
