//! Static validation of a workflow before anything runs: the graph (unknown steps, cycles with
//! their path, steps that can never start, depth and step-count limits), the input mappings
//! (ancestors only, as Argo requires; pointers the producer's schema allows), the data
//! contracts between producer and consumer where both declare schemas, and required features.
//! Every finding names the file, line and step.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Deserialize;
use symphony_conductor::{ConductorConfig, FallbackStep};

use symphony_types::did_you_mean::closest_name;

use crate::catalog::{Catalog, CatalogError, ExtensionInfo};
use crate::contract::compatibility;
use crate::definition::{OnFailure, WorkflowDefinition};
use crate::finding::{Finding, FindingKind, Severity};
use crate::mapping::{Mapping, Source};

/// Steps a workflow may have, by default.
pub const DEFAULT_MAX_STEPS: usize = 64;
/// Longest chain of dependent steps, by default, in steps.
pub const DEFAULT_MAX_DEPTH: usize = 16;

/// Workflow limits (`[workflows]` in `symphony.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowLimits {
    /// Steps per workflow.
    pub max_steps: usize,
    /// Longest chain of dependent steps, in steps.
    pub max_depth: usize,
    /// Finished (succeeded or failed) runs kept in the journal, at most, in runs.
    pub retain_runs: usize,
    /// Finished runs older than this are pruned, in hours.
    pub retain_for_hours: u64,
}

/// Finished runs kept in the journal, by default.
pub const DEFAULT_RETAIN_RUNS: usize = 1_000;
/// Age after which finished runs are pruned, by default, in hours (a week).
pub const DEFAULT_RETAIN_FOR_HOURS: u64 = 168;

impl Default for WorkflowLimits {
    fn default() -> Self {
        Self {
            max_steps: DEFAULT_MAX_STEPS,
            max_depth: DEFAULT_MAX_DEPTH,
            retain_runs: DEFAULT_RETAIN_RUNS,
            retain_for_hours: DEFAULT_RETAIN_FOR_HOURS,
        }
    }
}

/// Everything the check found, in the order of the definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// The findings.
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// Whether any finding is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Error)
    }
}

/// Check `workflow` against the extensions `catalog` knows and the routes of `conductor`.
#[must_use]
pub fn check(
    workflow: &WorkflowDefinition,
    catalog: &dyn Catalog,
    conductor: &ConductorConfig,
    limits: &WorkflowLimits,
) -> CheckReport {
    let mut checker = Checker { workflow, findings: Vec::new() };
    checker.run(catalog, conductor, limits);
    CheckReport { findings: checker.findings }
}

struct Checker<'a> {
    workflow: &'a WorkflowDefinition,
    findings: Vec<Finding>,
}

impl Checker<'_> {
    fn push(&mut self, step: Option<usize>, key: Option<&str>, severity: Severity, kind: FindingKind) {
        let origin = &self.workflow.origin;
        let line = match step {
            Some(index) => origin.line_of_step(index, key),
            None => origin.line_of_key("name"),
        };
        let step = step.map(|i| self.workflow.steps[i].spec.id.clone());
        self.findings.push(Finding { path: origin.path.clone(), line, step, severity, kind });
    }

    fn run(&mut self, catalog: &dyn Catalog, conductor: &ConductorConfig, limits: &WorkflowLimits) {
        let steps = &self.workflow.steps;
        if steps.len() > limits.max_steps {
            let kind = FindingKind::TooManySteps { count: steps.len(), limit: limits.max_steps };
            self.push(None, None, Severity::Error, kind);
        }
        let ids: Vec<&str> = steps.iter().map(|s| s.spec.id.as_str()).collect();
        // Dependency edges over known steps; unknown needs are findings.
        let mut needs: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
        let mut broken: BTreeSet<usize> = BTreeSet::new();
        for (index, step) in steps.iter().enumerate() {
            for need in &step.spec.needs {
                match ids.iter().position(|id| id == need) {
                    Some(target) => needs[index].push(target),
                    None => {
                        broken.insert(index);
                        let did_you_mean = closest_name(need, ids.iter().copied());
                        let kind = FindingKind::UnknownStep { needs: need.clone(), did_you_mean };
                        self.push(Some(index), Some("needs"), Severity::Error, kind);
                    }
                }
            }
        }
        for cycle in cycles(&needs) {
            broken.extend(cycle.iter().copied());
            let mut path: Vec<String> = cycle.iter().map(|&i| ids[i].to_owned()).collect();
            path.push(ids[cycle[0]].to_owned());
            self.push(Some(cycle[0]), Some("needs"), Severity::Error, FindingKind::Cycle { steps: path });
        }
        let ancestors = ancestors(&needs);
        for (index, step_ancestors) in ancestors.iter().enumerate() {
            if broken.contains(&index) {
                continue;
            }
            if let Some(&blocked_by) = step_ancestors.iter().find(|a| broken.contains(a)) {
                let kind = FindingKind::Unreachable { blocked_by: ids[blocked_by].to_owned() };
                self.push(Some(index), Some("needs"), Severity::Error, kind);
            }
        }
        if broken.is_empty()
            && let Some((deepest, depth)) = deepest_chain(&needs)
            && depth > limits.max_depth
        {
            let kind = FindingKind::TooDeep { depth, limit: limits.max_depth };
            self.push(Some(deepest), Some("needs"), Severity::Error, kind);
        }
        for (index, step) in steps.iter().enumerate() {
            if step.spec.on_failure == OnFailure::Continue {
                let dependents: Vec<String> = (0..steps.len())
                    .filter(|&other| needs[other].contains(&index))
                    .map(|other| ids[other].to_owned())
                    .collect();
                if !dependents.is_empty() {
                    let kind = FindingKind::ContinueWithDependents { dependents };
                    self.push(Some(index), Some("on_failure"), Severity::Error, kind);
                }
            }
            for (_, reference) in step.input.references() {
                if let Source::Step(read) = &reference.source {
                    let known = ids.iter().position(|id| id == read);
                    if known.is_none_or(|producer| !ancestors[index].contains(&producer)) {
                        let kind = FindingKind::NotAncestor { reads: read.clone() };
                        self.push(Some(index), Some("input"), Severity::Error, kind);
                    }
                }
            }
        }
        let infos = self.extensions(catalog, conductor);
        self.contracts(&infos);
    }

    /// Describe every step's extension and its fallbacks; check features and profiles.
    fn extensions(&mut self, catalog: &dyn Catalog, conductor: &ConductorConfig) -> Vec<StepExtensions> {
        let mut described: BTreeMap<String, Result<Arc<ExtensionInfo>, CatalogError>> = BTreeMap::new();
        let mut describe = |reference: &str| {
            described.entry(reference.to_owned()).or_insert_with(|| catalog.describe(reference)).clone()
        };
        let mut out = Vec::with_capacity(self.workflow.steps.len());
        for (index, step) in self.workflow.steps.iter().enumerate() {
            let spec = &step.spec;
            let primary = match describe(&spec.extension) {
                Ok(info) => Some(info),
                Err(error) => {
                    let kind = match error {
                        CatalogError::NotFound { reference, did_you_mean } => {
                            FindingKind::UnknownExtension { reference, did_you_mean }
                        }
                        CatalogError::Unusable { reference, reason } => {
                            FindingKind::UnusableExtension { reference, reason }
                        }
                    };
                    self.push(Some(index), Some("extension"), Severity::Error, kind);
                    None
                }
            };
            let name = primary.as_ref().map_or_else(|| base_name(&spec.extension), |p| p.name.clone());
            let route = conductor.route(&name);
            if let Some(profile) = spec.profile.as_ref().or_else(|| route.and_then(|r| r.profile.as_ref()))
                && !conductor.profiles.contains_key(profile)
            {
                let kind = FindingKind::UnknownProfile { profile: profile.clone() };
                self.push(Some(index), Some("profile"), Severity::Error, kind);
            }
            let requires: Vec<String> = spec
                .requires
                .clone()
                .unwrap_or_else(|| route.map(|r| r.requires.clone()).unwrap_or_default());
            let chain = spec
                .fallback
                .clone()
                .unwrap_or_else(|| route.map(|r| r.fallback.clone()).unwrap_or_default());
            let mut fallbacks = Vec::new();
            for step in &chain {
                if let FallbackStep::Extension(reference) = step {
                    match describe(reference) {
                        Ok(info) => fallbacks.push(info),
                        Err(error) => {
                            let kind = FindingKind::UnusableExtension {
                                reference: reference.clone(),
                                reason: format!("fallback not usable: {error}"),
                            };
                            self.push(Some(index), Some("fallback"), Severity::Warning, kind);
                        }
                    }
                }
            }
            if let Some(info) = &primary {
                let missing = missing_features(info, &requires);
                if !missing.is_empty() {
                    let kind = FindingKind::MissingFeatures { extension: info.id.clone(), missing };
                    self.push(Some(index), Some("extension"), Severity::Error, kind);
                }
            }
            for info in &fallbacks {
                let missing = missing_features(info, &requires);
                if !missing.is_empty() {
                    // The conductor skips such a fallback: it can never serve this step.
                    let kind = FindingKind::MissingFeatures { extension: info.id.clone(), missing };
                    self.push(Some(index), Some("fallback"), Severity::Warning, kind);
                }
            }
            out.push(StepExtensions { primary, fallbacks });
        }
        out
    }

    /// Pointers against producers' schemas, and producer/consumer schema compatibility.
    fn contracts(&mut self, infos: &[StepExtensions]) {
        let workflow = self.workflow;
        for (index, step) in workflow.steps.iter().enumerate() {
            let consumer = infos[index].primary.as_ref().and_then(|p| p.input_schema.clone());
            if let (Some(consumer), Mapping::Object(members)) = (&consumer, &step.input) {
                let required = consumer.value().get("required").and_then(serde_json::Value::as_array);
                for key in required.into_iter().flatten().filter_map(serde_json::Value::as_str) {
                    if !members.iter().any(|(k, _)| k == key) {
                        let kind = FindingKind::Incompatible {
                            from: "the input mapping".into(),
                            pointer: format!("/{key}"),
                            reason: "required by the step's input schema, not mapped".into(),
                        };
                        self.push(Some(index), Some("input"), Severity::Error, kind);
                    }
                }
            }
            for (at, reference) in step.input.references() {
                let producers: Vec<(String, Option<crate::contract::Schema>)> = match &reference.source {
                    Source::Input => vec![("$input".to_owned(), workflow.input_schema.clone())],
                    Source::Step(id) => match workflow.step_index(id) {
                        Some(producer) => {
                            let extensions = &infos[producer];
                            extensions
                                .primary
                                .iter()
                                .chain(extensions.fallbacks.iter())
                                .map(|info| {
                                    (format!("$steps.{id} ({})", info.id), info.output_schema.clone())
                                })
                                .collect()
                        }
                        None => Vec::new(),
                    },
                };
                for (from, schema) in producers {
                    let Some(schema) = schema else { continue };
                    let produced = match schema.at_pointer(&reference.pointer) {
                        Some(Ok(produced)) => produced,
                        Some(Err(reason)) => {
                            let kind = FindingKind::PointerNotInSchema {
                                source: reference.source.to_string(),
                                pointer: reference.pointer.clone(),
                                reason: format!("{from}: {reason}"),
                            };
                            self.push(Some(index), Some("input"), Severity::Error, kind);
                            continue;
                        }
                        None => continue,
                    };
                    let Some(Ok(accepted)) = consumer.as_ref().and_then(|c| c.at(&at)) else { continue };
                    let prefix: String = at.iter().map(|k| format!("/{k}")).collect();
                    for mismatch in compatibility(&produced, &accepted) {
                        let severity = if mismatch.certain { Severity::Error } else { Severity::Warning };
                        let kind = FindingKind::Incompatible {
                            from: from.clone(),
                            pointer: format!("{prefix}{}", mismatch.pointer),
                            reason: mismatch.reason,
                        };
                        self.push(Some(index), Some("input"), severity, kind);
                    }
                }
            }
        }
    }
}

/// A step's extension and its fallback extensions, as far as they could be described.
struct StepExtensions {
    primary: Option<Arc<ExtensionInfo>>,
    fallbacks: Vec<Arc<ExtensionInfo>>,
}

fn missing_features(info: &ExtensionInfo, requires: &[String]) -> Vec<String> {
    requires.iter().filter(|f| !info.features.contains(f)).cloned().collect()
}

/// `name` of `name@version`.
fn base_name(reference: &str) -> String {
    reference.split('@').next().unwrap_or(reference).to_owned()
}

/// Every elementary cycle found by depth-first search, each once, as step indices in `needs`
/// order.
fn cycles(needs: &[Vec<usize>]) -> Vec<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    fn visit(
        node: usize,
        needs: &[Vec<usize>],
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) {
        marks[node] = Mark::OnStack;
        stack.push(node);
        for &next in &needs[node] {
            match marks[next] {
                Mark::New => visit(next, needs, marks, stack, out),
                Mark::OnStack => {
                    if let Some(start) = stack.iter().position(|&n| n == next) {
                        out.push(stack[start..].to_vec());
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks[node] = Mark::Done;
    }
    let mut marks = vec![Mark::New; needs.len()];
    let mut out = Vec::new();
    for node in 0..needs.len() {
        if marks[node] == Mark::New {
            visit(node, needs, &mut marks, &mut Vec::new(), &mut out);
        }
    }
    out
}

/// Each step's transitive needs (cycle-safe).
pub(crate) fn ancestors(needs: &[Vec<usize>]) -> Vec<BTreeSet<usize>> {
    (0..needs.len())
        .map(|start| {
            let mut seen = BTreeSet::new();
            let mut todo: Vec<usize> = needs[start].clone();
            while let Some(node) = todo.pop() {
                if seen.insert(node) {
                    todo.extend(needs[node].iter().copied());
                }
            }
            seen
        })
        .collect()
}

/// The step ending the longest chain and the chain's length in steps (acyclic `needs` only).
fn deepest_chain(needs: &[Vec<usize>]) -> Option<(usize, usize)> {
    fn depth(node: usize, needs: &[Vec<usize>], memo: &mut [Option<usize>]) -> usize {
        if let Some(known) = memo[node] {
            return known;
        }
        let d = 1 + needs[node].iter().map(|&n| depth(n, needs, memo)).max().unwrap_or(0);
        memo[node] = Some(d);
        d
    }
    let mut memo = vec![None; needs.len()];
    (0..needs.len()).map(|n| (n, depth(n, needs, &mut memo))).max_by_key(|&(_, d)| d)
}
