//! [`Finding`]: one problem the static check found in a workflow definition, with the file,
//! line and step it is about, and whether it stops the workflow from running.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Some runs may break (e.g. a producer may send `null` where the consumer refuses it): the
    /// runtime contract check will catch it.
    Warning,
    /// The workflow cannot run as written.
    Error,
}

/// What was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FindingKind {
    /// More steps than the limit allows.
    TooManySteps {
        /// Steps in the definition.
        count: usize,
        /// The limit (`[workflows] max_steps`).
        limit: usize,
    },
    /// A chain of dependencies longer than the limit allows.
    TooDeep {
        /// Steps on the longest chain.
        depth: usize,
        /// The limit (`[workflows] max_depth`).
        limit: usize,
    },
    /// `needs` names a step that does not exist.
    UnknownStep {
        /// The name as written.
        needs: String,
        /// The closest step id.
        did_you_mean: Option<String>,
    },
    /// Steps that need each other.
    Cycle {
        /// The steps around the cycle, the first repeated at the end.
        steps: Vec<String>,
    },
    /// A step that can never start: something it needs is in a cycle or does not exist.
    Unreachable {
        /// The step in the way.
        blocked_by: String,
    },
    /// The input mapping reads a step that is not an ancestor (not in its `needs`, directly or
    /// through them), so its output may not exist yet.
    NotAncestor {
        /// The step read.
        reads: String,
    },
    /// The step's extension does not exist.
    UnknownExtension {
        /// As written.
        reference: String,
        /// The closest known extension.
        did_you_mean: Option<String>,
    },
    /// The step's extension exists but cannot be described (bad manifest or schema).
    UnusableExtension {
        /// As written.
        reference: String,
        /// Why.
        reason: String,
    },
    /// A mapping's pointer cannot exist in what it reads, according to that side's schema.
    PointerNotInSchema {
        /// `$input` or `$steps.ID`.
        source: String,
        /// The pointer.
        pointer: String,
        /// Why the schema rules it out.
        reason: String,
    },
    /// A producer's output schema and the consumer's input schema disagree.
    Incompatible {
        /// The producer (`$steps.ID (name@version)` or `$input`).
        from: String,
        /// Pointer in the consumer's input where they disagree.
        pointer: String,
        /// What disagrees.
        reason: String,
    },
    /// The serving extension lacks features the step requires.
    MissingFeatures {
        /// `name@version`.
        extension: String,
        /// Features it does not provide.
        missing: Vec<String>,
    },
    /// `on_failure = "continue"` on a step other steps need: they would have no input.
    ContinueWithDependents {
        /// The steps that need it.
        dependents: Vec<String>,
    },
    /// The step names a resilience profile the platform does not have.
    UnknownProfile {
        /// As written.
        profile: String,
    },
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The definition file (or `<embedded NAME>`).
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The step it is about, when it is about one.
    pub step: Option<String>,
    /// Error or warning.
    pub severity: Severity,
    /// What.
    #[serde(flatten)]
    pub kind: FindingKind,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, ": {severity}")?;
        if let Some(step) = &self.step {
            write!(f, ": step `{step}`")?;
        }
        write!(f, ": {}", self.kind)
    }
}

fn did_you_mean(suggestion: Option<&String>) -> String {
    suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManySteps { count, limit } => write!(f, "{count} steps, more than the limit of {limit}"),
            Self::TooDeep { depth, limit } => {
                write!(f, "a chain of {depth} dependent steps ends here, deeper than the limit of {limit}")
            }
            Self::UnknownStep { needs, did_you_mean: d } => {
                write!(f, "needs `{needs}`, which is not a step{}", did_you_mean(d.as_ref()))
            }
            Self::Cycle { steps } => write!(f, "dependency cycle: {}", steps.join(" -> ")),
            Self::Unreachable { blocked_by } => {
                write!(f, "can never run: it depends on `{blocked_by}`, which is in a cycle or missing")
            }
            Self::NotAncestor { reads } => write!(
                f,
                "its input reads `{reads}`, which is not among the steps it needs (add it to `needs`)"
            ),
            Self::UnknownExtension { reference, did_you_mean: d } => {
                write!(f, "no extension `{reference}`{}", did_you_mean(d.as_ref()))
            }
            Self::UnusableExtension { reference, reason } => write!(f, "extension `{reference}`: {reason}"),
            Self::PointerNotInSchema { source, pointer, reason } => {
                write!(f, "`{source}{pointer}` cannot exist: {reason}")
            }
            Self::Incompatible { from, pointer, reason } => {
                let at = if pointer.is_empty() { "the input" } else { pointer.as_str() };
                write!(f, "input {at} from {from}: {reason}")
            }
            Self::MissingFeatures { extension, missing } => {
                write!(f, "{extension} does not provide required features: {}", missing.join(", "))
            }
            Self::ContinueWithDependents { dependents } => write!(
                f,
                "`on_failure = \"continue\"` but {} need(s) its output: use \"skip\" with a default, or \"fail\"",
                dependents.join(", ")
            ),
            Self::UnknownProfile { profile } => write!(f, "no resilience profile `{profile}`"),
        }
    }
}
