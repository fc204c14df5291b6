//! The composed conductor with fakes: fallback chains, required features, degraded answers.

use super::*;
use crate::scripted::ScriptedInvoke;
use symphony_types::error::{ExtensionError, HostError};
use symphony_types::payload::JSON_CONTENT_TYPE;

/// Answers from a script, then with `unable()`, counting calls.
fn scripted(id: &str, answers: Vec<Result<Payload, CallError>>) -> Arc<ScriptedInvoke> {
    Arc::new(ScriptedInvoke::new(id).replies(answers).otherwise(|| Err(unable())))
}

fn ok(text: &str) -> Result<Payload, CallError> {
    Ok(Payload::new(JSON_CONTENT_TYPE, text.as_bytes().to_vec()))
}

fn unable() -> CallError {
    CallError::Guest(ExtensionError::UnableToComplete { message: "regression".into() })
}

fn conductor() -> Conductor {
    Conductor::new(
        Arc::new(ManualClock::new()),
        RetryPolicy::default().max_attempts(1),
        BreakerPolicy::default(),
    )
}

fn target(invoker: Arc<ScriptedInvoke>, features: &[&str]) -> ResolvedStep {
    ResolvedStep::Target(FallbackTarget {
        invoker,
        features: features.iter().map(|f| (*f).to_owned()).collect(),
        demand: None,
    })
}

fn request() -> CallRequest {
    CallRequest::new(Payload::new(JSON_CONTENT_TYPE, b"{}".to_vec()))
}

#[tokio::test]
async fn an_older_version_serves_when_the_newer_cannot() {
    let newer = scripted("summarize@2.0.0", vec![Err(unable())]);
    let older = scripted("summarize@1.0.0", vec![ok("\"v1\"")]);
    let chain = [target(older.clone(), &["summarize"])];
    let outcome = conductor()
        .call_with_fallback("balanced", newer.as_ref(), None, &chain, &["summarize".into()], request())
        .await;
    assert_eq!(outcome.result.unwrap().bytes, b"\"v1\"");
    assert_eq!(outcome.served_by, "summarize@1.0.0");
    assert!(outcome.fallback && !outcome.degraded);
    assert_eq!(outcome.attempts.len(), 2);
}

#[tokio::test]
async fn a_fallback_lacking_a_required_feature_is_skipped() {
    let primary = scripted("a@1", vec![Err(unable())]);
    let lacking = scripted("b@1", vec![ok("\"b\"")]);
    let fitting = scripted("c@1", vec![ok("\"c\"")]);
    let chain = [target(lacking.clone(), &["other"]), target(fitting.clone(), &["needed", "other"])];
    let outcome = conductor()
        .call_with_fallback("balanced", primary.as_ref(), None, &chain, &["needed".into()], request())
        .await;
    assert_eq!(outcome.served_by, "c@1");
    assert_eq!(lacking.calls(), 0, "never called");
}

#[tokio::test]
async fn degraded_answers_are_marked_and_last_good_is_per_input() {
    let conductor = conductor();
    let primary = scripted("p@1", vec![ok("\"fresh\""), Err(unable()), Err(unable())]);
    let chain = [ResolvedStep::LastGood];
    let first =
        conductor.call_with_fallback("balanced", primary.as_ref(), None, &chain, &[], request()).await;
    assert!(!first.degraded);
    let second =
        conductor.call_with_fallback("balanced", primary.as_ref(), None, &chain, &[], request()).await;
    assert_eq!(second.result.unwrap().bytes, b"\"fresh\"");
    assert!(second.degraded && second.fallback);
    assert_eq!(second.served_by, "p@1");

    let other_input = CallRequest::new(Payload::new(JSON_CONTENT_TYPE, b"{\"x\":1}".to_vec()));
    let static_chain =
        [ResolvedStep::LastGood, ResolvedStep::Static(Payload::new(JSON_CONTENT_TYPE, b"null".to_vec()))];
    let third = conductor
        .call_with_fallback("balanced", primary.as_ref(), None, &static_chain, &[], other_input)
        .await;
    assert_eq!(third.result.unwrap().bytes, b"null", "no last good for this input: the static answer");
    assert!(third.degraded);
}

#[tokio::test]
async fn caller_faults_do_not_fall_back() {
    let primary =
        scripted("p@1", vec![Err(CallError::Guest(ExtensionError::InvalidInput { message: "bad".into() }))]);
    let alternative = scripted("q@1", vec![ok("\"q\"")]);
    let chain = [target(alternative.clone(), &[])];
    let outcome =
        conductor().call_with_fallback("balanced", primary.as_ref(), None, &chain, &[], request()).await;
    assert!(matches!(outcome.result, Err(CallError::Guest(ExtensionError::InvalidInput { .. }))));
    assert_eq!(alternative.calls(), 0);
    assert!(!outcome.fallback);
}

#[tokio::test]
async fn limit_breaches_fall_back_too() {
    let primary = scripted("p@2", vec![Err(CallError::Host(HostError::OutOfFuel { limit_fuel: 10 }))]);
    let alternative = scripted("p@1", vec![ok("\"ok\"")]);
    let outcome = conductor()
        .call_with_fallback("balanced", primary.as_ref(), None, &[target(alternative, &[])], &[], request())
        .await;
    assert!(outcome.result.is_ok() && outcome.fallback);
}

#[tokio::test]
async fn each_profile_retries_within_its_own_budget_settings() {
    let retry = |ratio: f64, per_sec: f64| {
        RetryPolicy::default()
            .max_attempts(4)
            .base_backoff_ms(1)
            .max_backoff_ms(1)
            .budget_ratio(ratio)
            .budget_min_retries_per_sec(per_sec)
    };
    let mut config = ConductorConfig::default();
    let breaker = BreakerPolicy::default();
    config.profiles.insert("stingy".into(), ResilienceProfile { retry: retry(0.0, 0.0), breaker });
    config.profiles.insert("generous".into(), ResilienceProfile { retry: retry(1.0, 100.0), breaker });
    let conductor = Conductor::from_config(Arc::new(SystemClock::default()), config);
    let down =
        || CallError::Guest(ExtensionError::Unavailable { message: "down".into(), retry_after_ms: None });

    let stingy = scripted("stingy@1.0.0", vec![Err(down()), Err(down()), Err(down()), Err(down())]);
    let outcome = conductor.call_profile("stingy", stingy.as_ref(), None, request()).await;
    assert!(outcome.result.is_err());
    assert_eq!(stingy.calls(), 1, "a budget of nothing allows no retry");

    let generous = scripted("generous@1.0.0", vec![Err(down()), Err(down()), Err(down()), Err(down())]);
    let outcome = conductor.call_profile("generous", generous.as_ref(), None, request()).await;
    assert!(outcome.result.is_err());
    assert_eq!(generous.calls(), 4, "its own budget allows every attempt");
}

#[tokio::test]
async fn an_open_breaker_fails_the_call_fast_instead_of_being_waited_out() {
    // Retries on (3 attempts), so only the rule keeps the retrier from sleeping off the
    // breaker's open period inside the call.
    let conductor = Conductor::new(
        Arc::new(ManualClock::new()),
        RetryPolicy::default().max_attempts(3).base_backoff_ms(0).max_backoff_ms(0),
        BreakerPolicy::default(),
    );
    let transient =
        || CallError::Guest(ExtensionError::Unavailable { message: "down".into(), retry_after_ms: None });
    let failing = Arc::new(ScriptedInvoke::new("down@1").otherwise(move || Err(transient())));
    let mut opened = None;
    for _ in 0..40 {
        let call = conductor.call_with_fallback("balanced", failing.as_ref(), None, &[], &[], request());
        // The manual clock never moves: a retrier sleeping off the open period would hang here.
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(5), call).await.expect("no wait");
        if matches!(outcome.result, Err(CallError::Conductor(ConductorError::CircuitOpen { .. }))) {
            opened = Some(outcome);
            break;
        }
    }
    let opening = opened.expect("the breaker opened");
    let last = opening.attempts.last().and_then(|a| a.error_kind);
    assert_eq!(last, Some("circuit_open"), "the refusal ends the call: {:?}", opening.attempts);
    let call = conductor.call_with_fallback("balanced", failing.as_ref(), None, &[], &[], request());
    let refused = tokio::time::timeout(std::time::Duration::from_secs(5), call).await.expect("no wait");
    assert!(matches!(refused.result, Err(CallError::Conductor(ConductorError::CircuitOpen { .. }))));
    assert_eq!(refused.attempts.len(), 1, "one refused attempt, no retry: {:?}", refused.attempts);
}
