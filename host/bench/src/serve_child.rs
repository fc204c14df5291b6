//! A real `symphony serve` for the service benchmarks: a child process of the `symphony` binary
//! on an ephemeral loopback port, with a config and a state directory of its own (the extension
//! directories of the bench's config, the pins of its state directory, and the tenants a
//! scenario asks for), killed when dropped. The same config file is what the in-process side of
//! a comparison opens, so both sides run the same extensions under the same policy.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use symphony_host::config::PlatformConfig;

use super::BenchError;

/// A tenant of the bench's server: id, API key (hashed into the config) and the TOML of its
/// allow-list and quotas.
#[derive(Debug, Clone)]
pub struct BenchTenant {
    /// Tenant id.
    pub id: &'static str,
    /// The bearer key its requests carry.
    pub key: &'static str,
    /// Extensions it may call.
    pub extensions: &'static [&'static str],
    /// `[tenants.quotas]` lines.
    pub quotas: String,
}

/// The config file and state directories a server (and its in-process twin) use.
#[derive(Debug)]
pub struct ServeSetup {
    dir: tempfile::TempDir,
    /// `symphony.toml` written for the scenario.
    pub config: PathBuf,
}

impl ServeSetup {
    /// Write a config with `base`'s extension directories, a clocks rule for `sleeper`,
    /// `tenants` and the scenario's `extra` TOML; pins are copied into each state directory
    /// made later ([`state_dir`](Self::state_dir)).
    ///
    /// # Errors
    /// [`BenchError::Io`] when the temporary directory or the file cannot be written.
    pub fn new(base: &PlatformConfig, tenants: &[BenchTenant], extra: &str) -> Result<Self, BenchError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| BenchError::Io { what, source }
        };
        let dir = tempfile::tempdir().map_err(io("serve bench directory"))?;
        let dirs: Vec<String> = base
            .extension_dirs
            .iter()
            .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()).display().to_string())
            .collect();
        let mut text = format!(
            "extension_dirs = {dirs:?}\n\n[[capabilities]]\nextensions = [\"sleeper\"]\nclocks = true\n\n"
        );
        for tenant in tenants {
            text.push_str(&format!(
                "[[tenants]]\nid = {:?}\napi_key_sha256 = {:?}\nextensions = {:?}\n[tenants.quotas]\n{}\n\n",
                tenant.id,
                symphony_host::tenants::api_key_sha256(tenant.key),
                tenant.extensions,
                tenant.quotas
            ));
        }
        text.push_str(extra);
        let config = dir.path().join("symphony.toml");
        std::fs::write(&config, text).map_err(io("serve bench config"))?;
        Ok(Self { dir, config })
    }

    /// The written config, loaded.
    ///
    /// # Errors
    /// [`BenchError::State`] when it does not load (a bug of this file, or the base config's
    /// extension directories are gone).
    pub fn platform_config(&self) -> Result<PlatformConfig, BenchError> {
        PlatformConfig::load_file(&self.config).map_err(|e| BenchError::State(e.to_string()))
    }

    /// A fresh state directory named `name` trusting the components `pins_from` pinned.
    ///
    /// # Errors
    /// [`BenchError::State`] when `pins_from` has no `pins.toml` (run `symphony build`).
    pub fn state_dir(&self, name: &str, pins_from: &Path) -> Result<PathBuf, BenchError> {
        let state = self.dir.path().join(name);
        std::fs::create_dir_all(&state)
            .map_err(|source| BenchError::Io { what: format!("{}", state.display()), source })?;
        let pins = pins_from.join("pins.toml");
        std::fs::copy(&pins, state.join("pins.toml")).map_err(|e| {
            BenchError::State(format!("{}: {e} (run `symphony build` first)", pins.display()))
        })?;
        Ok(state)
    }
}

/// A running `symphony serve` child.
#[derive(Debug)]
pub struct ServeChild {
    child: Child,
    /// Kept open so the child never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl ServeChild {
    /// Start `exe serve` on `127.0.0.1:0` with `setup`'s config and `state`; returns once it
    /// listens.
    ///
    /// # Errors
    /// [`BenchError::Serve`] when it cannot start or exits before listening.
    pub fn start(exe: &Path, setup: &ServeSetup, state: &Path) -> Result<Self, BenchError> {
        let failed = |reason: String| BenchError::Serve { reason };
        let mut child = Command::new(exe)
            .arg("--config")
            .arg(&setup.config)
            .arg("--state-dir")
            .arg(state)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| failed(format!("cannot run {} serve: {e}", exe.display())))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(failed("no stdout".into()));
        };
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        match (read, line.trim().strip_prefix("listening on ")) {
            (Ok(_), Some(base)) => Ok(Self { base: base.to_owned(), child, _stdout: stdout }),
            (read, _) => {
                let _ = child.kill();
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                Err(failed(format!("did not listen (first line {line:?}, {read:?}, {status})")))
            }
        }
    }

    /// The URL of `path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// CPU time the server has used so far (user + system), in nanoseconds; `None` where
    /// `/proc/PID/stat` cannot be read.
    #[must_use]
    pub fn cpu_ns(&self) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        let after = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // The kernel reports in USER_HZ, 100 on Linux.
        Some(ticks * 10_000_000)
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
