//! Property tests for the amanda.conf reader: generated valid configurations parse to
//! the values they were generated from, and arbitrary bytes never crash the parser.

use amrs::config::{self, Level};
use proptest::prelude::*;
use std::path::Path;

/// A keyword written the way a person might: any case, `-` or `_` where it has one.
fn spell(keyword: &'static str) -> impl Strategy<Value = String> {
    (any::<u64>()).prop_map(move |bits| {
        keyword
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let flip = bits >> (i % 64) & 1 == 1;
                match c {
                    '_' | '-' => {
                        if flip {
                            '-'
                        } else {
                            '_'
                        }
                    }
                    c if flip => c.to_ascii_uppercase(),
                    c => c,
                }
            })
            .collect()
    })
}

/// A string value and its quoted form in the file.
fn string_value() -> impl Strategy<Value = (String, String)> {
    "[ -~\t]{0,24}".prop_map(|s| {
        let mut q = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                '\t' => q.push_str("\\t"),
                c => q.push(c),
            }
        }
        q.push('"');
        (s, q)
    })
}

#[derive(Debug, Clone)]
struct Line {
    text: String,
    param: &'static str,
    expect: String,
}

fn int_line() -> impl Strategy<Value = Line> {
    // (keyword, counted in KiB?)
    let params = prop::sample::select(vec![
        ("dumpcycle", false),
        ("tapecycle", false),
        ("inparallel", false),
        ("maxdumps", false),
        ("netusage", true),
        ("bumpdays", false),
    ]);
    (params, 1i64..5000, 0usize..6, any::<u64>())
        .prop_flat_map(|((kw, k), n, suffix, _)| {
            let (sfx, value) = match (k, suffix) {
                (_, 0) => ("", n),
                (false, 1) => (" days", n),
                (false, 2) => (" weeks", n * 7),
                (false, 3) => (" tapes", n),
                (false, _) => (" day", n),
                (true, 1) => (" kbps", n),
                (true, 2) => (" mbps", n * 1024),
                (true, 3) => (" KB", n),
                (true, 4) => (" m", n * 1024),
                (true, _) => (" bytes", n / 1024),
            };
            spell(kw).prop_map(move |w| Line {
                text: format!("{w} {n}{sfx}"),
                param: kw,
                expect: value.max(0).to_string(),
            })
        })
        .prop_filter("positive after the suffix", |l| l.expect != "0")
}

fn string_line() -> impl Strategy<Value = Line> {
    let params = prop::sample::select(vec!["org", "mailto", "dumpuser", "printer", "dumporder"]);
    (params, string_value()).prop_flat_map(|(kw, (raw, quoted))| {
        spell(kw).prop_map(move |w| Line { text: format!("{w} {quoted}"), param: kw, expect: raw.clone() })
    })
}

fn bool_line() -> impl Strategy<Value = Line> {
    let params =
        prop::sample::select(vec!["eject-volume", "compress-index", "sort-index", "report-use-media"]);
    let forms = prop::sample::select(vec![
        ("", true),
        ("yes", true),
        ("no", false),
        ("on", true),
        ("off", false),
        ("true", true),
        ("false", false),
        ("1", true),
        ("0", false),
        ("Y", true),
        ("N", false),
    ]);
    (params, forms).prop_flat_map(|(kw, (form, v))| {
        spell(kw).prop_map(move |w| Line {
            text: format!("{w} {form}"),
            param: kw,
            expect: if v { "yes" } else { "no" }.to_string(),
        })
    })
}

fn enum_line() -> impl Strategy<Value = Line> {
    prop_oneof![
        prop::sample::select(vec!["first", "firstfit", "largest", "largestfit", "smallest", "last"])
            .prop_map(|a| Line {
                text: format!("taperalgo {a}"),
                param: "taperalgo",
                expect: a.to_uppercase()
            }),
        prop::sample::select(vec![
            ("all", "ALL"),
            ("strange", "STRANGE"),
            ("error", "ERROR"),
            ("never", "NEVER")
        ])
        .prop_map(|(a, e)| Line {
            text: format!("send-amreport-on {a}"),
            param: "send-amreport-on",
            expect: e.into()
        }),
        prop::sample::select(vec![("no", "no"), ("yes", "yes"), ("all", "all")]).prop_map(|(a, e)| Line {
            text: format!("autoflush {a}"),
            param: "autoflush",
            expect: e.into()
        }),
    ]
}

fn compress_form() -> impl Strategy<Value = (&'static str, &'static str)> {
    prop::sample::select(vec![
        ("none", "NONE"),
        ("client fast", "CLIENT FAST"),
        ("fast", "CLIENT FAST"),
        ("client best", "CLIENT BEST"),
        ("best client", "CLIENT BEST"),
        ("server fast", "SERVER FAST"),
        ("server best", "SERVER BEST"),
        ("server custom", "SERVER CUSTOM"),
        ("client custom", "CLIENT CUSTOM"),
        ("custom", "CLIENT CUSTOM"),
    ])
}

/// A chain of dumptypes, each inheriting from the previous one and overriding some
/// parameters; returns the text and the expected (param, value) pairs per dumptype.
fn dumptype_chain() -> impl Strategy<Value = (String, Vec<(String, String)>)> {
    prop::collection::vec(
        (prop::option::of(compress_form()), prop::option::of(string_value()), prop::option::of(0i32..3)),
        1..5,
    )
    .prop_map(|levels| {
        let mut text = String::new();
        let mut expects = Vec::new();
        let (mut comp, mut comment, mut prio) =
            ("CLIENT FAST".to_string(), String::new(), "MEDIUM".to_string());
        for (i, (c, cm, p)) in levels.into_iter().enumerate() {
            text.push_str(&format!("define dumptype \"dt-{i}\" {{\n"));
            if i > 0 {
                text.push_str(&format!("    \"dt-{}\"\n", i - 1));
            }
            text.push_str("    # a comment line\n\n");
            if let Some((form, shown)) = c {
                text.push_str(&format!("    compress {form}\n"));
                comp = shown.to_string();
            }
            if let Some((raw, quoted)) = cm {
                text.push_str(&format!("    comment {quoted}   # trailing comment\n"));
                comment = raw;
            }
            if let Some(p) = p {
                let (w, shown) = [("low", "LOW"), ("medium", "MEDIUM"), ("high", "HIGH")][p as usize];
                text.push_str(&format!("    priority {w}\n"));
                prio = shown.to_string();
            }
            text.push_str("}\n");
            expects.push((format!("dumptype:dt-{i}:compress"), comp.clone()));
            expects.push((format!("dumptype:dt-{i}:comment"), comment.clone()));
            expects.push((format!("dumptype:dt-{i}:priority"), prio.clone()));
        }
        (text, expects)
    })
}

fn value_of(cfg: &config::Config, key: &str) -> String {
    let (_, v) = cfg.param_by_name(key).unwrap_or_else(|| panic!("no parameter {key}"));
    v.display_strs().join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn generated_configurations_parse_to_their_values(
        lines in prop::collection::vec(prop_oneof![int_line(), string_line(), bool_line(), enum_line()], 0..25),
        (chain_text, chain_expect) in dumptype_chain(),
    ) {
        // The last setting of a global wins; the overlay pass allows repeats.
        let mut text = String::from("# generated\n");
        let mut expect: Vec<(String, String)> = Vec::new();
        for l in &lines {
            text.push_str(&l.text);
            text.push('\n');
            expect.retain(|(p, _)| p != l.param);
            expect.push((l.param.to_string(), l.expect.clone()));
        }
        text.push_str(&chain_text);
        let dir = Path::new("/nonexistent/amrs-prop");
        let cfg = config::parse_text(&text, dir, false);
        // A parameter repeated at top level is an error outside overlay mode; only
        // accept that message.
        let unexpected: Vec<&String> = cfg.diagnostics.iter().filter(|d| !d.contains("duplicate parameter")).collect();
        prop_assert!(unexpected.is_empty(), "diagnostics: {:?}\n{}", unexpected, text);
        let repeated = lines.iter().enumerate().any(|(i, l)| lines[..i].iter().any(|m| m.param == l.param));
        prop_assert_eq!(cfg.level == Level::Errors, repeated);
        for (p, v) in expect.iter().chain(chain_expect.iter()) {
            prop_assert_eq!(&value_of(&cfg, p), v, "parameter {} in\n{}", p, text);
        }
    }

    #[test]
    fn arbitrary_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let cfg = config::parse_bytes(&bytes, Path::new("/nonexistent"), false);
        let _ = cfg.level;
        let cfg = config::parse_bytes(&bytes, Path::new("/nonexistent"), true);
        let _ = cfg.level;
    }

    #[test]
    fn keyword_soup_never_panics(words in prop::collection::vec(prop::sample::select(vec![
        "define", "dumptype", "tapetype", "holdingdisk", "interface", "application", "script", "{", "}", "\n",
        "compress", "client", "server", "fast", "\"x\"", "\"", "1", "-2", "3.5", "inf", "k", "m", "yes", "property",
        "append", "priority", "exclude", "list", "file", "optional", "estimate", "calcsize", "includefile", "#",
        ",", "storage", "policy", "autolabel", "labelstr", "match-autolabel", "vault", "dump-selection", "all",
    ]), 0..120)) {
        let text = words.join(" ");
        let cfg = config::parse_text(&text, Path::new("/nonexistent"), false);
        let _ = cfg.level;
    }
}
