//! Output names from source paths. Every door (the CLI's folders, uploads, the watch
//! folder) names outputs the same way: the source's folders under its input root, then its
//! file stem, each part transliterated to ASCII (`Größe` -> `Grosse`, `café` -> `cafe`)
//! and cut down to characters every file system and marketplace uploader accepts.
//! Uniqueness is the store's job (the job store's `claim_name`): a name, once
//! given to a source, stays that source's.

/// Longest part of a name in bytes: `<name>.<spec>.json` stays far below the 255-byte
/// limit of file names.
pub const MAX_PART_BYTES: usize = 120;

/// Most folders a name keeps (the ones nearest the file, where product folders are): a
/// name stays far below the 4,096-byte limit of paths, wherever the data folder is.
pub const MAX_FOLDERS: usize = 8;

/// Names Windows refuses for a file whatever its extension.
const RESERVED: &[&str] = &[
    "con", "prn", "aux", "nul", "com0", "com1", "com2", "com3", "com4", "com5", "com6", "com7",
    "com8", "com9", "lpt0", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// `text` as it may be printed on a line of a log or a terminal: control characters,
/// line separators and direction overrides written as escapes (`\n`, `\u{202e}`), so a
/// file name cannot forge a line, hide one, or reorder what follows it.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    fn hostile(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{200e}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(hostile) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hostile(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// One part of a name (a folder or a file stem), safe as a file name on every system:
/// transliterated to ASCII, letters, digits, `-`, `_` and `.` kept, every other run of
/// characters one `_`; never empty, never starting with a dot, never `..`.
pub fn part(s: &str) -> String {
    let ascii = deunicode::deunicode(s);
    let mut out = String::with_capacity(ascii.len());
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() || "-_.".contains(c) {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches(|c| c == '_' || c == '.' || c == ' ');
    let mut out = cap(trimmed, MAX_PART_BYTES)
        .trim_end_matches('.')
        .to_string();
    if out.is_empty() {
        out = "image".into();
    }
    // Windows reserves these names with any extension: `nul.tar` is the device too.
    let first = out.split('.').next().unwrap_or_default().len();
    if RESERVED.contains(&out[..first].to_ascii_lowercase().as_str()) {
        out.insert(first, '_');
    }
    out
}

/// The name a source asks for: its folders under the input root and its file stem, each a
/// [`part`], joined with `/` (`red-mug/main`), at most [`MAX_FOLDERS`] folders deep.
/// Outputs keep the same sub-folders under each spec's folder.
pub fn wanted(folders: &[String], stem: &str) -> String {
    folders[folders.len().saturating_sub(MAX_FOLDERS)..]
        .iter()
        .map(|f| part(f))
        .chain(std::iter::once(part(stem)))
        .collect::<Vec<_>>()
        .join("/")
}

/// The name a source asks for from its path under its input root (`red mug/main.png`,
/// `/`-separated): [`wanted`] of its folders and file stem. Uploads, watched drops and
/// walked folders all name by this one rule.
pub fn wanted_from_path(rel: &str) -> String {
    let (folders, stem) = folders_and_stem(rel);
    wanted(&folders, &stem)
}

/// A `/`-separated path's folders and its file's stem.
pub fn folders_and_stem(rel: &str) -> (Vec<String>, String) {
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    let file = parts.pop().unwrap_or_default();
    let stem = std::path::Path::new(&file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or(file);
    (parts, stem)
}

/// Cuts a name to `max` bytes on a character boundary.
pub fn cap(name: &str, max: usize) -> &str {
    if name.len() <= max {
        return name;
    }
    let mut end = max;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// The forms of `wanted` a store tries, in order, when another source owns it: first with
/// the source's own extension (`mug-jpg` beside `mug` from `mug.png`, told apart at a
/// glance), then numbered (`mug-2`, `mug-3`, ...).
pub fn alternatives(wanted: &str, extension: &str) -> impl Iterator<Item = String> {
    let (dir, last) = match wanted.rsplit_once('/') {
        Some((d, l)) => (format!("{d}/"), l.to_string()),
        None => (String::new(), wanted.to_string()),
    };
    let ext = part(&extension.to_ascii_lowercase());
    let base = cap(&last, MAX_PART_BYTES - 8).to_string();
    let with_ext = (!extension.is_empty()).then(|| format!("{dir}{base}-{ext}"));
    with_ext
        .into_iter()
        .chain((2u32..).map(move |n| format!("{dir}{base}-{n}")))
}

/// The names a store tries, in order, for the source `key` that wants `wanted`, when
/// `taken_by` (another source's key) may own it: `wanted` itself, then its
/// [`alternatives`], with the source's extension only when the owner's differs.
pub fn candidates(wanted: &str, key: &str, taken_by: Option<&str>) -> impl Iterator<Item = String> {
    let ext_of = |k: &str| k.rsplit_once('.').map_or("", |(_, e)| e).to_lowercase();
    let ext = match taken_by {
        Some(owner) if ext_of(owner) != ext_of(key) => ext_of(key),
        _ => String::new(),
    };
    std::iter::once(wanted.to_string()).chain(alternatives(wanted, &ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_keeps_the_folders_nearest_its_file() {
        let deep: Vec<String> = (1..=60)
            .map(|i| format!("{}-{i}", "f".repeat(70)))
            .collect();
        let name = wanted(&deep, "mug");
        assert_eq!(name.matches('/').count(), MAX_FOLDERS);
        assert!(
            name.starts_with(&format!("{}-53/", "f".repeat(70))),
            "{name}"
        );
        assert!(name.ends_with("-60/mug"), "{name}");
        assert!(name.len() < 1100);
    }

    #[test]
    fn parts_are_transliterated_and_safe() {
        assert_eq!(part("Größe"), "Grosse");
        assert_eq!(part("Grüße"), "Grusse");
        assert_eq!(part("café crème"), "cafe_creme");
        assert_eq!(part("../../etc/passwd"), "etc_passwd");
        assert_eq!(part("..."), "image");
        assert_eq!(part("Mug 01 (red)"), "Mug_01_red");
        assert_eq!(part("CON"), "CON_");
        assert_eq!(part("nul.tar"), "nul_.tar");
        assert_eq!(part("Com0"), "Com0_");
        assert_eq!(part("SKU.main"), "SKU.main");
        assert!(part(&"ä".repeat(200)).len() <= MAX_PART_BYTES);
    }

    #[test]
    fn sub_folders_are_kept() {
        assert_eq!(wanted(&["red-mug".into()], "main"), "red-mug/main");
        assert_eq!(wanted(&[], "Größe"), "Grosse");
        assert_eq!(wanted(&["..".into()], "x"), "image/x");
    }

    #[test]
    fn alternatives_name_the_extension_first() {
        let alts: Vec<String> = alternatives("red/mug", "JPG").take(3).collect();
        assert_eq!(alts, ["red/mug-jpg", "red/mug-2", "red/mug-3"]);
    }

    #[test]
    fn printed_names_stay_on_their_line() {
        assert_eq!(printable("mug.png"), "mug.png");
        assert_eq!(printable("a\nINFO forged.png"), "a\\nINFO forged.png");
        assert_eq!(
            printable("x\u{1b}[2Jy\u{202e}gnp"),
            "x\\u{1b}[2Jy\\u{202e}gnp"
        );
    }
}
