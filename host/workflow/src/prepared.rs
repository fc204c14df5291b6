//! [`PreparedWorkflow`]: a checked definition with everything resolved once — each step's
//! loaded extension and fallback chain (wrapped in [`Contracted`] where outputs are checked),
//! its route (profile, required features), the consumer checks compiled from the consumers'
//! input schemas, and the dependency graph. Prepare once, run many times: a run allocates only
//! its own state.

use std::sync::Arc;

use serde_json::Value;

use symphony_conductor::{ConductorConfig, Demand, FallbackStep, FallbackTarget, Invoke, ResolvedStep};
use symphony_types::payload::Payload;

use crate::catalog::{CallTarget, Catalog, CatalogError, ExtensionInfo};
use crate::check::{CheckReport, WorkflowLimits, check};
use crate::contract::Schema;
use crate::contracted::{ConsumerCheck, Contracted};
use crate::definition::{OnFailure, WorkflowDefinition};
use crate::mapping::{Mapping, Source};

/// Why a workflow could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The static check found errors.
    #[error("workflow `{workflow}` has {} error(s); first: {}", .report.errors().count(), .report.errors().next().map(ToString::to_string).unwrap_or_default())]
    Invalid {
        /// The workflow.
        workflow: String,
        /// Every finding (warnings too).
        report: CheckReport,
    },
    /// A step's extension could not be loaded.
    #[error("step `{step}`: {source}")]
    Load {
        /// The step.
        step: String,
        /// Why.
        #[source]
        source: CatalogError,
    },
}

/// A step ready to run.
pub(crate) struct PreparedStep {
    pub(crate) id: Arc<str>,
    pub(crate) extension: String,
    pub(crate) needs: Vec<usize>,
    pub(crate) dependents: Vec<usize>,
    pub(crate) input: Mapping,
    pub(crate) primary: Arc<dyn Invoke>,
    pub(crate) info: Arc<ExtensionInfo>,
    pub(crate) demand: Option<Demand>,
    pub(crate) chain: Vec<ResolvedStep>,
    pub(crate) requires: Vec<String>,
    pub(crate) profile: String,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) on_failure: OnFailure,
    pub(crate) default: Option<Value>,
    /// What consumers require of this step's output (checked by [`Contracted`] for extension
    /// targets, by the runner for static and last-good answers).
    pub(crate) consumers: Arc<[ConsumerCheck]>,
    /// Whether running it twice is harmless: its extension and every fallback extension say
    /// `idempotent` (the default).
    pub(crate) idempotent: bool,
}

/// A workflow ready to run.
pub struct PreparedWorkflow {
    pub(crate) definition: Arc<WorkflowDefinition>,
    pub(crate) steps: Vec<PreparedStep>,
    /// Steps nothing depends on: their outputs are the run's output.
    pub(crate) sinks: Vec<usize>,
    /// The check's warnings (errors refuse preparation).
    pub(crate) warnings: CheckReport,
    /// Step ids and needs, shared with every run's progress (built once, not per run).
    pub(crate) ids: Arc<[Arc<str>]>,
    pub(crate) needs: Arc<[Vec<usize>]>,
}

impl std::fmt::Debug for PreparedWorkflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedWorkflow").field("workflow", &self.definition.name).finish_non_exhaustive()
    }
}

impl PreparedWorkflow {
    /// Check `definition`, then load every extension it names from `catalog` under the routes
    /// of `conductor`.
    ///
    /// # Errors
    /// [`PrepareError::Invalid`] when the check finds errors, [`PrepareError::Load`] when an
    /// extension does not load.
    pub fn prepare(
        definition: Arc<WorkflowDefinition>,
        catalog: &dyn Catalog,
        conductor: &ConductorConfig,
        limits: &WorkflowLimits,
    ) -> Result<Self, PrepareError> {
        let report = check(&definition, catalog, conductor, limits);
        if report.has_errors() {
            return Err(PrepareError::Invalid { workflow: definition.name.clone(), report });
        }
        let index_of = |id: &str| definition.step_index(id);
        let count = definition.steps.len();
        let needs: Vec<Vec<usize>> = definition
            .steps
            .iter()
            .map(|s| s.spec.needs.iter().filter_map(|n| index_of(n)).collect())
            .collect();
        let mut dependents = vec![Vec::new(); count];
        for (index, step_needs) in needs.iter().enumerate() {
            for &need in step_needs {
                dependents[need].push(index);
            }
        }
        let load = |step: &str, reference: &str| {
            catalog.load(reference).map_err(|source| PrepareError::Load { step: step.to_owned(), source })
        };
        let primaries: Vec<CallTarget> =
            definition.steps.iter().map(|s| load(&s.spec.id, &s.spec.extension)).collect::<Result<_, _>>()?;
        // What each producer's consumers require of its output, compiled from their schemas.
        let mut consumers: Vec<Vec<ConsumerCheck>> = vec![Vec::new(); count];
        for (index, step) in definition.steps.iter().enumerate() {
            let accepted = primaries[index].info.input_schema.as_ref();
            for (at, reference) in step.input.references() {
                let Source::Step(producer) = &reference.source else { continue };
                let Some(producer) = index_of(producer) else { continue };
                let part = accepted.and_then(|schema| schema.at(&at)).and_then(Result::ok);
                if let Some(schema) = part.and_then(|value| Schema::compile(value).ok()) {
                    consumers[producer].push(ConsumerCheck {
                        to: step.spec.id.clone(),
                        pointer: reference.pointer.clone(),
                        schema,
                    });
                }
            }
        }
        let mut steps = Vec::with_capacity(count);
        for (index, (step, primary)) in definition.steps.iter().zip(primaries).enumerate() {
            let spec = &step.spec;
            let id: Arc<str> = Arc::from(spec.id.as_str());
            let route = conductor.route(&primary.info.name);
            let checks: Arc<[ConsumerCheck]> = Arc::from(std::mem::take(&mut consumers[index]));
            let wrap = |target: &CallTarget| -> Arc<dyn Invoke> {
                if target.info.output_schema.is_none() && checks.is_empty() {
                    Arc::clone(&target.invoker)
                } else {
                    Arc::new(Contracted::new(
                        Arc::clone(&target.invoker),
                        Arc::clone(&id),
                        target.info.output_schema.clone(),
                        Arc::clone(&checks),
                    ))
                }
            };
            let configured = spec
                .fallback
                .clone()
                .unwrap_or_else(|| route.map(|r| r.fallback.clone()).unwrap_or_default());
            let mut chain = Vec::with_capacity(configured.len());
            // Idempotent only when every extension that may serve it is.
            let mut idempotent = primary.info.idempotent;
            for fallback in configured {
                match fallback {
                    FallbackStep::Extension(reference) => match catalog.load(&reference) {
                        Ok(target) => {
                            idempotent &= target.info.idempotent;
                            chain.push(ResolvedStep::Target(FallbackTarget {
                                invoker: wrap(&target),
                                features: target.info.features.clone(),
                                demand: target.demand,
                            }));
                        }
                        // The check warned already; a broken fallback never breaks the primary.
                        Err(error) => tracing::warn!(step = %spec.id, %error, "fallback left out"),
                    },
                    FallbackStep::Static(value) => match Payload::json(&value) {
                        Ok(payload) => chain.push(ResolvedStep::Static(payload)),
                        Err(error) => tracing::warn!(step = %spec.id, %error, "static fallback left out"),
                    },
                    FallbackStep::LastGood => chain.push(ResolvedStep::LastGood),
                }
            }
            steps.push(PreparedStep {
                extension: spec.extension.clone(),
                needs: needs[index].clone(),
                dependents: dependents[index].clone(),
                input: step.input.clone(),
                primary: wrap(&primary),
                demand: primary.demand,
                requires: spec
                    .requires
                    .clone()
                    .unwrap_or_else(|| route.map(|r| r.requires.clone()).unwrap_or_default()),
                profile: spec
                    .profile
                    .clone()
                    .unwrap_or_else(|| conductor.profile_name(&primary.info.name).to_owned()),
                info: primary.info,
                chain,
                timeout_ms: spec.timeout_ms,
                on_failure: spec.on_failure,
                default: spec.default.clone(),
                consumers: checks,
                idempotent,
                id,
            });
        }
        let sinks = (0..count).filter(|&i| dependents[i].is_empty()).collect();
        let ids = steps.iter().map(|s| Arc::clone(&s.id)).collect();
        Ok(Self { definition, steps, sinks, warnings: report, ids, needs: needs.into() })
    }

    /// The definition.
    #[must_use]
    pub fn definition(&self) -> &WorkflowDefinition {
        &self.definition
    }

    /// Warnings the check found (a prepared workflow has no errors).
    #[must_use]
    pub fn warnings(&self) -> &CheckReport {
        &self.warnings
    }

    /// Step ids in definition order.
    #[must_use]
    pub fn step_ids(&self) -> &Arc<[Arc<str>]> {
        &self.ids
    }

    /// Each step's needs, as indices.
    #[must_use]
    pub fn needs(&self) -> &Arc<[Vec<usize>]> {
        &self.needs
    }

    /// `name@version` each step's primary extension is.
    #[must_use]
    pub fn step_extension_ids(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.info.id.clone()).collect()
    }
}
