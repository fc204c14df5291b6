//! The platform configuration (`symphony.toml`): where extensions live, engine settings and the
//! limit policy. Every field is optional; when the file is absent the embedded defaults apply.
//! Sections with a module of their own validate themselves there (`[tenants]`, `[telemetry]`);
//! this file places their errors at the file's line.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::engine::guest_executor::default_guest_threads;
use symphony_conductor::{AnomalyPolicy, ConductorConfig, ResilienceProfile, Route};
use symphony_types::byte_size;
use symphony_types::capability::{CapabilityPolicy, CapabilityRule};
use symphony_types::config_file::{ConfigFileError, read_toml};
use symphony_types::limits::{DeclaredLimits, LimitName, Limits};
use symphony_types::policy::{DEFAULT_CEILINGS, DEFAULT_STACK_BYTES, PlatformPolicy};

/// Config file looked for in the working directory when `--config` is not given.
pub const CONFIG_FILE_NAME: &str = "symphony.toml";
/// Directory searched for extensions when the config names none.
pub const DEFAULT_EXTENSION_DIR: &str = "sample-extensions";
/// Directory searched for workflow definitions by the embedded defaults (a config file without
/// `workflow_dirs` searches `workflows/` inside each of its extension directories).
pub const DEFAULT_WORKFLOW_DIR: &str = "sample-extensions/workflows";
/// Epoch tick, in milliseconds: the granularity of deadlines and of async yielding.
pub const DEFAULT_EPOCH_TICK_MS: u64 = 5;
/// Instances that may run at once in the pooling allocator.
pub const DEFAULT_MAX_CONCURRENT_INSTANCES: u32 = 64;

/// Most guest threads a config may ask for.
pub const MAX_GUEST_THREADS: usize = 256;

/// How guest execution is metered.
///
/// Only [`Metering::FuelAndEpoch`] enforces every limit the policy sets; the others exist so
/// embedders running trusted code, and the benchmarks, can measure what metering costs. They
/// are not readable from `symphony.toml`: a platform file can never switch a limit off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Metering {
    /// Fuel (a deterministic instruction budget) and epoch interruption (the wall-clock
    /// deadline, and yielding to the executor every tick). The default.
    #[default]
    FuelAndEpoch,
    /// Epoch interruption only: the deadline still stops a guest, the fuel limit is not
    /// enforced and usage reports 0 fuel units.
    EpochOnly,
    /// Neither: a guest that never returns is only abandoned by the tokio timeout, which
    /// cannot interrupt running wasm. For measurement only.
    Unmetered,
}

impl Metering {
    /// Whether fuel is consumed and its limit enforced.
    #[must_use]
    pub fn fuel(self) -> bool {
        matches!(self, Self::FuelAndEpoch)
    }

    /// Whether epoch interruption (deadline and yielding) is on.
    #[must_use]
    pub fn epochs(self) -> bool {
        matches!(self, Self::FuelAndEpoch | Self::EpochOnly)
    }
}

/// Engine-wide settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    /// Deadline granularity, in milliseconds.
    pub epoch_tick_ms: u64,
    /// Use wasmtime's pooling allocator (faster instantiation; reserves virtual memory up front).
    pub pooling: bool,
    /// Instances that may be alive at once with pooling.
    pub max_concurrent_instances: u32,
    /// How execution is metered (embedders only; always [`Metering::FuelAndEpoch`] from a file).
    pub metering: Metering,
    /// Worker threads of the executor guests run on, apart from the embedder's runtime.
    pub guest_threads: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            epoch_tick_ms: DEFAULT_EPOCH_TICK_MS,
            pooling: true,
            max_concurrent_instances: DEFAULT_MAX_CONCURRENT_INSTANCES,
            metering: Metering::FuelAndEpoch,
            guest_threads: default_guest_threads(),
        }
    }
}

/// The whole platform configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformConfig {
    /// The file it came from; `None` for embedded defaults.
    pub source: Option<PathBuf>,
    /// Directories searched (one level deep) for `extension.toml` files.
    pub extension_dirs: Vec<PathBuf>,
    /// Directories whose `*.toml` files are workflow definitions.
    pub workflow_dirs: Vec<PathBuf>,
    /// Workflow limits (`[workflows]`): steps per workflow and chain depth.
    pub workflows: symphony_workflow::WorkflowLimits,
    /// Engine settings.
    pub engine: EngineSettings,
    /// Limit defaults and ceilings.
    pub policy: PlatformPolicy,
    /// Capability rules (empty: nothing is granted to anyone).
    pub capabilities: CapabilityPolicy,
    /// Resilience profiles and per-extension routes (retry, breaker, fallback).
    pub conductor: ConductorConfig,
    /// Anomaly detection: thresholds and the action per detector.
    pub anomaly: AnomalyPolicy,
    /// The process-wide resource budget conducted calls reserve from (`[reservation]`).
    pub reservation: symphony_conductor::ReservationPolicy,
    /// Who may call the served platform (`[[tenants]]`); none: serve stays on loopback.
    pub tenants: Vec<crate::tenants::TenantConfig>,
    /// Trace export (`[telemetry]`); off without `otlp_endpoint`.
    pub telemetry: crate::telemetry::TelemetryConfig,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        Self {
            source: None,
            extension_dirs: vec![PathBuf::from(DEFAULT_EXTENSION_DIR)],
            workflow_dirs: vec![PathBuf::from(DEFAULT_WORKFLOW_DIR)],
            workflows: symphony_workflow::WorkflowLimits::default(),
            engine: EngineSettings::default(),
            policy: PlatformPolicy::default(),
            capabilities: CapabilityPolicy::default(),
            conductor: ConductorConfig::default(),
            anomaly: AnomalyPolicy::default(),
            reservation: symphony_conductor::ReservationPolicy::default(),
            tenants: Vec::new(),
            telemetry: crate::telemetry::TelemetryConfig::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    extension_dirs: Option<Vec<PathBuf>>,
    workflow_dirs: Option<Vec<PathBuf>>,
    #[serde(default)]
    workflows: symphony_workflow::WorkflowLimits,
    #[serde(default)]
    engine: EngineFile,
    #[serde(default)]
    policy: PolicyFile,
    #[serde(default)]
    capabilities: Vec<CapabilityRule>,
    #[serde(default)]
    conductor: ConductorFile,
    #[serde(default)]
    anomaly: AnomalyPolicy,
    #[serde(default)]
    reservation: symphony_conductor::ReservationPolicy,
    #[serde(default)]
    tenants: Vec<crate::tenants::TenantConfig>,
    #[serde(default)]
    telemetry: crate::telemetry::TelemetryConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConductorFile {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: std::collections::BTreeMap<String, ResilienceProfile>,
    #[serde(default)]
    routes: Vec<Route>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineFile {
    epoch_tick_ms: Option<u64>,
    pooling: Option<bool>,
    max_concurrent_instances: Option<u32>,
    guest_threads: Option<usize>,
    #[serde(default, with = "byte_size::optional")]
    stack_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    defaults: DeclaredLimits,
    #[serde(default)]
    ceilings: DeclaredLimits,
}

/// Where workflows are looked for when the config does not say: `workflows/` inside each
/// extension directory, so a platform's workflows sit beside the extensions they chain.
fn default_workflow_dirs(extension_dirs: &[PathBuf]) -> Vec<PathBuf> {
    extension_dirs.iter().map(|dir| dir.join("workflows")).collect()
}

fn overlay(base: Limits, partial: &DeclaredLimits) -> Limits {
    let mut out = base;
    for &name in LimitName::ALL {
        if let Some(v) = partial.get(name) {
            out.set(name, v);
        }
    }
    out
}

impl PlatformConfig {
    /// Load `path`, or the embedded defaults when `path` is `None` and no `symphony.toml` is in
    /// the working directory.
    ///
    /// # Errors
    /// [`ConfigFileError`] naming the file, line and field.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigFileError> {
        match path {
            Some(path) => Self::load_file(path),
            None if Path::new(CONFIG_FILE_NAME).is_file() => Self::load_file(Path::new(CONFIG_FILE_NAME)),
            None => Ok(Self::default()),
        }
    }

    /// Load one config file. Relative `extension_dirs` are resolved against its directory.
    ///
    /// # Errors
    /// [`ConfigFileError`] naming the file, line and field.
    pub fn load_file(path: &Path) -> Result<Self, ConfigFileError> {
        let file: ConfigFile = read_toml(path)?;
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let base = path.parent().unwrap_or(Path::new("."));
        let defaults = PlatformConfig::default();

        let engine = EngineSettings {
            epoch_tick_ms: file.engine.epoch_tick_ms.unwrap_or(defaults.engine.epoch_tick_ms),
            pooling: file.engine.pooling.unwrap_or(defaults.engine.pooling),
            max_concurrent_instances: file
                .engine
                .max_concurrent_instances
                .unwrap_or(defaults.engine.max_concurrent_instances),
            metering: Metering::FuelAndEpoch,
            guest_threads: file.engine.guest_threads.unwrap_or(defaults.engine.guest_threads),
        };
        if !(1..=MAX_GUEST_THREADS).contains(&engine.guest_threads) {
            return Err(ConfigFileError::at_field(
                path,
                &text,
                "engine.guest_threads",
                format!("must be between 1 and {MAX_GUEST_THREADS}"),
            ));
        }
        for (field, zero) in [
            ("reservation.memory_budget_bytes", file.reservation.memory_budget_bytes == 0),
            ("reservation.fuel_budget", file.reservation.fuel_budget == 0),
            ("reservation.queue_timeout_ms", file.reservation.queue_timeout_ms == 0),
        ] {
            if zero {
                return Err(ConfigFileError::at_field(path, &text, field, "must be greater than 0"));
            }
        }
        if engine.epoch_tick_ms == 0 || engine.epoch_tick_ms > 1_000 {
            return Err(ConfigFileError::at_field(
                path,
                &text,
                "engine.epoch_tick_ms",
                "must be between 1 and 1000 milliseconds",
            ));
        }
        if engine.max_concurrent_instances == 0 {
            return Err(ConfigFileError::at_field(
                path,
                &text,
                "engine.max_concurrent_instances",
                "must be at least 1",
            ));
        }
        let stack_bytes = file.engine.stack_bytes.unwrap_or(DEFAULT_STACK_BYTES);
        if !(64 * 1024..=1024 * 1024).contains(&stack_bytes) {
            return Err(ConfigFileError::at_field(
                path,
                &text,
                "engine.stack_bytes",
                "must be between 64 KiB and 1 MiB (it must stay below the 2 MiB async stack)",
            ));
        }
        let policy = PlatformPolicy {
            defaults: overlay(Limits::default(), &file.policy.defaults),
            ceilings: overlay(DEFAULT_CEILINGS, &file.policy.ceilings),
            stack_bytes,
        };
        for &name in LimitName::ALL {
            for (table, limits) in [("defaults", &policy.defaults), ("ceilings", &policy.ceilings)] {
                if limits.get(name) == 0 {
                    return Err(ConfigFileError::at_field(
                        path,
                        &text,
                        &format!("policy.{table}.{}", name.as_str()),
                        "must be greater than 0",
                    ));
                }
            }
        }
        for (field, zero) in [
            ("workflows.max_steps", file.workflows.max_steps == 0),
            ("workflows.max_depth", file.workflows.max_depth == 0),
        ] {
            if zero {
                return Err(ConfigFileError::at_field(path, &text, field, "must be greater than 0"));
            }
        }
        if let Some((field, message)) = file.telemetry.invalid_field() {
            return Err(ConfigFileError::at_field(path, &text, field, message));
        }
        let conductor = conductor_config(path, &text, file.conductor)?;
        let extension_dirs: Vec<PathBuf> = file
            .extension_dirs
            .map(|dirs| dirs.into_iter().map(|d| base.join(d).components().collect()).collect())
            .unwrap_or(defaults.extension_dirs);
        file.anomaly
            .validate()
            .map_err(|(field, message)| ConfigFileError::at_field(path, &text, field, message))?;
        if let Some((field, message)) = crate::tenants::invalid_field(&file.tenants) {
            let index = field
                .strip_prefix("tenants[")
                .and_then(|rest| rest.split(']').next())
                .and_then(|i| i.parse().ok())
                .unwrap_or(0);
            let line = crate::tenants::line_of(&text, index, &field);
            return Err(ConfigFileError {
                path: path.to_path_buf(),
                line,
                column: None,
                field: Some(field),
                message,
            });
        }
        Ok(Self {
            source: Some(path.to_path_buf()),
            workflow_dirs: match file.workflow_dirs {
                Some(dirs) => dirs.into_iter().map(|d| base.join(d).components().collect()).collect(),
                None => default_workflow_dirs(&extension_dirs),
            },
            extension_dirs,
            workflows: file.workflows,
            engine,
            policy,
            capabilities: CapabilityPolicy {
                rules: file
                    .capabilities
                    .into_iter()
                    .map(|mut rule| {
                        rule.filesystem = rule
                            .filesystem
                            .into_iter()
                            .map(|d| base.join(d).components().collect())
                            .collect();
                        rule
                    })
                    .collect(),
            },
            conductor,
            anomaly: file.anomaly,
            reservation: file.reservation,
            tenants: file.tenants,
            telemetry: file.telemetry,
        })
    }
}

/// Built-in profiles overlaid with the file's, every name checked and every policy validated.
fn conductor_config(
    path: &Path,
    text: &str,
    file: ConductorFile,
) -> Result<ConductorConfig, ConfigFileError> {
    let mut config = ConductorConfig::default();
    for (name, profile) in file.profiles {
        if let Err(e) = profile.retry.validate() {
            return Err(ConfigFileError::at_field(
                path,
                text,
                &format!("conductor.profiles.{name}.retry"),
                e.to_string(),
            ));
        }
        if let Err(e) = profile.breaker.validate() {
            return Err(ConfigFileError::at_field(
                path,
                text,
                &format!("conductor.profiles.{name}.breaker"),
                e.to_string(),
            ));
        }
        config.profiles.insert(name, profile);
    }
    if let Some(default) = file.default_profile {
        config.default_profile = default;
    }
    if !config.profiles.contains_key(&config.default_profile) {
        let message = format!("no profile named `{}`", config.default_profile);
        return Err(ConfigFileError::at_field(path, text, "conductor.default_profile", message));
    }
    for route in &file.routes {
        if let Some(profile) = &route.profile
            && !config.profiles.contains_key(profile)
        {
            let known = config.profiles.keys().cloned().collect::<Vec<_>>().join(", ");
            let message = format!(
                "route for `{}` names no known profile `{profile}` (known: {known})",
                route.extension
            );
            return Err(ConfigFileError::at_field(path, text, "conductor.routes.profile", message));
        }
    }
    config.routes = file.routes;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_threads_reach_the_engine_and_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("symphony.toml");
        std::fs::write(&path, "[engine]\nguest_threads = 3\n").unwrap();
        let config = PlatformConfig::load_file(&path).unwrap();
        assert_eq!(config.engine.guest_threads, 3);
        let runtime = crate::Runtime::new(config).unwrap();
        assert_eq!(runtime.engine().guest_threads(), 3, "the executor really runs 3 workers");
        std::fs::write(&path, "[engine]\nguest_threads = 0\n").unwrap();
        let err = PlatformConfig::load_file(&path).unwrap_err();
        assert!(err.to_string().contains("engine.guest_threads"), "{err}");
    }

    #[test]
    fn the_reservation_section_parses_with_units_and_refuses_zero_budgets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("symphony.toml");
        std::fs::write(
            &path,
            "[reservation]\nmemory_budget_bytes = \"3 GiB\"\nfuel_budget = 7\nqueue_timeout_ms = 250\n\
             queue_capacity = { essential = 5 }\n",
        )
        .unwrap();
        let reservation = PlatformConfig::load_file(&path).unwrap().reservation;
        assert_eq!(reservation.memory_budget_bytes, 3 << 30);
        assert_eq!(reservation.fuel_budget, 7);
        assert_eq!(reservation.queue_timeout_ms, 250);
        assert_eq!(reservation.queue_capacity.essential, 5);
        assert_eq!(
            reservation.queue_capacity.optional,
            symphony_conductor::ReservationPolicy::default().queue_capacity.optional,
            "unset fields keep their defaults"
        );
        std::fs::write(&path, "[reservation]\nmemory_budget_bytes = 0\n").unwrap();
        let err = PlatformConfig::load_file(&path).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("reservation.memory_budget_bytes"), "{err}");
    }

    #[test]
    fn overrides_apply_and_dirs_resolve_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE_NAME);
        std::fs::write(
            &path,
            "extension_dirs = [\"exts\"]\n[engine]\npooling = false\nstack_bytes = \"256 KiB\"\n\
             [policy.ceilings]\nmemory_bytes = \"128 MiB\"\n[policy.defaults]\nfuel = 42\n",
        )
        .unwrap();
        let config = PlatformConfig::load(Some(&path)).unwrap();
        assert_eq!(config.extension_dirs, vec![dir.path().join("exts")]);
        assert_eq!(
            config.workflow_dirs,
            vec![dir.path().join("exts").join("workflows")],
            "beside the extensions"
        );
        assert!(!config.engine.pooling);
        assert_eq!(config.policy.stack_bytes, 256 * 1024);
        assert_eq!(config.policy.ceilings.memory_bytes, 128 << 20);
        assert_eq!(config.policy.ceilings.fuel, DEFAULT_CEILINGS.fuel);
        assert_eq!(config.policy.defaults.fuel, 42);
    }

    #[test]
    fn anomaly_policy_parses_and_a_bad_threshold_names_its_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("symphony.toml");
        std::fs::write(&path, "[anomaly.actions]\nbaseline_shift = \"throttle\"\n").unwrap();
        let config = PlatformConfig::load_file(&path).unwrap();
        assert_eq!(
            config.anomaly.action(symphony_conductor::anomaly::AnomalyKind::BaselineShift),
            symphony_conductor::anomaly::Action::Throttle
        );
        std::fs::write(&path, "[anomaly.thresholds]\nrecent_calls = 4\nsustained_share = 2.0\n").unwrap();
        let err = PlatformConfig::load_file(&path).err().unwrap();
        assert_eq!((err.line, err.field.as_deref()), (Some(3), Some("anomaly.thresholds.sustained_share")));
        std::fs::write(&path, "[anomaly.actions]\nprofile_violation = \"explode\"\n").unwrap();
        let err = PlatformConfig::load_file(&path).err().unwrap();
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn conductor_profiles_and_routes_parse_and_unknown_profiles_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE_NAME);
        std::fs::write(
            &path,
            "[conductor.profiles.patient]\nretry = { max_attempts = 7 }\n\n[[conductor.routes]]\n\
             extension = \"summarize\"\nprofile = \"patient\"\nrequires = [\"summarize\"]\n\
             fallback = [{ extension = \"summarize@1.0.0\" }, { static = { summary = \"\" } }, \"last_good\"]\n",
        )
        .unwrap();
        let config = PlatformConfig::load(Some(&path)).unwrap();
        assert_eq!(config.conductor.profiles["patient"].retry.max_attempts, 7);
        assert!(config.conductor.profiles.contains_key("critical"), "built-ins stay");
        let route = config.conductor.route("summarize").unwrap();
        assert_eq!(route.fallback.len(), 3);

        std::fs::write(&path, "[[conductor.routes]]\nextension = \"x\"\nprofile = \"nope\"\n").unwrap();
        let err = PlatformConfig::load(Some(&path)).unwrap_err();
        assert_eq!((err.line, err.field.as_deref()), (Some(3), Some("conductor.routes.profile")));
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE_NAME);
        std::fs::write(&path, "[engine]\nepoch_tick_ms = 0\n").unwrap();
        let err = PlatformConfig::load(Some(&path)).unwrap_err();
        assert_eq!((err.line, err.field.as_deref()), (Some(2), Some("engine.epoch_tick_ms")));

        std::fs::write(&path, "[policy.ceilings]\nfuel = -1\n").unwrap();
        let err = PlatformConfig::load(Some(&path)).unwrap_err();
        assert_eq!((err.line, err.field.as_deref()), (Some(2), Some("policy.ceilings.fuel")));
    }

    #[test]
    fn workflow_dirs_and_limits_are_read_relative_to_the_file_and_zero_limits_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("symphony.toml");
        std::fs::write(
            &path,
            "workflow_dirs = [\"flows\"]\n[workflows]\nmax_steps = 3\nmax_depth = 2\nretain_runs = 5\nretain_for_hours = 2\n",
        )
        .unwrap();
        let config = PlatformConfig::load(Some(&path)).unwrap();
        assert_eq!(config.workflow_dirs, vec![dir.path().join("flows")]);
        assert_eq!((config.workflows.max_steps, config.workflows.max_depth), (3, 2));
        assert_eq!((config.workflows.retain_runs, config.workflows.retain_for_hours), (5, 2));
        std::fs::write(&path, "[workflows]\nmax_depth = 0\n").unwrap();
        let err = PlatformConfig::load(Some(&path)).err();
        assert_eq!(err.as_ref().and_then(|e| e.field.as_deref()), Some("workflows.max_depth"));
        assert_eq!(err.as_ref().and_then(|e| e.line), Some(2));
        std::fs::write(&path, "[workflows]\nmax_stpes = 3\n").unwrap();
        assert_eq!(PlatformConfig::load(Some(&path)).err().and_then(|e| e.line), Some(2));
    }
}
