//! How a step's input is assembled: from the workflow input and its producers' outputs by its
//! mapping, checked against the step's input schema where no producer-side check already did;
//! and the workflow input itself, parsed and checked against the workflow's input schema.

use serde_json::Value;

use symphony_types::error::ConductorError;
use symphony_types::payload::Payload;

use crate::mapping::Source;
use crate::prepared::PreparedWorkflow;
use crate::run_result::StepReport;

impl PreparedWorkflow {
    /// Assemble step `index`'s input from the workflow input and its producers' outputs, and
    /// check it against the step's input schema where no producer-side check already did.
    pub(super) fn build_input(
        &self,
        index: usize,
        input: &Payload,
        input_json: &Option<Value>,
        payloads: &[Option<Payload>],
        reports: &[StepReport],
    ) -> Result<Payload, ConductorError> {
        let step = &self.steps[index];
        let position = |id: &str| self.definition.step_index(id);
        let violation = |from: String, pointer: String, reason: String| ConductorError::ContractViolation {
            from,
            to: step.id.to_string(),
            pointer,
            reason,
        };
        // One whole output handed on as it is: its consumer check ran on the producer's side.
        if let Some(Source::Step(producer)) = step.input.whole()
            && let Some(payload) = position(producer).and_then(|p| payloads[p].clone())
        {
            return Ok(payload);
        }
        if step.input.whole() == Some(&Source::Input) {
            if let (Some(schema), Some(json)) = (&step.info.input_schema, input_json)
                && let Err(broken) = schema.check(json)
            {
                return Err(violation("$input".to_owned(), broken.pointer, broken.reason));
            }
            return Ok(input.clone());
        }
        let read = |source: &Source| match source {
            Source::Input => input_json.as_ref(),
            Source::Step(id) => position(id).and_then(|p| reports[p].output.as_ref()),
        };
        let value = step.input.evaluate(&read).map_err(|missing| {
            let from = match &missing.source {
                Source::Input => "$input".to_owned(),
                Source::Step(id) => id.clone(),
            };
            violation(
                from,
                missing.pointer.clone(),
                format!("`{}{}` is not there", missing.source, missing.pointer),
            )
        })?;
        if let Some(schema) = &step.info.input_schema
            && let Err(broken) = schema.check(&value)
        {
            return Err(violation("$input".to_owned(), broken.pointer, broken.reason));
        }
        Payload::json(&value).map_err(|e| violation("$input".into(), String::new(), e.to_string()))
    }
}

/// Parse the workflow input as JSON and check it against the workflow's input schema.
pub(super) fn parse_input(
    input: &Payload,
    schema: Option<&crate::contract::Schema>,
) -> Result<Option<Value>, String> {
    let json = match input.to_json() {
        Ok(json) => Some(json),
        Err(_) if schema.is_none() => None,
        Err(e) => return Err(format!("the input is not JSON: {e}")),
    };
    if let (Some(schema), Some(json)) = (schema, &json)
        && let Err(broken) = schema.check(json)
    {
        let at = if broken.pointer.is_empty() { "the input".to_owned() } else { broken.pointer };
        return Err(format!("{at} does not match the workflow's input schema: {}", broken.reason));
    }
    Ok(json)
}
