//! Amanda's string quoting (`quote_string`, `unquote_string`, `split_quoted_strings`), its
//! `strtok_r`/`strquotedstr` tokenizer for header-style lines, and `sanitise_filename`.
//!
//! Source of truth: Amanda 3.5.1 common-src/amutil.c (`quote_string_maybe`,
//! `unquote_string`, `split_quoted_strings`, `strquotedstr`) and common-src/file.c
//! (`sanitise_filename`). These rules are shared by the volume header, the log files, the
//! curinfo and index databases and the holding-disk file names, so they are reproduced
//! byte for byte, quirks included (each quirk is called out where it is implemented).
//!
//! The byte-level functions ([`quote_bytes`], [`unquote_bytes`]) are exact. The `&str`
//! wrappers are what most callers want; [`unquote_string`] has to replace invalid UTF-8
//! (only reachable through octal escapes such as `\377`) with U+FFFD.

/// Whether Amanda would quote `text`: it is empty, or holds `:` `'` `\` `"`, a space or any
/// control byte (`<= 0x20`), DEL (0x7F) — or any byte `>= 0x80`.
///
/// The last rule is not in Amanda's source text but in its behaviour: the test is
/// `*r <= ' '` on a plain `char`, which is signed on x86-64 Linux, so every non-ASCII byte
/// compares as negative and forces quoting. Real Amanda 3.5.1 (Debian amd64) writes the disk
/// `/tmp/dätä` as `"/tmp/dätä"`; we do the same so our headers and logs match it. (On
/// platforms with unsigned `char` Amanda would leave such names bare; the parsers here
/// accept both forms.)
pub fn needs_quoting(text: &[u8]) -> bool {
    text.is_empty()
        || text
            .iter()
            .any(|&byte| matches!(byte, b':' | b'\'' | b'\\' | b'"' | 0x7F) || byte <= b' ' || byte >= 0x80)
}

/// Amanda's `quote_string_maybe(text, always)` on raw bytes.
///
/// Unquoted output is the input unchanged. Quoted output is `"` + body + `"`, where the
/// body escapes TAB→`\t`, LF→`\n`, CR→`\r`, FF→`\f`, `\`→`\\`, `"`→`\"` and copies every
/// other byte verbatim (including other control bytes, DEL and non-ASCII). Empty input is
/// always `""`.
pub fn quote_bytes(text: &[u8], always: bool) -> Vec<u8> {
    if !always && !needs_quoting(text) {
        return text.to_vec();
    }
    let mut quoted = Vec::with_capacity(text.len() + 2);
    quoted.push(b'"');
    for &byte in text {
        match byte {
            b'\t' => quoted.extend_from_slice(b"\\t"),
            b'\n' => quoted.extend_from_slice(b"\\n"),
            b'\r' => quoted.extend_from_slice(b"\\r"),
            0x0C => quoted.extend_from_slice(b"\\f"),
            b'\\' => quoted.extend_from_slice(b"\\\\"),
            b'"' => quoted.extend_from_slice(b"\\\""),
            other => quoted.push(other),
        }
    }
    quoted.push(b'"');
    quoted
}

/// Amanda's `quote_string()`: quotes only when [`needs_quoting`] says so.
///
/// ```
/// use amrs::format::quote::quote_string;
/// assert_eq!(quote_string("/usr"), "/usr");
/// assert_eq!(quote_string("/home/a b"), "\"/home/a b\"");
/// assert_eq!(quote_string("C:\\"), "\"C:\\\\\"");
/// assert_eq!(quote_string(""), "\"\"");
/// ```
pub fn quote_string(text: &str) -> String {
    bytes_to_string(quote_bytes(text.as_bytes(), false))
}

/// Amanda's `quote_string_always()`: always wraps in double quotes.
pub fn quote_string_always(text: &str) -> String {
    bytes_to_string(quote_bytes(text.as_bytes(), true))
}

/// Amanda's `unquote_string()` on raw bytes.
///
/// Every `"` is removed wherever it is (so `"a b"c"d"` gives `a bcd`). A backslash escapes:
/// `\n` `\t` `\r` `\f` give LF, TAB, CR, FF; `\` + 1–3 octal digits gives that byte (a zero
/// result is dropped, values above 0o377 wrap to 8 bits as the C `char` arithmetic does);
/// `\` + any other byte gives that byte (so `\\` → `\`, `\"` → `"`); a trailing lone `\`
/// is dropped.
///
/// Quirk kept from Amanda: after an octal escape the *next* byte is copied verbatim without
/// being interpreted, so `\101"` gives `A"` and `\101\102` gives `A\102`. (At the very end
/// of the input Amanda reads past the terminator; we simply stop.)
pub fn unquote_bytes(text: &[u8]) -> Vec<u8> {
    let mut unquoted = Vec::with_capacity(text.len());
    let mut index = 0;
    while index < text.len() {
        let byte = text[index];
        if byte == b'"' {
            index += 1;
            continue;
        }
        if byte == b'\\' {
            index += 1;
            match text.get(index) {
                None => break,
                Some(b'n') => {
                    unquoted.push(b'\n');
                    index += 1;
                    continue;
                }
                Some(b't') => {
                    unquoted.push(b'\t');
                    index += 1;
                    continue;
                }
                Some(b'r') => {
                    unquoted.push(b'\r');
                    index += 1;
                    continue;
                }
                Some(b'f') => {
                    unquoted.push(0x0C);
                    index += 1;
                    continue;
                }
                Some(b'0'..=b'7') => {
                    let mut value: u8 = 0;
                    let mut digits = 0;
                    while digits < 3 {
                        match text.get(index) {
                            Some(&digit @ b'0'..=b'7') => {
                                value = value.wrapping_shl(3).wrapping_add(digit - b'0');
                                index += 1;
                                digits += 1;
                            }
                            _ => break,
                        }
                    }
                    if value != 0 {
                        unquoted.push(value);
                    }
                    if index >= text.len() {
                        break;
                    }
                    // Fall through: copy the following byte verbatim (Amanda's quirk).
                }
                Some(_) => {}
            }
        }
        unquoted.push(text[index]);
        index += 1;
    }
    unquoted
}

/// Amanda's `unquote_string()`; see [`unquote_bytes`] for the rules. Bytes that do not form
/// valid UTF-8 (only possible through octal escapes) become U+FFFD.
///
/// ```
/// use amrs::format::quote::unquote_string;
/// assert_eq!(unquote_string("\"/home/a b\""), "/home/a b");
/// assert_eq!(unquote_string("\"tab\\there\""), "tab\there");
/// assert_eq!(unquote_string("\\101BC"), "ABC");
/// ```
pub fn unquote_string(text: &str) -> String {
    bytes_to_string(unquote_bytes(text.as_bytes()))
}

/// Amanda's `split_quoted_strings()`: splits on *single* spaces outside double quotes (a
/// backslash protects the next byte) and unquotes each piece.
///
/// Exactly like Amanda, consecutive spaces yield empty pieces, and the final piece is always
/// emitted — so `""` gives `[""]` and `"x "` gives `["x", ""]`. Log-file and curinfo
/// readers that want "words" should use [`Tokenizer`] instead.
pub fn split_quoted_strings(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut index = 0;
    let mut in_quotes = false;
    while index < bytes.len() {
        match bytes[index] {
            b' ' if !in_quotes => {
                pieces.push(unquote_string(&text[start..index]));
                start = index + 1;
            }
            b'\\' => {
                index += 1;
                if index >= bytes.len() {
                    break;
                }
            }
            b'"' => in_quotes = !in_quotes,
            _ => {}
        }
        index += 1;
    }
    pieces.push(unquote_string(&text[start..]));
    pieces
}

/// Amanda's `sanitise_filename()` (common-src/file.c): replaces each `/`, `:` and `\` with
/// `_`. Many-to-one and not reversible (`/a_b` and `/a/b` collide); everything else,
/// including spaces and non-ASCII, is kept. Used for vtape file names, holding-disk file
/// names, curinfo and index directories and amrestore output names.
///
/// ```
/// use amrs::format::quote::sanitise_filename;
/// assert_eq!(sanitise_filename("/home/a b"), "_home_a b");
/// assert_eq!(sanitise_filename("C:\\Users"), "C__Users");
/// ```
pub fn sanitise_filename(name: &str) -> String {
    name.chars().map(|c| if matches!(c, '/' | ':' | '\\') { '_' } else { c }).collect()
}

/// A cursor over one line that reproduces how Amanda's parsers walk it with
/// `strtok_r(NULL, " ", &saveptr)` and `strquotedstr(&saveptr)`.
///
/// * [`Tokenizer::next_token`] is `strtok_r` with delimiter `' '` only: runs of spaces are
///   skipped, but TAB and other whitespace are ordinary token bytes.
/// * [`Tokenizer::next_token_until`] is `strtok_r` with a different delimiter byte (the
///   header parser reads `part N/M` with `'/'`); it skips leading delimiter bytes, *not*
///   spaces.
/// * [`Tokenizer::next_quoted`] is `strquotedstr`: a token that may contain spaces inside
///   double quotes or after a backslash. It returns the raw (still quoted) text exactly as it
///   appears in the line, spaces included; pass it to [`unquote_string`].
///
/// Like `strtok_r`, consuming a token also consumes the single delimiter byte after it.
#[derive(Debug, Clone)]
pub struct Tokenizer<'a> {
    text: &'a str,
    position_bytes: usize,
}

impl<'a> Tokenizer<'a> {
    /// Starts at the beginning of `text`.
    pub fn new(text: &'a str) -> Self {
        Self { text, position_bytes: 0 }
    }

    /// The next space-delimited token, or `None` at the end of the line.
    pub fn next_token(&mut self) -> Option<&'a str> {
        self.next_token_until(b' ')
    }

    /// The next token delimited by `delimiter` (an ASCII byte), or `None` at the end.
    pub fn next_token_until(&mut self, delimiter: u8) -> Option<&'a str> {
        let (start, end) = self.next_span(delimiter)?;
        Some(&self.text[start..end])
    }

    /// `strtok_r` proper: the byte range of the next token, advancing past it and the one
    /// delimiter byte that ended it.
    fn next_span(&mut self, delimiter: u8) -> Option<(usize, usize)> {
        debug_assert!(delimiter.is_ascii(), "delimiters must be ASCII to keep UTF-8 boundaries");
        let bytes = self.text.as_bytes();
        let mut start = self.position_bytes;
        while start < bytes.len() && bytes[start] == delimiter {
            start += 1;
        }
        if start >= bytes.len() {
            self.position_bytes = bytes.len();
            return None;
        }
        let end = bytes[start..]
            .iter()
            .position(|&byte| byte == delimiter)
            .map_or(bytes.len(), |offset| start + offset);
        self.position_bytes = (end + 1).min(bytes.len());
        Some((start, end))
    }

    /// The next token that may contain quoted or backslash-escaped spaces (Amanda's
    /// `strquotedstr`), still in its quoted form. `None` if the line ends first — including
    /// when it ends inside an open quote or right after a backslash, as Amanda does.
    pub fn next_quoted(&mut self) -> Option<&'a str> {
        let (start, mut end) = self.next_span(b' ')?;
        let bytes = self.text.as_bytes();
        let mut index = start;
        let mut in_quote = false;
        let mut in_backslash = false;
        loop {
            if index == end {
                if !in_quote && !in_backslash {
                    break;
                }
                // Amanda restores the delimiter it had overwritten and appends the next
                // strtok token, so the result is the original text with its own spacing.
                let (_, more_end) = self.next_span(b' ')?;
                end = more_end;
            }
            if in_backslash {
                in_backslash = false;
            } else if bytes[index] == b'"' {
                in_quote = !in_quote;
            } else if bytes[index] == b'\\' {
                in_backslash = true;
            }
            index += 1;
        }
        Some(&self.text[start..end])
    }

    /// Everything not consumed yet (Amanda's `saveptr`).
    pub fn rest(&self) -> &'a str {
        &self.text[self.position_bytes..]
    }
}

fn bytes_to_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quoting_decision_matches_amanda() {
        for plain in ["/usr", "sda1", "a-b_c.d+e,f;g=h?i!j~k", "%", "a/b"] {
            assert!(!needs_quoting(plain.as_bytes()), "{plain:?}");
            assert_eq!(quote_string(plain), plain);
        }
        for special in ["", "a:b", "it's", "a\\b", "a\"b", "a b", "a\tb", "\x01", "\x7f", "dätä"] {
            assert!(needs_quoting(special.as_bytes()), "{special:?}");
            assert!(quote_string(special).starts_with('"'), "{special:?}");
        }
    }

    /// Outputs observed from Amanda 3.5.1's own Amanda::Util::quote_string on this machine.
    #[test]
    fn quote_matches_real_amanda_outputs() {
        assert_eq!(quote_string("a\x01b\x7f"), "\"a\x01b\x7f\"");
        assert_eq!(quote_string("tab\there"), "\"tab\\there\"");
        assert_eq!(quote_string("nl\nx\r\x0c\\\""), "\"nl\\nx\\r\\f\\\\\\\"\"");
        assert_eq!(quote_string(""), "\"\"");
        assert_eq!(quote_string("plain-_.+,;=?!~"), "plain-_.+,;=?!~");
        assert_eq!(quote_string("é"), "\"é\"");
        assert_eq!(quote_string("a:b"), "\"a:b\"");
        assert_eq!(quote_string_always("abc"), "\"abc\"");
    }

    /// Outputs observed from Amanda 3.5.1's Amanda::Util::unquote_string on this machine.
    #[test]
    fn unquote_matches_real_amanda_outputs() {
        assert_eq!(unquote_bytes(br#""\101\102""#), b"A\\102");
        assert_eq!(unquote_bytes(br#""\101""#), b"A\"");
        assert_eq!(unquote_bytes(br#"a\101"b"c"#), b"aA\"bc");
        assert_eq!(unquote_bytes(br#""\777x""#), b"\xffx");
        assert_eq!(unquote_bytes(br#""\0x""#), b"x");
        assert_eq!(unquote_bytes(br#""\qz""#), b"qz");
        assert_eq!(unquote_bytes(b"ab\\"), b"ab");
        assert_eq!(unquote_bytes(br#""a b"c"d e""#), b"a bcd e");
        assert_eq!(unquote_bytes(br#""\x41""#), b"x41");
        assert_eq!(unquote_bytes(br#""\n\t\r\f""#), b"\n\t\r\x0c");
        assert_eq!(unquote_string(""), "");
        assert_eq!(unquote_string("\"\\377x\""), "\u{FFFD}x");
    }

    #[test]
    fn split_quoted_strings_matches_real_amanda() {
        assert_eq!(split_quoted_strings(""), [""]);
        assert_eq!(split_quoted_strings("a  b"), ["a", "", "b"]);
        assert_eq!(split_quoted_strings("\"a b\" c"), ["a b", "c"]);
        assert_eq!(split_quoted_strings("x "), ["x", ""]);
        assert_eq!(split_quoted_strings(" x"), ["", "x"]);
        assert_eq!(split_quoted_strings("a\\ b"), ["a b"]);
    }

    #[test]
    fn sanitise_replaces_only_slash_colon_backslash() {
        assert_eq!(sanitise_filename("/a:b\\c"), "_a_b_c");
        assert_eq!(sanitise_filename("/tmp/amrs-fmt-scratch/dätä"), "_tmp_amrs-fmt-scratch_dätä");
        assert_eq!(sanitise_filename("/data/sub dir"), "_data_sub dir");
    }

    #[test]
    fn tokenizer_skips_runs_of_spaces_only() {
        let mut tokens = Tokenizer::new("  a   b\tc  ");
        assert_eq!(tokens.next_token(), Some("a"));
        assert_eq!(tokens.next_token(), Some("b\tc"));
        assert_eq!(tokens.next_token(), None);
        assert_eq!(tokens.next_token(), None);
    }

    #[test]
    fn tokenizer_other_delimiter_and_rest() {
        let mut tokens = Tokenizer::new("part  1/-1  lev 0");
        assert_eq!(tokens.next_token(), Some("part"));
        assert_eq!(tokens.rest(), " 1/-1  lev 0");
        assert_eq!(tokens.next_token_until(b'/'), Some(" 1"));
        assert_eq!(tokens.next_token(), Some("-1"));
        assert_eq!(tokens.next_token(), Some("lev"));
    }

    #[test]
    fn quoted_tokens_keep_original_spacing() {
        let mut tokens = Tokenizer::new(r#"host "/a  b" "c\" d" e\ f "unterminated x"#);
        assert_eq!(tokens.next_token(), Some("host"));
        assert_eq!(tokens.next_quoted(), Some("\"/a  b\""));
        assert_eq!(tokens.next_quoted(), Some(r#""c\" d""#));
        assert_eq!(tokens.next_quoted(), Some(r"e\ f"));
        assert_eq!(tokens.next_quoted(), None);
    }

    #[test]
    fn quoted_token_ending_in_escaped_backslash() {
        // Amanda writes the Windows disk `C:\` as "C:\\"; the closing quote is real.
        let mut tokens = Tokenizer::new(r#""C:\\"  lev 0"#);
        assert_eq!(tokens.next_quoted(), Some(r#""C:\\""#));
        assert_eq!(tokens.next_token(), Some("lev"));
    }

    proptest! {
        #[test]
        fn unquote_inverts_quote(text in "(?s)[^\\x00]{0,40}") {
            let quoted = quote_string(&text);
            prop_assert_eq!(unquote_string(&quoted), text.clone());
            let always = quote_string_always(&text);
            prop_assert_eq!(unquote_string(&always), text);
        }

        #[test]
        fn quoted_form_is_one_strquotedstr_token(text in "(?s)[^\\x00]{0,40}", tail in "[a-z]{1,5}") {
            let line = format!("{}  {}", quote_string(&text), tail);
            let mut tokens = Tokenizer::new(&line);
            let raw = tokens.next_quoted();
            prop_assert!(raw.is_some());
            prop_assert_eq!(unquote_string(raw.unwrap_or_default()), text);
            prop_assert_eq!(tokens.next_token(), Some(tail.as_str()));
        }

        #[test]
        fn quoted_form_has_no_raw_line_breaks(text in "(?s)[^\\x00]{0,40}") {
            let quoted = quote_string(&text);
            prop_assert!(!quoted.contains('\n') && !quoted.contains('\r'));
        }

        #[test]
        fn sanitised_names_have_no_path_separators(text in "(?s).{0,40}") {
            let clean = sanitise_filename(&text);
            prop_assert!(!clean.contains(['/', ':', '\\']));
            prop_assert_eq!(clean.chars().count(), text.chars().count());
        }
    }
}
