//! [`LineStore`]: the one small file store of the facade, for what a `Nat` keeps between
//! processes (the UPnP cache, the pinhole record).
//!
//! A file of lines, one record a line. Reads are bounded ([`MAX_FILE`] bytes, a cap of
//! records per store); an unreadable file or line is ignored, never an error (a store is a
//! convenience, not the truth). Every write replaces the whole file through a temporary
//! file and a rename, so a reader never sees half a write, and a crashed writer leaves the
//! old file.

use std::io::Read as _;
#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;

/// The most bytes read from a store's file.
pub(crate) const MAX_FILE: u64 = 64 * 1024;

/// A record that is one line of text.
pub(crate) trait Line: Sized {
    /// Reads one line; `None` for a line that is not a record.
    fn parse(line: &str) -> Option<Self>;
    /// Writes the record as one line (without the line break); `None` when it cannot be
    /// written safely (a field with a space or a control character).
    fn line(&self) -> Option<String>;
}

/// A bounded file of records.
#[derive(Debug, Clone)]
pub(crate) struct LineStore {
    path: PathBuf,
    max_records: usize,
}

impl LineStore {
    pub(crate) fn new(path: impl Into<PathBuf>, max_records: usize) -> LineStore {
        LineStore {
            path: path.into(),
            max_records,
        }
    }

    /// Every readable record, at most the store's cap.
    pub(crate) fn read<T: Line>(&self) -> Vec<T> {
        let Ok(file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let mut text = String::new();
        if file.take(MAX_FILE).read_to_string(&mut text).is_err() {
            tracing::debug!(path = %self.path.display(), "a store is unreadable; ignoring it");
            return Vec::new();
        }
        text.lines()
            .filter_map(T::parse)
            .take(self.max_records)
            .collect()
    }

    /// Rewrites the file with `change` applied to its records, best effort: a failure is
    /// logged, never returned. Nothing is written when `change` leaves the records as they
    /// were.
    pub(crate) fn update<T: Line + PartialEq>(&self, change: impl FnOnce(&mut Vec<T>)) {
        let before: Vec<T> = self.read();
        let mut records: Vec<T> = self.read();
        change(&mut records);
        records.truncate(self.max_records);
        if records == before {
            return;
        }
        let text: String = records
            .iter()
            .filter_map(Line::line)
            .map(|line| line + "\n")
            .collect();
        if let Err(error) = self.write(&text) {
            tracing::debug!(path = %self.path.display(), %error, "cannot write a store");
        }
    }

    fn write(&self, text: &str) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, &self.path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temporary);
        })
    }

    /// The file.
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether `field` can stand in a line: not empty, at most 2048 bytes, printable ASCII
/// without spaces.
#[cfg_attr(not(feature = "upnp"), allow(dead_code))]
pub(crate) fn is_field(field: &str) -> bool {
    !field.is_empty() && field.len() <= 2048 && field.bytes().all(|b| b.is_ascii_graphic())
}

/// The platform's cache directory for natkit, `None` when it cannot be told (no home).
pub(crate) fn default_dir() -> Option<PathBuf> {
    let base = if cfg!(windows) {
        std::env::var_os("LOCALAPPDATA").map(PathBuf::from)
    } else if cfg!(any(target_os = "macos", target_os = "ios")) {
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join("Library/Caches"))
    } else {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
    };
    base.map(|base| base.join("natkit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Word(String);

    impl Line for Word {
        fn parse(line: &str) -> Option<Word> {
            is_field(line).then(|| Word(line.to_owned()))
        }
        fn line(&self) -> Option<String> {
            is_field(&self.0).then(|| self.0.clone())
        }
    }

    #[test]
    fn records_are_bounded_replaced_whole_and_junk_is_skipped() {
        let dir = std::env::temp_dir().join(format!("natkit-store-{}", std::process::id()));
        let store = LineStore::new(dir.join("words"), 3);
        store.update(|words: &mut Vec<Word>| {
            words.extend(["a", "b", "c", "d"].map(|w| Word(w.into())));
        });
        assert_eq!(store.read::<Word>().len(), 3, "capped");
        std::fs::write(store.path(), "x y\n\u{1}\nok\n").expect("write");
        assert_eq!(store.read::<Word>(), [Word("ok".into())]);
        // A record that cannot be written safely is left out.
        store.update(|words: &mut Vec<Word>| words.push(Word("has space".into())));
        assert_eq!(store.read::<Word>(), [Word("ok".into())]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
