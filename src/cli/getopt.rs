//! Perl's Getopt::Long in `bundling` mode, as every Amanda 3.5.1 tool we mirror calls it
//! (`Getopt::Long::Configure(qw(bundling)); GetOptions(...) or usage();` in amgetconf,
//! amrestore, amlabel and amtape), so that our tools accept and reject exactly the same
//! command lines.
//!
//! Options are written as Getopt::Long specifications (`"list|l"`, `"o=s"`, `"b=i"`,
//! `"help|usage|?"`); the first name is the one reported. The rules reproduced, from
//! Getopt::Long 2.52's `FindOption`:
//!
//! - options and arguments in any order (`permute`); `--` ends the options; `-` alone is
//!   an argument;
//! - `-abc` is a bundle of one-character options; a value-taking option takes the rest of
//!   the bundle or the next argument (`-oVALUE`, `-o VALUE`), whatever it looks like;
//! - `--name`, `--name=VALUE`, `--name VALUE`; long names are matched case-insensitively
//!   and may be abbreviated to any unambiguous prefix (`--cl` is `--client`); an exact
//!   match wins over longer names (`--c` is `-c` when both `c` and `config` exist);
//!   one-character options can be given as `--x` too (and `--C` means `-c`, since the
//!   name is lowercased before the lookup);
//! - integer options (`=i`) take `[-+]?_*[0-9][0-9_]*`; inside a bundle the digits end
//!   the value and the rest of the bundle goes on (`-f5p` is `-f 5 -p`); a value that is
//!   not a number is an error and the argument is looked at again as if not consumed;
//! - errors (unknown option, missing or unexpected value, bad number) do not stop the
//!   parse: Getopt::Long warns and goes on, calling the handlers of later options, and
//!   only returns false at the end. Amanda's tools then print their usage. Because some
//!   handlers act at once (`--version` prints and exits, `-o` and `--execute-where`
//!   reject bad values with their own message), [`getopt`] returns options and errors
//!   interleaved in command-line order, and the tools process them in that order.
//!
//! Amanda hides Getopt::Long's warnings (they go to its debug log), so the error texts
//! here are only for tests and debugging; no tool prints them.

/// What an option takes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Flag,
    Str,
    Int,
}

/// One parsed item, in command-line order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Item {
    /// An option (its first name) and its value (`None` for a flag; integers normalised
    /// to their decimal value).
    Opt(&'static str, Option<String>),
    /// A command-line error, with Getopt::Long's warning text.
    Error(String),
}

/// The result of [`getopt`]: options and errors in order, then the arguments.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub items: Vec<Item>,
    pub args: Vec<String>,
}

/// Options as [`Parsed::options`] returns them: name and value, in command-line order.
pub(crate) type Opts = Vec<(&'static str, Option<String>)>;

impl Parsed {
    /// The options and arguments, or `Err` when the command line had an error (for the
    /// tools whose handlers have no effect before `GetOptions` returns).
    pub fn options(self) -> Result<(Opts, Vec<String>), ()> {
        let mut opts = Vec::new();
        for item in self.items {
            match item {
                Item::Opt(name, value) => opts.push((name, value)),
                Item::Error(_) => return Err(()),
            }
        }
        Ok((opts, self.args))
    }

    /// The options in order with the errors left out, whether there was an error, and the
    /// arguments (for the tools whose handlers act as they are read while an error only
    /// shows once all options are read).
    pub fn lenient(self) -> (Opts, bool, Vec<String>) {
        let mut opts = Vec::new();
        let mut bad = false;
        for item in self.items {
            match item {
                Item::Opt(name, value) => opts.push((name, value)),
                Item::Error(_) => bad = true,
            }
        }
        (opts, bad, self.args)
    }
}

struct Spec {
    /// The first name of the option this name belongs to.
    canonical: &'static str,
    kind: Kind,
}

/// One name of the table Getopt::Long builds (`%opctl`): long names lowercased, single
/// characters kept as they are (bundling makes them case-sensitive).
struct Name {
    name: String,
    spec: Spec,
}

fn table(specs: &[&'static str]) -> Vec<Name> {
    let mut names = Vec::new();
    for spec in specs {
        let (aliases, kind) = match spec.split_once('=') {
            Some((a, "s")) => (a, Kind::Str),
            Some((a, "i")) => (a, Kind::Int),
            Some((_, t)) => panic!("getopt: unsupported option type {t:?} in {spec:?}"),
            None => (*spec, Kind::Flag),
        };
        let canonical = aliases.split('|').next().unwrap_or(aliases);
        for alias in aliases.split('|') {
            let name = if alias.chars().count() == 1 { alias.to_owned() } else { alias.to_lowercase() };
            names.push(Name { name, spec: Spec { canonical, kind } });
        }
    }
    names.sort_by(|a, b| a.name.cmp(&b.name));
    names
}

/// Getopt::Long's `PAT_INT`, anchored at the start: the length of the number that begins
/// `s`, if any.
fn int_prefix(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    while b.get(i) == Some(&b'_') {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
        i += 1;
    }
    Some(i)
}

/// `0+$arg` after `tr/_//d`: the decimal value of a number Getopt::Long accepted.
fn int_value(s: &str) -> String {
    let digits: String = s.chars().filter(|c| *c != '_').collect();
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", digits.strip_prefix('+').unwrap_or(&digits)),
    };
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        format!("{sign}{trimmed}")
    }
}

/// Looks up a long name (after `--`): exact, else a unique abbreviation.
fn find_long<'t>(table: &'t [Name], name: &str) -> Result<&'t Spec, String> {
    let name = name.to_lowercase();
    if let Some(n) = table.iter().find(|n| n.name == name) {
        return Ok(&n.spec);
    }
    let hits: Vec<&Name> = if name.is_empty() {
        Vec::new()
    } else {
        table.iter().filter(|n| n.name.starts_with(&name)).collect()
    };
    match hits.as_slice() {
        [] => Err(format!("Unknown option: {name}")),
        [one] => Ok(&one.spec),
        [first, rest @ ..] => {
            if rest.iter().all(|n| n.spec.canonical == first.spec.canonical) {
                Ok(&first.spec)
            } else {
                let list: Vec<&str> = hits.iter().map(|n| n.name.as_str()).collect();
                Err(format!("Option {name} is ambiguous ({})", list.join(", ")))
            }
        }
    }
}

/// Parses `argv` (the arguments after the program name) against Getopt::Long
/// specifications, in `bundling` mode; see the module documentation.
pub(crate) fn getopt(argv: &[String], specs: &[&'static str]) -> Parsed {
    let table = table(specs);
    let mut items = Vec::new();
    let mut args = Vec::new();
    // Getopt::Long works on a queue: bundles and rejected values are pushed back on it.
    let mut queue: std::collections::VecDeque<String> = argv.iter().cloned().collect();
    while let Some(arg) = queue.pop_front() {
        if arg == "--" {
            args.extend(queue.drain(..));
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.find('=').filter(|&p| p >= 1) {
                Some(p) => (&long[..p], Some(long[p + 1..].to_owned())),
                None => (long, None),
            };
            let spec = match find_long(&table, name) {
                Ok(s) => s,
                Err(e) => {
                    items.push(Item::Error(e));
                    continue;
                }
            };
            if spec.kind == Kind::Flag {
                if inline.is_some() {
                    items.push(Item::Error(format!("Option {} does not take an argument", spec.canonical)));
                } else {
                    items.push(Item::Opt(spec.canonical, None));
                }
                continue;
            }
            // `--name=` gives no value at all; otherwise the next argument, whatever it is.
            let value = match inline {
                Some(v) if v.is_empty() => None,
                Some(v) => Some((v, true)),
                None => queue.pop_front().map(|v| (v, false)),
            };
            let Some((value, inline)) = value else {
                items.push(Item::Error(format!("Option {} requires an argument", spec.canonical)));
                continue;
            };
            if spec.kind == Kind::Int && int_prefix(&value) != Some(value.len()) {
                items.push(Item::Error(format!(
                    "Value \"{value}\" invalid for option {} (number expected)",
                    spec.canonical
                )));
                if !inline {
                    queue.push_front(value);
                }
                continue;
            }
            let value = if spec.kind == Kind::Int { int_value(&value) } else { value };
            items.push(Item::Opt(spec.canonical, Some(value)));
        } else if arg.len() > 1 && arg.starts_with('-') {
            // One character of the bundle; the rest is pushed back as `-REST`.
            let mut chars = arg[1..].chars();
            let c = chars.next().map(String::from).unwrap_or_default();
            let rest: String = chars.collect();
            let rest = (!rest.is_empty()).then_some(rest);
            let Some(spec) = table.iter().find(|n| n.name == c).map(|n| &n.spec) else {
                items.push(Item::Error(format!("Unknown option: {c}")));
                if let Some(r) = rest {
                    queue.push_front(format!("-{r}"));
                }
                continue;
            };
            match spec.kind {
                Kind::Flag => {
                    items.push(Item::Opt(spec.canonical, None));
                    if let Some(r) = rest {
                        queue.push_front(format!("-{r}"));
                    }
                }
                Kind::Str => match rest.or_else(|| queue.pop_front()) {
                    Some(v) => items.push(Item::Opt(spec.canonical, Some(v))),
                    None => {
                        items.push(Item::Error(format!("Option {} requires an argument", spec.canonical)))
                    }
                },
                Kind::Int => match rest {
                    Some(r) => match int_prefix(&r) {
                        Some(n) => {
                            items.push(Item::Opt(spec.canonical, Some(int_value(&r[..n]))));
                            if n < r.len() {
                                queue.push_front(format!("-{}", &r[n..]));
                            }
                        }
                        None => {
                            items.push(Item::Error(format!(
                                "Value \"{r}\" invalid for option {} (number expected)",
                                spec.canonical
                            )));
                            queue.push_front(format!("-{r}"));
                        }
                    },
                    None => match queue.pop_front() {
                        Some(v) if int_prefix(&v) == Some(v.len()) => {
                            items.push(Item::Opt(spec.canonical, Some(int_value(&v))))
                        }
                        Some(v) => {
                            items.push(Item::Error(format!(
                                "Value \"{v}\" invalid for option {} (number expected)",
                                spec.canonical
                            )));
                            queue.push_front(v);
                        }
                        None => {
                            items.push(Item::Error(format!("Option {} requires an argument", spec.canonical)))
                        }
                    },
                },
            }
        } else {
            args.push(arg);
        }
    }
    Parsed { items, args }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn opt(name: &'static str, v: Option<&str>) -> Item {
        Item::Opt(name, v.map(str::to_owned))
    }

    #[test]
    fn getopt_bundles_abbreviates_and_permutes() {
        let spec = ["f", "o=s", "barcode=s", "assign"];
        let (opts, args) = getopt(&s(&["CONF", "-fofoo=1", "--bar", "B", "L", "--as", "-o", "x=2"]), &spec)
            .options()
            .unwrap();
        assert_eq!(args, s(&["CONF", "L"]));
        assert_eq!(
            opts,
            vec![
                ("f", None),
                ("o", Some("foo=1".into())),
                ("barcode", Some("B".into())),
                ("assign", None),
                ("o", Some("x=2".into()))
            ]
        );
        assert!(getopt(&s(&["-x"]), &spec).options().is_err());
        assert!(getopt(&s(&["--barcode"]), &spec).options().is_err());
        let (_, args) = getopt(&s(&["--", "-f"]), &spec).options().unwrap();
        assert_eq!(args, s(&["-f"]));
        let (_, args) = getopt(&s(&["-", "x"]), &spec).options().unwrap();
        assert_eq!(args, s(&["-", "x"]));
    }

    /// The cases below were checked against Debian's Amanda 3.5.1 amgetconf and
    /// amrestore (Getopt::Long 2.52).
    #[test]
    fn long_names_abbreviate_ignore_case_and_prefer_exact() {
        let amgetconf = ["version", "list|l", "o=s", "platform", "distro", "execute-where=s", "client"];
        let p = getopt(&s(&["--cl", "--EXEC", "client", "--li", "--l", "--o=a=1", "--vers"]), &amgetconf);
        assert_eq!(
            p.items,
            vec![
                opt("client", None),
                opt("execute-where", Some("client")),
                opt("list", None),
                opt("list", None),
                opt("o", Some("a=1")),
                opt("version", None),
            ]
        );
        // `--d` is `--distro`; `--x` matches nothing.
        assert_eq!(getopt(&s(&["--d"]), &amgetconf).items, vec![opt("distro", None)]);
        assert!(matches!(getopt(&s(&["--x"]), &amgetconf).items[..], [Item::Error(_)]));
        let amrestore = crate::cli::amrestore::OPTIONS;
        // Exact single-character names win; `--C` is lowercased to `-c`; `--co` is ambiguous.
        let p = getopt(&s(&["--c", "--C", "--h", "--ho", "--he", "-?"]), &amrestore);
        assert_eq!(
            p.items,
            vec![
                opt("c", None),
                opt("c", None),
                opt("h", None),
                opt("holding", None),
                opt("help", None),
                opt("help", None)
            ]
        );
        assert!(matches!(getopt(&s(&["--co"]), &amrestore).items[..], [Item::Error(_)]));
        // Flags refuse a value, `--name=` gives none.
        assert!(matches!(getopt(&s(&["--holding=1"]), &amrestore).items[..], [Item::Error(_)]));
        assert!(matches!(getopt(&s(&["--config="]), &amrestore).items[..], [Item::Error(_)]));
    }

    #[test]
    fn integers_end_inside_a_bundle_and_bad_ones_are_looked_at_again() {
        let spec = ["b=i", "f=i", "p", "o=s"];
        let p = getopt(&s(&["-f5p", "-b", "0_32", "--f=+7", "-pf", "-1", "X"]), &spec);
        assert_eq!(
            p.items,
            vec![
                opt("f", Some("5")),
                opt("p", None),
                opt("b", Some("32")),
                opt("f", Some("7")),
                opt("p", None),
                opt("f", Some("-1"))
            ]
        );
        assert_eq!(p.args, s(&["X"]));
        // `-f -o x`: "-o" is not a number, so it is an error and then an option again.
        let p = getopt(&s(&["-f", "-o", "x"]), &spec);
        assert!(matches!(&p.items[..], [Item::Error(_), Item::Opt("o", Some(v))] if v == "x"));
        // `-fx`: the rest of the bundle is looked at as options.
        let p = getopt(&s(&["-fp"]), &spec);
        assert!(matches!(&p.items[..], [Item::Error(_), Item::Opt("p", None)]));
    }

    #[test]
    fn errors_do_not_stop_the_parse() {
        let spec = ["o=s", "p"];
        let p = getopt(&s(&["-xp", "--bogus", "-o", "a=1", "ARG", "-o"]), &spec);
        assert_eq!(p.args, s(&["ARG"]));
        assert!(matches!(
            &p.items[..],
            [Item::Error(_), Item::Opt("p", None), Item::Error(_), Item::Opt("o", Some(_)), Item::Error(_)]
        ));
        // A string value is taken whatever it looks like.
        let p = getopt(&s(&["-o", "--", "-o", "-p"]), &spec);
        assert_eq!(p.items, vec![opt("o", Some("--")), opt("o", Some("-p"))]);
    }
}
