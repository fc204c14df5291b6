//! The sandbox as a conductor target: [`Invoke`] for a [`LoadedExtension`], with the
//! expectations the health monitor judges it by (effective limits, declared profile, declared
//! capability kinds), and its reservation [`Demand`].

use symphony_conductor::anomaly::Expectations;
use symphony_conductor::invoke::{InvokeFuture, ObservedFuture};
use symphony_conductor::{Demand, Invoke, InvokeOutcome, ObservedOutcome};
use symphony_types::capability::denials::CapabilityKind;
use symphony_types::payload::CallRequest;

use crate::sandbox::LoadedExtension;

impl Invoke for LoadedExtension {
    fn id(&self) -> String {
        LoadedExtension::id(self).to_owned()
    }

    fn invoke(&self, request: CallRequest) -> InvokeFuture<'_> {
        Box::pin(async move {
            let outcome = self.call(request).await;
            InvokeOutcome { result: outcome.result, json: None, usage: outcome.usage, log: Some(outcome.log) }
        })
    }

    fn expectations(&self) -> Expectations {
        let declared = &self.manifest().capabilities;
        let capabilities = [
            (CapabilityKind::Filesystem, !declared.filesystem.is_empty()),
            (CapabilityKind::Env, !declared.env.is_empty()),
            (CapabilityKind::Clocks, declared.clocks),
            (CapabilityKind::Random, declared.random),
            (CapabilityKind::Stdio, declared.stdio),
            (CapabilityKind::Network, !declared.network.is_empty()),
            (CapabilityKind::NameLookup, !declared.network.is_empty()),
            (CapabilityKind::WorkflowOutput, declared.workflow_output),
        ];
        Expectations {
            fuel_limit: Some(self.limits().limits.fuel),
            memory_limit: Some(self.limits().limits.memory_bytes),
            expected: self.manifest().expected,
            declared_capabilities: Some(
                capabilities.into_iter().filter_map(|(kind, asked)| asked.then_some(kind)).collect(),
            ),
        }
    }

    fn invoke_observed(&self, request: CallRequest) -> ObservedFuture<'_> {
        Box::pin(async move {
            let outcome = self.call(request).await;
            ObservedOutcome {
                outcome: InvokeOutcome {
                    result: outcome.result,
                    json: None,
                    usage: outcome.usage,
                    log: Some(outcome.log),
                },
                denials: outcome.denials,
            }
        })
    }
}

impl LoadedExtension {
    /// What one call of this extension may use: its effective memory and fuel limits at its
    /// manifest's priority.
    #[must_use]
    pub fn demand(&self) -> Demand {
        Demand::from_limits(&self.limits().limits, self.manifest().priority)
    }
}
