//! Deny-by-default capabilities: what a manifest asks for, what the platform policy allows, and
//! the one function that intersects them into a [`CapabilityGrant`].
//!
//! A capability exists only when the manifest declares it AND a policy rule matching the
//! extension allows it. Filesystem grants are preopened directories (cap-std semantics: no path
//! escapes); environment variables take their values from the policy, never from the host's
//! environment; clocks, random and stdio are all-or-nothing; network is a list of `ip:port`
//! patterns. `workflow_output` is all-or-nothing too: a granted extension gets the staging
//! directory of the workflow run it is a step of preopened read-write at
//! [`WORKFLOW_OUTPUT_GUEST_PATH`], for the calls the runner gives one (the directory travels on
//! the call request, not in the grant). Building the WASI context from a grant, and recording denied attempts, lives in
//! the host's `capability` wiring.

pub mod denials;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use self::denials::CapabilityKind;

/// Where a step granted `workflow_output` sees its run's staging directory (read-write).
pub const WORKFLOW_OUTPUT_GUEST_PATH: &str = "/output";

/// How a granted directory may be used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Read files and list directories.
    #[default]
    ReadOnly,
    /// Also create, write and delete.
    ReadWrite,
}

/// A directory a manifest asks to see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirRequest {
    /// Host directory, relative to the manifest (resolved when the manifest loads).
    pub host: PathBuf,
    /// Where the guest sees it (e.g. `/data`).
    pub guest: String,
    /// Read-only unless asked otherwise.
    #[serde(default)]
    pub access: Access,
}

/// What a manifest's `[capabilities]` table asks for. Absent means not asked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredCapabilities {
    /// Preopened directories.
    #[serde(default)]
    pub filesystem: Vec<DirRequest>,
    /// Environment variable names.
    #[serde(default)]
    pub env: Vec<String>,
    /// Wall and monotonic clocks.
    #[serde(default)]
    pub clocks: bool,
    /// `wasi:random`.
    #[serde(default)]
    pub random: bool,
    /// stdout/stderr captured into the call log.
    #[serde(default)]
    pub stdio: bool,
    /// Outbound `ip:port` destinations.
    #[serde(default)]
    pub network: Vec<String>,
    /// The workflow run's staging directory, read-write at [`WORKFLOW_OUTPUT_GUEST_PATH`].
    #[serde(default)]
    pub workflow_output: bool,
}

/// One policy rule: what may be granted to the extensions it matches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityRule {
    /// Extension names or patterns (`*` matches any run of characters).
    pub extensions: Vec<String>,
    /// Host directories under which preopens may be granted (resolved against the config file).
    #[serde(default)]
    pub filesystem: Vec<PathBuf>,
    /// Whether read-write directories may be granted (otherwise they are granted read-only).
    #[serde(default)]
    pub filesystem_write: bool,
    /// Variables that may be granted, with the values the guest will see.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Whether clocks may be granted.
    #[serde(default)]
    pub clocks: bool,
    /// Whether random may be granted.
    #[serde(default)]
    pub random: bool,
    /// Whether stdio capture may be granted.
    #[serde(default)]
    pub stdio: bool,
    /// `ip:port` patterns that may be granted (`*` wildcards, e.g. `127.0.0.1:*`).
    #[serde(default)]
    pub network: Vec<String>,
    /// Whether a workflow run's staging directory may be preopened read-write.
    #[serde(default)]
    pub workflow_output: bool,
}

/// The platform's capability rules. Empty (the embedded default) grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CapabilityPolicy {
    /// Rules in file order.
    pub rules: Vec<CapabilityRule>,
}

/// A granted directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantedDir {
    /// Host directory (canonical).
    pub host: PathBuf,
    /// Guest path.
    pub guest: String,
    /// Effective access (may be lower than asked).
    pub access: Access,
}

/// One decision about one requested capability, for reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapabilityDecision {
    /// Which capability (`filesystem`, `env`, `clocks`, `random`, `stdio`, `network`,
    /// `workflow_output`).
    pub capability: CapabilityKind,
    /// What was asked (`/data <- sandbox (read-write)`, `GREETING`, `127.0.0.1:8080`, …).
    pub requested: String,
    /// Whether it was granted.
    pub granted: bool,
    /// Why: the rule that allowed it, or why nothing did.
    pub reason: String,
}

/// What an extension may actually use. `Default` is the deny-everything grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CapabilityGrant {
    /// Preopened directories.
    pub filesystem: Vec<GrantedDir>,
    /// Environment the guest sees (name → value from the policy).
    pub env: BTreeMap<String, String>,
    /// Real clocks.
    pub clocks: bool,
    /// Real random.
    pub random: bool,
    /// stdout/stderr captured.
    pub stdio: bool,
    /// Allowed `ip:port` destinations (patterns from the manifest, all allowed by policy).
    pub network: Vec<String>,
    /// The workflow run's staging directory, preopened read-write at
    /// [`WORKFLOW_OUTPUT_GUEST_PATH`] on calls whose request carries one.
    pub workflow_output: bool,
    /// Every decision, granted or not.
    pub decisions: Vec<CapabilityDecision>,
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters.
#[must_use]
pub fn pattern_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else { return pattern == text };
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

impl CapabilityRule {
    fn applies_to(&self, extension: &str) -> bool {
        self.extensions.iter().any(|p| pattern_matches(p, extension))
    }

    fn describe(&self, index: usize) -> String {
        format!("policy rule #{} (extensions {:?})", index + 1, self.extensions)
    }
}

impl CapabilityPolicy {
    /// Intersect what `extension` declares with what the rules allow it. The only place
    /// capabilities are decided.
    #[must_use]
    pub fn grant(&self, extension: &str, declared: &DeclaredCapabilities) -> CapabilityGrant {
        let rules: Vec<(usize, &CapabilityRule)> =
            self.rules.iter().enumerate().filter(|(_, r)| r.applies_to(extension)).collect();
        let mut grant = CapabilityGrant::default();
        let no_rule = || format!("no policy rule allows it for `{extension}`");

        for dir in &declared.filesystem {
            let requested = format!("{} <- {} ({:?})", dir.guest, dir.host.display(), dir.access);
            let canonical = dir.host.canonicalize().ok();
            // The rules whose roots cover this directory; only they decide its access, so a
            // writable rule for one root never upgrades another root's read-only grant.
            let covering: Vec<(usize, &CapabilityRule)> = canonical.as_ref().map_or_else(Vec::new, |host| {
                rules
                    .iter()
                    .filter(|(_, rule)| {
                        rule.filesystem
                            .iter()
                            .filter_map(|root| root.canonicalize().ok())
                            .any(|root| host.starts_with(&root))
                    })
                    .copied()
                    .collect()
            });
            let writable = covering.iter().find(|(_, rule)| rule.filesystem_write).copied();
            let allowed = if dir.access == Access::ReadWrite {
                writable.or(covering.first().copied())
            } else {
                covering.first().copied()
            };
            match (canonical, allowed) {
                (None, _) => grant.decisions.push(CapabilityDecision {
                    capability: CapabilityKind::Filesystem,
                    requested,
                    granted: false,
                    reason: format!("{} does not exist", dir.host.display()),
                }),
                (Some(host), Some((i, rule))) => {
                    let write_ok = rule.filesystem_write;
                    let access = if dir.access == Access::ReadWrite && !write_ok {
                        Access::ReadOnly
                    } else {
                        dir.access
                    };
                    let mut reason = rule.describe(i);
                    if access != dir.access {
                        reason.push_str("; lowered to read-only (no rule covering this directory allows filesystem_write)");
                    }
                    grant.decisions.push(CapabilityDecision {
                        capability: CapabilityKind::Filesystem,
                        requested,
                        granted: true,
                        reason,
                    });
                    grant.filesystem.push(GrantedDir { host, guest: dir.guest.clone(), access });
                }
                (Some(_), None) => grant.decisions.push(CapabilityDecision {
                    capability: CapabilityKind::Filesystem,
                    requested,
                    granted: false,
                    reason: format!("not under any directory a policy rule allows for `{extension}`"),
                }),
            }
        }

        for name in &declared.env {
            let found = rules.iter().find_map(|(i, r)| r.env.get(name).map(|v| (*i, *r, v)));
            let decision = match found {
                Some((i, rule, value)) => {
                    grant.env.insert(name.clone(), value.clone());
                    CapabilityDecision {
                        capability: CapabilityKind::Env,
                        requested: name.clone(),
                        granted: true,
                        reason: rule.describe(i),
                    }
                }
                None => CapabilityDecision {
                    capability: CapabilityKind::Env,
                    requested: name.clone(),
                    granted: false,
                    reason: no_rule(),
                },
            };
            grant.decisions.push(decision);
        }

        let mut flag =
            |capability: CapabilityKind, asked: bool, allow: fn(&CapabilityRule) -> bool| -> bool {
                if !asked {
                    return false;
                }
                let found = rules.iter().find(|(_, r)| allow(r));
                grant.decisions.push(CapabilityDecision {
                    capability,
                    requested: capability.to_string(),
                    granted: found.is_some(),
                    reason: found.map_or_else(no_rule, |(i, r)| r.describe(*i)),
                });
                found.is_some()
            };
        let clocks = flag(CapabilityKind::Clocks, declared.clocks, |r| r.clocks);
        let random = flag(CapabilityKind::Random, declared.random, |r| r.random);
        let stdio = flag(CapabilityKind::Stdio, declared.stdio, |r| r.stdio);
        let workflow_output =
            flag(CapabilityKind::WorkflowOutput, declared.workflow_output, |r| r.workflow_output);
        grant.clocks = clocks;
        grant.random = random;
        grant.stdio = stdio;
        grant.workflow_output = workflow_output;

        for destination in &declared.network {
            let found = rules.iter().find(|(_, r)| r.network.iter().any(|p| pattern_matches(p, destination)));
            if found.is_some() {
                grant.network.push(destination.clone());
            }
            grant.decisions.push(CapabilityDecision {
                capability: CapabilityKind::Network,
                requested: destination.clone(),
                granted: found.is_some(),
                reason: found.map_or_else(no_rule, |(i, r)| r.describe(*i)),
            });
        }
        grant
    }
}

/// Resolve relative host paths in a declaration against the manifest's directory.
#[must_use]
pub fn resolve_declared(mut declared: DeclaredCapabilities, manifest_dir: &Path) -> DeclaredCapabilities {
    for dir in &mut declared.filesystem {
        if dir.host.is_relative() {
            dir.host = manifest_dir.join(&dir.host);
        }
    }
    declared
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(extensions: &[&str]) -> CapabilityRule {
        CapabilityRule {
            extensions: extensions.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }
    }

    fn everything(dir: &Path) -> DeclaredCapabilities {
        DeclaredCapabilities {
            filesystem: vec![DirRequest {
                host: dir.to_path_buf(),
                guest: "/data".into(),
                access: Access::ReadWrite,
            }],
            env: vec!["GREETING".into(), "SECRET".into()],
            clocks: true,
            random: true,
            stdio: true,
            network: vec!["127.0.0.1:8080".into()],
            workflow_output: true,
        }
    }

    #[test]
    fn patterns_match_with_wildcards() {
        assert!(pattern_matches("echo", "echo"));
        assert!(!pattern_matches("echo", "echo2"));
        assert!(pattern_matches("api-*", "api-client"));
        assert!(pattern_matches("*", "anything"));
        assert!(pattern_matches("127.0.0.1:*", "127.0.0.1:8080"));
        assert!(!pattern_matches("127.0.0.1:*", "10.0.0.1:8080"));
        assert!(pattern_matches("*-bomb", "memory-bomb"));
        assert!(pattern_matches("a*b*c", "a-x-b-y-c"));
        assert!(!pattern_matches("a*b*c", "a-x-c"));
    }

    #[test]
    fn nothing_is_granted_without_a_rule() {
        let dir = tempfile::tempdir().unwrap();
        let grant = CapabilityPolicy::default().grant("ext", &everything(dir.path()));
        assert!(grant.filesystem.is_empty() && grant.env.is_empty() && grant.network.is_empty());
        assert!(!grant.clocks && !grant.random && !grant.stdio && !grant.workflow_output);
        assert_eq!(grant.decisions.len(), 8);
        assert!(grant.decisions.iter().all(|d| !d.granted));
    }

    #[test]
    fn a_rule_for_another_extension_grants_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut other = rule(&["other"]);
        other.clocks = true;
        let policy = CapabilityPolicy { rules: vec![other] };
        assert!(!policy.grant("ext", &everything(dir.path())).clocks);
    }

    #[test]
    fn exact_grant_is_the_intersection() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = rule(&["ext"]);
        r.filesystem = vec![dir.path().to_path_buf()];
        r.env.insert("GREETING".into(), "hello".into());
        r.clocks = true;
        r.network = vec!["127.0.0.1:8080".into()];
        let policy = CapabilityPolicy { rules: vec![r] };
        let grant = policy.grant("ext", &everything(dir.path()));
        assert_eq!(grant.env.get("GREETING").map(String::as_str), Some("hello"));
        assert!(!grant.env.contains_key("SECRET"), "undeclared by policy");
        assert!(grant.clocks && !grant.random && !grant.stdio && !grant.workflow_output);
        assert_eq!(grant.network, vec!["127.0.0.1:8080".to_owned()]);
        assert_eq!(grant.filesystem.len(), 1);
        assert_eq!(grant.filesystem[0].access, Access::ReadOnly, "write not allowed: lowered");
        // Declared nothing → granted nothing, whatever the policy allows.
        assert_eq!(policy.grant("ext", &DeclaredCapabilities::default()), CapabilityGrant::default());
    }

    #[test]
    fn a_writable_rule_for_one_root_does_not_upgrade_another_roots_grant() {
        let (writable, read_only) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut w = rule(&["ext"]);
        w.filesystem = vec![writable.path().to_path_buf()];
        w.filesystem_write = true;
        let mut r = rule(&["ext"]);
        r.filesystem = vec![read_only.path().to_path_buf()];
        let policy = CapabilityPolicy { rules: vec![r, w] };
        let dir = |host: &Path, guest: &str| DirRequest {
            host: host.to_path_buf(),
            guest: guest.into(),
            access: Access::ReadWrite,
        };
        let declared = DeclaredCapabilities {
            filesystem: vec![dir(read_only.path(), "/ro"), dir(writable.path(), "/rw")],
            ..DeclaredCapabilities::default()
        };
        let grant = policy.grant("ext", &declared);
        let access = |guest: &str| grant.filesystem.iter().find(|d| d.guest == guest).map(|d| d.access);
        assert_eq!(access("/ro"), Some(Access::ReadOnly));
        assert_eq!(access("/rw"), Some(Access::ReadWrite), "rule #2 covers it, though rule #1 comes first");
    }

    #[test]
    fn wildcard_rules_apply_by_pattern() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = rule(&["api-*"]);
        r.network = vec!["127.0.0.1:*".into()];
        r.filesystem = vec![dir.path().to_path_buf()];
        r.filesystem_write = true;
        let policy = CapabilityPolicy { rules: vec![r] };
        let grant = policy.grant("api-client", &everything(dir.path()));
        assert_eq!(grant.network.len(), 1);
        assert_eq!(grant.filesystem[0].access, Access::ReadWrite);
        assert!(policy.grant("web-client", &everything(dir.path())).network.is_empty());
    }

    #[test]
    fn directories_outside_allowed_roots_are_refused() {
        let allowed = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let mut r = rule(&["ext"]);
        r.filesystem = vec![allowed.path().to_path_buf()];
        let policy = CapabilityPolicy { rules: vec![r] };
        // `..` in the request cannot climb out: paths are compared canonically.
        let sneaky = allowed.path().join("..").join(elsewhere.path().file_name().unwrap());
        let declared = DeclaredCapabilities {
            filesystem: vec![DirRequest { host: sneaky, guest: "/x".into(), access: Access::ReadOnly }],
            ..Default::default()
        };
        let grant = policy.grant("ext", &declared);
        assert!(grant.filesystem.is_empty());
        assert!(!grant.decisions[0].granted);
    }

    fn workflow_output_declared() -> DeclaredCapabilities {
        DeclaredCapabilities { workflow_output: true, ..DeclaredCapabilities::default() }
    }

    fn workflow_output_rule(extensions: &[&str]) -> CapabilityRule {
        CapabilityRule { workflow_output: true, ..rule(extensions) }
    }

    #[test]
    fn workflow_output_declared_and_allowed_is_granted() {
        let policy = CapabilityPolicy { rules: vec![rule(&["codegen"]), workflow_output_rule(&["code*"])] };
        let grant = policy.grant("codegen", &workflow_output_declared());
        assert!(grant.workflow_output);
        let [decision] = grant.decisions.as_slice() else { panic!("{:?}", grant.decisions) };
        assert_eq!((decision.capability, decision.granted), (CapabilityKind::WorkflowOutput, true));
    }

    #[test]
    fn workflow_output_declared_without_a_rule_is_refused_with_a_reason() {
        let policy = CapabilityPolicy { rules: vec![workflow_output_rule(&["other"])] };
        let grant = policy.grant("codegen", &workflow_output_declared());
        assert!(!grant.workflow_output);
        let [decision] = grant.decisions.as_slice() else { panic!("{:?}", grant.decisions) };
        assert_eq!(decision.capability, CapabilityKind::WorkflowOutput);
        assert!(!decision.granted);
        assert!(!decision.reason.is_empty(), "a refusal says why");
    }

    #[test]
    fn workflow_output_allowed_but_not_declared_is_not_granted() {
        let policy = CapabilityPolicy { rules: vec![workflow_output_rule(&["*"])] };
        let grant = policy.grant("codegen", &DeclaredCapabilities { clocks: true, ..Default::default() });
        assert!(!grant.workflow_output);
        assert!(grant.decisions.iter().all(|d| d.capability != CapabilityKind::WorkflowOutput));
    }

    #[test]
    fn workflow_output_parses_from_manifest_and_policy_tables() {
        let declared: DeclaredCapabilities = toml::from_str("workflow_output = true").unwrap();
        assert!(declared.workflow_output);
        let rule: CapabilityRule =
            toml::from_str("extensions = [\"codegen\"]\nworkflow_output = true").unwrap();
        assert!(rule.workflow_output);
        assert!(!CapabilityRule::default().workflow_output, "deny by default");
    }
}
