//! [`Staging`]: a run's private staging directory and the one atomic move that publishes it.
//!
//! Steps granted `workflow_output` write into `<parent>/.<name>.staging/<run id>/` (beside the
//! declared output directory, so the move never crosses a file system). When the whole run
//! succeeds every staged file and directory is fsync'd and the staged tree takes the output
//! directory's place in one rename (an atomic exchange when the directory already exists; the
//! previous tree is then removed). Until then nothing of the run is visible in the output
//! directory; a failed run's staging is removed and the output directory is untouched.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why staging or publishing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StagingError {
    /// The output directory has no parent or no name to stage beside.
    #[error("output directory {} cannot be staged beside: it needs a parent and a name", path.display())]
    NoParent {
        /// The declared directory.
        path: PathBuf,
    },
    /// A file system operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> StagingError + 'p {
    move |source| StagingError::Io { what, path: path.to_path_buf(), source }
}

/// One run's staging directory for one output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staging {
    output_dir: PathBuf,
    root: PathBuf,
}

impl Staging {
    /// The staging of run `run_id` for `output_dir`.
    ///
    /// # Errors
    /// [`StagingError::NoParent`] for a directory without a parent or a name (`/`, `..`).
    pub fn new(output_dir: &Path, run_id: &str) -> Result<Self, StagingError> {
        let no_parent = || StagingError::NoParent { path: output_dir.to_path_buf() };
        let name = output_dir.file_name().ok_or_else(no_parent)?;
        let parent = output_dir.parent().ok_or_else(no_parent)?;
        let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
        let mut hidden = std::ffi::OsString::from(".");
        hidden.push(name);
        hidden.push(".staging");
        Ok(Self { output_dir: output_dir.to_path_buf(), root: parent.join(hidden).join(run_id) })
    }

    /// The directory steps write into (preopened at `/output`).
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The declared output directory.
    #[must_use]
    pub fn output_dir(&self) -> &Path {
        &self.output_dir
    }

    /// Create the staging directory (kept as it is when it exists: a resumed run goes on with
    /// what its finished steps wrote).
    ///
    /// # Errors
    /// [`StagingError::Io`].
    pub fn prepare(&self) -> Result<(), StagingError> {
        std::fs::create_dir_all(&self.root).map_err(io("cannot create staging", &self.root))
    }

    /// The staged tree's inode: after a crash, the output directory having it means the move
    /// into place happened.
    ///
    /// # Errors
    /// [`StagingError::Io`].
    pub fn staged_inode(&self) -> Result<u64, StagingError> {
        std::fs::symlink_metadata(&self.root).map(|m| m.ino()).map_err(io("cannot stat staging", &self.root))
    }

    /// Whether the output directory is the staged tree (inode `staged_inode`).
    #[must_use]
    pub fn is_published(&self, staged_inode: u64) -> bool {
        std::fs::symlink_metadata(&self.output_dir).is_ok_and(|m| m.ino() == staged_inode)
    }

    /// fsync every staged file and directory, so what is published is on disk; anything else
    /// (a symlink, a fifo) is removed, so only files and directories are published.
    ///
    /// # Errors
    /// [`StagingError::Io`].
    pub fn sync(&self) -> Result<(), StagingError> {
        sync_tree(&self.root)
    }

    /// Put the staged tree in the output directory's place in one rename, fsync the parent,
    /// and remove the tree it replaced.
    ///
    /// # Errors
    /// [`StagingError::Io`].
    pub fn publish(&self) -> Result<(), StagingError> {
        let parent = self.output_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
        let replaced = match std::fs::symlink_metadata(&self.output_dir) {
            Ok(_) => {
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &self.root,
                    rustix::fs::CWD,
                    &self.output_dir,
                    rustix::fs::RenameFlags::EXCHANGE,
                )
                .map_err(|e| StagingError::Io {
                    what: "cannot exchange the staged tree with",
                    path: self.output_dir.clone(),
                    source: e.into(),
                })?;
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::rename(&self.root, &self.output_dir)
                    .map_err(io("cannot move staging to", &self.output_dir))?;
                false
            }
            Err(e) => {
                return Err(StagingError::Io {
                    what: "cannot stat",
                    path: self.output_dir.clone(),
                    source: e,
                });
            }
        };
        File::open(parent).and_then(|dir| dir.sync_all()).map_err(io("cannot sync", parent))?;
        if replaced {
            // The previous tree now sits where the staging was.
            std::fs::remove_dir_all(&self.root)
                .map_err(io("cannot remove the replaced tree at", &self.root))?;
        }
        self.remove_empty_parent();
        Ok(())
    }

    /// Remove the staging (a failed run): the output directory is untouched.
    ///
    /// # Errors
    /// [`StagingError::Io`].
    pub fn rollback(&self) -> Result<(), StagingError> {
        match std::fs::remove_dir_all(&self.root) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StagingError::Io {
                    what: "cannot remove staging",
                    path: self.root.clone(),
                    source: e,
                });
            }
        }
        self.remove_empty_parent();
        Ok(())
    }

    /// After publishing, what may be left where the staging was (a crash between the move and
    /// the removal of the replaced tree).
    ///
    /// # Errors
    /// [`StagingError::Io`].
    pub fn clear_leftovers(&self) -> Result<(), StagingError> {
        self.rollback()
    }

    fn remove_empty_parent(&self) {
        if let Some(parent) = self.root.parent() {
            // Only when empty: other runs may be staging beside this one.
            let _ = std::fs::remove_dir(parent);
        }
    }
}

fn sync_tree(dir: &Path) -> Result<(), StagingError> {
    for entry in std::fs::read_dir(dir).map_err(io("cannot list", dir))? {
        let entry = entry.map_err(io("cannot list", dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io("cannot stat", &path))?;
        if kind.is_dir() {
            sync_tree(&path)?;
        } else if kind.is_file() {
            File::open(&path).and_then(|f| f.sync_all()).map_err(io("cannot sync", &path))?;
        } else {
            // Outputs are files and directories: a symlink a guest made (it could point
            // anywhere once published) or any other special file is not published.
            tracing::warn!(path = %path.display(), "staged entry is not a file or directory: left out");
            std::fs::remove_file(&path).map_err(io("cannot remove", &path))?;
        }
    }
    File::open(dir).and_then(|d| d.sync_all()).map_err(io("cannot sync", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dir: &Path) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    todo.push(path);
                } else {
                    let rel = path.strip_prefix(dir).unwrap().display().to_string();
                    found.push((rel, std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        found.sort();
        found
    }

    #[test]
    fn publishing_replaces_the_output_directory_whole_and_rollback_leaves_it_alone() {
        let base = tempfile::tempdir().unwrap();
        let out = base.path().join("out");
        std::fs::create_dir_all(out.join("old")).unwrap();
        std::fs::write(out.join("old/a.txt"), "before").unwrap();
        let before = tree(&out);

        let failed = Staging::new(&out, "run-1").unwrap();
        failed.prepare().unwrap();
        std::fs::write(failed.root().join("half.txt"), "partial").unwrap();
        failed.rollback().unwrap();
        assert_eq!(tree(&out), before, "a rolled-back run leaves the output as it was");
        assert!(!failed.root().exists());

        let run = Staging::new(&out, "run-2").unwrap();
        run.prepare().unwrap();
        std::fs::create_dir_all(run.root().join("src")).unwrap();
        std::fs::write(run.root().join("src/new.rs"), "fn main() {}").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", run.root().join("src/sneaky")).unwrap();
        let inode = run.staged_inode().unwrap();
        assert!(!run.is_published(inode));
        run.sync().unwrap();
        run.publish().unwrap();
        assert!(run.is_published(inode));
        assert_eq!(tree(&out), vec![("src/new.rs".to_owned(), "fn main() {}".to_owned())]);
        assert!(!base.path().join(".out.staging").exists(), "no staging left behind");
    }

    #[test]
    fn publishing_creates_a_missing_output_directory() {
        let base = tempfile::tempdir().unwrap();
        let out = base.path().join("nested/out");
        let run = Staging::new(&out, "r").unwrap();
        run.prepare().unwrap();
        std::fs::write(run.root().join("x"), "1").unwrap();
        run.sync().unwrap();
        run.publish().unwrap();
        assert_eq!(std::fs::read_to_string(out.join("x")).unwrap(), "1");
    }
}
