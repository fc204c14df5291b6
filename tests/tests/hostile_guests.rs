//! Each hostile sample is stopped with the typed host error for the limit it breaks, the usage
//! report shows what it consumed, and the host keeps serving afterwards.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use std::sync::Arc;

use symphony_host::{CallError, ErrorClass, ErrorSource, HostError, Runtime};
use symphony_tests::{assert_still_serving, call_json, load, manifest_with_limits, runtime, sample_config};

#[tokio::test]
async fn infinite_loop_runs_out_of_fuel() {
    let ext = load("infinite-loop");
    let limit = ext.limits().limits.fuel;
    let outcome = call_json(&ext, serde_json::json!({})).await;
    let err = outcome.result.expect_err("an infinite loop cannot succeed");
    assert!(
        matches!(err, CallError::Host(HostError::OutOfFuel { limit_fuel }) if limit_fuel == limit),
        "{err:?}"
    );
    assert_eq!(err.source_layer(), ErrorSource::Host);
    assert_eq!(err.class(), ErrorClass::Fatal);
    assert_eq!(outcome.usage.fuel, limit, "the whole budget was consumed");
    assert_still_serving().await;
}

#[tokio::test]
async fn infinite_loop_with_ample_fuel_hits_the_deadline() {
    let mut config = sample_config();
    config.policy.ceilings.fuel = u64::MAX / 2;
    let runtime = Runtime::new(config).expect("engine").allow_unpinned();
    let (_dir, manifest) =
        manifest_with_limits("infinite-loop", "fuel = 1_000_000_000_000_000\ndeadline_ms = 150");
    let ext = runtime.load_manifest(manifest).expect("load");
    let outcome = call_json(&ext, serde_json::json!({})).await;
    let err = outcome.result.expect_err("an infinite loop cannot succeed");
    assert!(matches!(err, CallError::Host(HostError::DeadlineExceeded { limit_ms: 150 })), "{err:?}");
    assert!(outcome.usage.fuel > 0 && outcome.usage.fuel < 1_000_000_000_000_000);
    assert_still_serving().await;
}

#[tokio::test]
async fn memory_bomb_hits_the_memory_limit_recorded_by_the_limiter() {
    let ext = load("memory-bomb");
    let limit = ext.limits().limits.memory_bytes;
    let outcome = call_json(&ext, serde_json::json!({})).await;
    let err = outcome.result.expect_err("a memory bomb cannot succeed");
    match err {
        CallError::Host(HostError::MemoryLimit { requested_bytes, limit_bytes }) => {
            assert_eq!(limit_bytes, limit);
            assert!(requested_bytes > limit);
        }
        other => panic!("expected memory_limit, got {other:?}"),
    }
    assert!(outcome.usage.memory_peak_bytes <= limit);
    assert!(outcome.usage.memory_peak_bytes > limit / 2, "it did fill its allowance");
    assert_still_serving().await;
}

#[tokio::test]
async fn a_lower_memory_limit_stops_the_bomb_sooner() {
    let (_dir, manifest) = manifest_with_limits("memory-bomb", "memory_bytes = \"4 MiB\"");
    let ext = runtime().load_manifest(manifest).expect("load");
    let outcome = call_json(&ext, serde_json::json!({})).await;
    assert!(matches!(
        outcome.result,
        Err(CallError::Host(HostError::MemoryLimit { limit_bytes: 4_194_304, .. }))
    ));
    assert!(outcome.usage.memory_peak_bytes <= 4 << 20);
}

#[tokio::test]
async fn stack_bomb_overflows_its_stack() {
    let ext = load("stack-bomb");
    let outcome = call_json(&ext, serde_json::json!({})).await;
    let err = outcome.result.expect_err("unbounded recursion cannot succeed");
    assert!(matches!(err, CallError::Host(HostError::StackOverflow { .. })), "{err:?}");
    assert_still_serving().await;
}

#[tokio::test]
async fn output_bomb_is_refused_as_too_large() {
    let ext = load("output-bomb");
    let limit = ext.limits().limits.output_bytes;
    let outcome = call_json(&ext, serde_json::json!({})).await;
    match outcome.result {
        Err(CallError::Host(HostError::OutputTooLarge { size_bytes, limit_bytes })) => {
            assert_eq!(limit_bytes, limit);
            assert!(size_bytes > limit);
        }
        other => panic!("expected output_too_large, got {other:?}"),
    }
    assert_still_serving().await;
}

#[tokio::test]
async fn instance_limit_below_what_the_component_needs_is_refused_at_load() {
    let (_dir, manifest) = manifest_with_limits("echo", "instances = 1");
    let err = runtime().load_manifest(manifest).expect_err("a Rust component needs several core instances");
    assert!(matches!(err, HostError::InstanceLimit { needed, limit: 1 } if needed > 1), "{err:?}");
    assert_eq!(err.kind(), "instance_limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_and_well_behaved_calls_run_concurrently() {
    let mut hostile = Vec::new();
    for name in ["infinite-loop", "memory-bomb", "stack-bomb", "output-bomb"] {
        let ext = Arc::new(load(name));
        hostile.push(tokio::spawn(async move { call_json(&ext, serde_json::json!({})).await }));
    }
    let echo = Arc::new(load("echo"));
    let mut friendly = Vec::new();
    for i in 0..16 {
        let echo = Arc::clone(&echo);
        friendly.push(tokio::spawn(async move { call_json(&echo, serde_json::json!({ "i": i })).await }));
    }
    for (i, handle) in friendly.into_iter().enumerate() {
        let outcome = handle.await.expect("task");
        let output = outcome.result.expect("echo succeeds beside hostile guests");
        assert_eq!(output.to_json().ok(), Some(serde_json::json!({ "i": i })));
    }
    for handle in hostile {
        let outcome = handle.await.expect("task");
        assert!(matches!(outcome.result, Err(CallError::Host(_))));
    }
}

#[tokio::test]
async fn a_full_instance_pool_refuses_more_calls_as_transient_not_as_a_crash() {
    let mut config = sample_config();
    config.engine.max_concurrent_instances = 2;
    let runtime = Runtime::new(config).expect("engine").allow_unpinned();
    if !runtime.engine().pooling() {
        return; // on-demand allocation has no pool to exhaust
    }
    let drip = runtime.load("slow-drip").expect("load");
    let (a, b, c, d) = tokio::join!(
        call_json(&drip, serde_json::json!({})),
        call_json(&drip, serde_json::json!({})),
        call_json(&drip, serde_json::json!({})),
        call_json(&drip, serde_json::json!({}))
    );
    let refused: Vec<_> = [&a, &b, &c, &d]
        .into_iter()
        .filter(|o| matches!(o.result, Err(CallError::Host(HostError::PoolExhausted))))
        .collect();
    assert_eq!(refused.len(), 2, "two slots, four callers");
    assert!(
        refused.iter().all(|o| o.result.as_ref().err().map(CallError::class) == Some(ErrorClass::Transient))
    );
    // Slots are returned when calls end: the pool serves again.
    let echo = runtime.load("echo").expect("load");
    assert!(call_json(&echo, serde_json::json!({})).await.result.is_ok());
}
