//! Component pins: a lockfile mapping each extension's `name@version` to the sha256 of its
//! component bytes, plus when and by what each pin was recorded.
//!
//! Pins are keyed by extension id, never by path, so a component built on another machine or
//! moved elsewhere still verifies if its bytes are the same. The file is TOML, sorted by id so
//! it diffs well:
//!
//! ```toml
//! schema = 1
//!
//! [pins."text-stats@0.1.0"]
//! sha256 = "9f2c…"          # 64 lowercase hex digits
//! pinned_at_ms = 1714000000000
//! pinned_by = "symphony-host 0.1.0"
//! ```
//!
//! Every change is made under an exclusive lock on `pins.lock`, re-reading the file first (so
//! two processes pinning different extensions both win), and written atomically.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::atomic_file::write_atomically;
use super::{IntegrityError, normalize_sha256};
use symphony_types::config_file::{ConfigFileError, read_toml};
use symphony_types::error::HostError;

/// File name of the pins file inside the state directory.
pub const DEFAULT_PINS_FILE_NAME: &str = "pins.toml";
/// Lock file taken while the pins file is changed.
const PINS_LOCK_FILE_NAME: &str = "pins.lock";
/// The `schema` this host reads and writes.
const PINS_SCHEMA_VERSION: u32 = 1;
/// `pinned_by` when the caller does not say.
const DEFAULT_PINNED_BY: &str = concat!("symphony-host ", env!("CARGO_PKG_VERSION"));
/// Written above the TOML.
const PINS_FILE_HEADER: &str = "# Symphony component pins: sha256 of each extension's component, by name@version.\n\
     # Written by symphony; a component whose bytes differ from its pin is refused.\n\n";

/// One pinned component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// Lowercase hex sha256 of the component bytes.
    pub sha256: String,
    /// When it was pinned, in milliseconds since the Unix epoch.
    pub pinned_at_ms: u64,
    /// What pinned it (`symphony-host 0.1.0`, `symphony pin`, ...).
    pub pinned_by: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinsFile {
    schema: u32,
    #[serde(default)]
    pins: BTreeMap<String, Pin>,
}

/// The pins of one state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinStore {
    path: PathBuf,
    lock_path: PathBuf,
    pins: BTreeMap<String, Pin>,
}

impl PinStore {
    /// Read `<state_dir>/pins.toml`; a missing file is an empty store (nothing is created until
    /// the first pin).
    ///
    /// # Errors
    /// [`IntegrityError::PinsFile`] naming the line and field when the file is unreadable or
    /// invalid (unknown schema, bad id, bad hash).
    pub fn open(state_dir: impl AsRef<Path>) -> Result<Self, IntegrityError> {
        let state_dir = state_dir.as_ref();
        let path = state_dir.join(DEFAULT_PINS_FILE_NAME);
        let pins = read_pins(&path)?;
        Ok(Self { path, lock_path: state_dir.join(PINS_LOCK_FILE_NAME), pins })
    }

    /// The pins file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pinned sha256 (lowercase hex) of `extension_id` (`name@version`).
    #[must_use]
    pub fn get(&self, extension_id: &str) -> Option<&str> {
        self.pins.get(extension_id).map(|p| p.sha256.as_str())
    }

    /// The whole pin of `extension_id`, with when and by what it was recorded.
    #[must_use]
    pub fn entry(&self, extension_id: &str) -> Option<&Pin> {
        self.pins.get(extension_id)
    }

    /// Every pin, sorted by extension id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Pin)> {
        self.pins.iter().map(|(id, pin)| (id.as_str(), pin))
    }

    /// Pin `extension_id` to `sha256`, recorded by this host. Returns the previously pinned hash.
    ///
    /// # Errors
    /// [`IntegrityError::InvalidExtensionId`] / [`IntegrityError::InvalidSha256`] for bad
    /// arguments, [`IntegrityError::PinsFile`] when the file on disk has become invalid,
    /// [`IntegrityError::Io`] when it cannot be locked or written (the store is then unchanged).
    pub fn pin(&mut self, extension_id: &str, sha256: &str) -> Result<Option<String>, IntegrityError> {
        self.pin_recorded_by(extension_id, sha256, DEFAULT_PINNED_BY)
    }

    /// [`PinStore::pin`], saying what recorded the pin (`symphony pin`, `trust on first use`).
    ///
    /// # Errors
    /// As [`PinStore::pin`].
    pub fn pin_recorded_by(
        &mut self,
        extension_id: &str,
        sha256: &str,
        pinned_by: &str,
    ) -> Result<Option<String>, IntegrityError> {
        check_extension_id(extension_id)?;
        let pin = Pin {
            sha256: normalize_sha256(sha256)?,
            pinned_at_ms: now_ms(),
            pinned_by: pinned_by.to_owned(),
        };
        self.update(|pins| pins.insert(extension_id.to_owned(), pin).map(|old| old.sha256))
    }

    /// Remove the pin of `extension_id`. Returns the hash it was pinned to, if any.
    ///
    /// # Errors
    /// As [`PinStore::pin`].
    pub fn unpin(&mut self, extension_id: &str) -> Result<Option<String>, IntegrityError> {
        check_extension_id(extension_id)?;
        self.update(|pins| pins.remove(extension_id).map(|old| old.sha256))
    }

    /// Check a component's hash against its pin.
    ///
    /// # Errors
    /// [`HostError::HashMismatch`] when `actual_sha256` differs from the pin,
    /// [`HostError::Unpinned`] when `extension_id` has no pin. `manifest` and `path` (the
    /// component file) only name the files in the error; pins never depend on them.
    pub fn verify(
        &self,
        extension_id: &str,
        manifest: &Path,
        path: &Path,
        actual_sha256: &str,
    ) -> Result<(), HostError> {
        let Some(expected) = self.get(extension_id) else {
            return Err(HostError::Unpinned {
                path: path.to_path_buf(),
                extension: extension_id.to_owned(),
                pins_file: Some(self.path.clone()),
                manifest: manifest.to_path_buf(),
            });
        };
        if expected.eq_ignore_ascii_case(actual_sha256) {
            Ok(())
        } else {
            Err(HostError::HashMismatch {
                path: path.to_path_buf(),
                expected_sha256: expected.to_owned(),
                actual_sha256: actual_sha256.to_ascii_lowercase(),
                pins_file: self.path.clone(),
                manifest: manifest.to_path_buf(),
            })
        }
    }

    /// Under the lock: re-read the file, apply `change`, write it back, adopt the result.
    fn update<T>(
        &mut self,
        change: impl FnOnce(&mut BTreeMap<String, Pin>) -> T,
    ) -> Result<T, IntegrityError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| IntegrityError::Io { path, source }
        };
        if let Some(dir) = self.lock_path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(io(&self.lock_path))?;
        lock.lock().map_err(io(&self.lock_path))?;
        let mut pins = read_pins(&self.path)?;
        let result = change(&mut pins);
        let file = PinsFile { schema: PINS_SCHEMA_VERSION, pins };
        let text = toml::to_string(&file)
            .map_err(|e| IntegrityError::Io { path: self.path.clone(), source: std::io::Error::other(e) })?;
        write_atomically(&self.path, format!("{PINS_FILE_HEADER}{text}").as_bytes())
            .map_err(io(&self.path))?;
        self.pins = file.pins;
        // Closing the lock file releases the lock.
        drop(lock);
        Ok(result)
    }
}

/// Read and validate a pins file; missing means empty.
fn read_pins(path: &Path) -> Result<BTreeMap<String, Pin>, ConfigFileError> {
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let file: PinsFile = read_toml(path)?;
    let text = || std::fs::read_to_string(path).unwrap_or_default();
    if file.schema != PINS_SCHEMA_VERSION {
        let message = format!("unsupported schema {}, this host reads {PINS_SCHEMA_VERSION}", file.schema);
        return Err(ConfigFileError::at_field(path, &text(), "schema", message));
    }
    let mut pins = BTreeMap::new();
    for (id, mut pin) in file.pins {
        if let Err(e) = check_extension_id(&id) {
            return Err(ConfigFileError::at_field(path, &text(), &format!("pins.{id}"), e.to_string()));
        }
        match normalize_sha256(&pin.sha256) {
            Ok(sha256) => pin.sha256 = sha256,
            Err(e) => {
                return Err(ConfigFileError::at_field(
                    path,
                    &text(),
                    &format!("pins.{id}.sha256"),
                    e.to_string(),
                ));
            }
        }
        pins.insert(id, pin);
    }
    Ok(pins)
}

/// `name@version`: a non-empty name without `@` and a semver version, as
/// [`ExtensionManifest::id`](crate::ExtensionManifest::id) writes it.
fn check_extension_id(id: &str) -> Result<(), IntegrityError> {
    let valid = id.split_once('@').is_some_and(|(name, version)| {
        !name.is_empty() && semver::Version::parse(version).is_ok_and(|v| v.to_string() == version)
    });
    if valid { Ok(()) } else { Err(IntegrityError::InvalidExtensionId { id: id.to_owned() }) }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn a_missing_file_is_an_empty_store_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let store = PinStore::open(&state).unwrap();
        assert_eq!(store.get("echo@1.0.0"), None);
        assert!(!state.exists());
    }

    #[test]
    fn pins_persist_and_return_the_previous_hash() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = PinStore::open(dir.path()).unwrap();
        assert_eq!(store.pin("echo@1.0.0", A).unwrap(), None);
        assert_eq!(store.pin("echo@1.0.0", &B.to_ascii_uppercase()).unwrap(), Some(A.to_owned()));
        let reopened = PinStore::open(dir.path()).unwrap();
        assert_eq!(reopened.get("echo@1.0.0"), Some(B));
        let entry = reopened.entry("echo@1.0.0").unwrap();
        assert_eq!(entry.pinned_by, DEFAULT_PINNED_BY);
        assert!(entry.pinned_at_ms > 0);
        assert_eq!(reopened, store);
    }

    #[test]
    fn the_file_is_a_sorted_readable_lockfile() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = PinStore::open(dir.path()).unwrap();
        store.pin_recorded_by("zeta@1.0.0", A, "test").unwrap();
        store.pin_recorded_by("alpha@0.1.0", B, "test").unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.starts_with("# Symphony component pins"));
        assert!(text.contains("schema = 1"));
        let alpha = text.find("[pins.\"alpha@0.1.0\"]").unwrap();
        let zeta = text.find("[pins.\"zeta@1.0.0\"]").unwrap();
        assert!(alpha < zeta);
        assert_eq!(store.iter().map(|(id, _)| id).collect::<Vec<_>>(), ["alpha@0.1.0", "zeta@1.0.0"]);
    }

    #[test]
    fn verify_is_keyed_by_id_not_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = PinStore::open(dir.path()).unwrap();
        store.pin("echo@1.0.0", A).unwrap();
        assert!(
            store
                .verify("echo@1.0.0", Path::new("extension.toml"), Path::new("/elsewhere/echo.wasm"), A)
                .is_ok()
        );
        assert!(
            store
                .verify(
                    "echo@1.0.0",
                    Path::new("extension.toml"),
                    Path::new("other/path.wasm"),
                    &A.to_ascii_uppercase()
                )
                .is_ok()
        );
        let mismatch =
            store.verify("echo@1.0.0", Path::new("extension.toml"), Path::new("echo.wasm"), B).unwrap_err();
        assert!(matches!(
            &mismatch,
            HostError::HashMismatch { expected_sha256, actual_sha256, .. } if expected_sha256 == A && actual_sha256 == B
        ));
        assert_eq!(mismatch.kind(), "hash_mismatch");
        assert_eq!(mismatch.class(), crate::ErrorClass::Fatal);
        let unpinned =
            store.verify("echo@2.0.0", Path::new("extension.toml"), Path::new("echo.wasm"), A).unwrap_err();
        assert!(matches!(&unpinned, HostError::Unpinned { extension, .. } if extension == "echo@2.0.0"));
        assert_eq!(unpinned.kind(), "component_unpinned");
    }

    #[test]
    fn unpin_removes_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = PinStore::open(dir.path()).unwrap();
        store.pin("echo@1.0.0", A).unwrap();
        assert_eq!(store.unpin("echo@1.0.0").unwrap(), Some(A.to_owned()));
        assert_eq!(store.unpin("echo@1.0.0").unwrap(), None);
        assert_eq!(PinStore::open(dir.path()).unwrap().get("echo@1.0.0"), None);
    }

    #[test]
    fn bad_arguments_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = PinStore::open(dir.path()).unwrap();
        for id in ["echo", "@1.0.0", "echo@", "echo@1.0", "echo@01.0.0", "a@b@1.0.0"] {
            assert!(matches!(store.pin(id, A), Err(IntegrityError::InvalidExtensionId { .. })), "{id}");
        }
        assert!(matches!(store.pin("echo@1.0.0", "abc"), Err(IntegrityError::InvalidSha256 { .. })));
        assert!(!store.path().exists());
    }

    #[test]
    fn two_stores_on_one_directory_do_not_lose_each_others_pins() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = PinStore::open(dir.path()).unwrap();
        let mut second = PinStore::open(dir.path()).unwrap();
        first.pin("one@1.0.0", A).unwrap();
        second.pin("two@1.0.0", B).unwrap();
        assert_eq!(second.get("one@1.0.0"), Some(A));
        let reopened = PinStore::open(dir.path()).unwrap();
        assert_eq!((reopened.get("one@1.0.0"), reopened.get("two@1.0.0")), (Some(A), Some(B)));
    }

    #[test]
    fn an_invalid_file_names_the_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEFAULT_PINS_FILE_NAME);
        let text =
            "schema = 1\n\n[pins.\"echo@1.0.0\"]\nsha256 = \"nothex\"\npinned_at_ms = 1\npinned_by = \"x\"\n";
        std::fs::write(&path, text).unwrap();
        let Err(IntegrityError::PinsFile(err)) = PinStore::open(dir.path()) else {
            panic!("expected PinsFile")
        };
        assert_eq!((err.line, err.field.as_deref()), (Some(4), Some("pins.echo@1.0.0.sha256")));

        std::fs::write(&path, "schema = 2\n").unwrap();
        let Err(IntegrityError::PinsFile(err)) = PinStore::open(dir.path()) else {
            panic!("expected PinsFile")
        };
        assert_eq!(err.line, Some(1));

        std::fs::write(&path, "schema = 1\nextra = true\n").unwrap();
        assert!(matches!(PinStore::open(dir.path()), Err(IntegrityError::PinsFile(_))));
    }
}
