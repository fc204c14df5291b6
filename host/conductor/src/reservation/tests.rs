//! The pool and [`Reserved`] on a current-thread runtime and a [`ManualClock`]: waiters are
//! spawned tasks, progress is observed through `queued()` / `in_use()` and finished tasks, and
//! time moves only when a test advances it. No sleeps, no timing assertions. Policy values have
//! their own tests next to them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use symphony_types::usage::Usage;

use tokio::task::JoinHandle;

use super::*;
use crate::ManualClock;
use crate::scripted::ScriptedInvoke;
use symphony_types::error::{CallError, HostError, TrapCode};
use symphony_types::payload::Payload;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// Fuel per call in memory-bound tests: far below the budget, so only memory decides.
const FUEL: u64 = 1_000;

type Reserving = JoinHandle<Result<Reservation, ConductorError>>;

fn essential(memory_bytes: u64) -> Demand {
    Demand::new(memory_bytes, FUEL, Priority::Essential)
}

fn recommended(memory_bytes: u64) -> Demand {
    Demand::new(memory_bytes, FUEL, Priority::Recommended)
}

fn optional(memory_bytes: u64) -> Demand {
    Demand::new(memory_bytes, FUEL, Priority::Optional)
}

/// A pool of `memory_budget_bytes` with plenty of fuel and the default queues and timeout.
fn pool(memory_budget_bytes: u64) -> (ResourcePool, ManualClock) {
    pool_with(ReservationPolicy::default().memory_budget_bytes(memory_budget_bytes).fuel_budget(1_000 * FUEL))
}

fn pool_with(policy: ReservationPolicy) -> (ResourcePool, ManualClock) {
    let clock = ManualClock::new();
    (ResourcePool::new(policy, Arc::new(clock.clone())), clock)
}

/// Reserve on a task of its own, as a concurrent caller would.
fn spawn_reserve(pool: &ResourcePool, demand: Demand) -> Reserving {
    spawn_cancellable(pool, demand, CancelToken::new())
}

fn spawn_cancellable(pool: &ResourcePool, demand: Demand, cancel: CancelToken) -> Reserving {
    let pool = pool.clone();
    tokio::spawn(async move { pool.reserve(demand, &cancel).await })
}

/// Let the other tasks run until `condition` holds; fail (rather than hang) if it never does.
async fn until(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..1_000 {
        if condition() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}

/// Let every task that can make progress do so.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// The result of a task that must finish now, without more time or room.
async fn finished(handle: Reserving) -> Result<Reservation, ConductorError> {
    until("the reserving task finishes", || handle.is_finished()).await;
    handle.await.expect("the reserving task does not panic")
}

async fn admitted(handle: Reserving) -> Reservation {
    finished(handle).await.unwrap_or_else(|refused| panic!("expected admission, got {refused:?}"))
}

/// Reserve where the answer must come at once (admitted or refused): a call that would wait
/// fails the test instead of hanging it.
async fn reserve_now(pool: &ResourcePool, demand: Demand) -> Result<Reservation, ConductorError> {
    let cancel = CancelToken::new();
    let mut reserving = Box::pin(pool.reserve(demand, &cancel));
    match poll_once(&mut reserving).await {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("{demand:?} waits instead of being answered at once"),
    }
}

fn is_overloaded(result: &Result<Reservation, ConductorError>) -> bool {
    matches!(result, Err(ConductorError::Overloaded { .. }))
}

/// Poll a future once, as an executor would when it starts it.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

#[tokio::test]
async fn seed_scenario_admits_two_essentials_and_the_recommended_call_when_one_finishes() {
    let (pool, _clock) = pool(2 * GIB);
    let a = spawn_reserve(&pool, essential(GIB));
    let b = spawn_reserve(&pool, essential(GIB));
    let c = spawn_reserve(&pool, recommended(512 * MIB));
    until("C waits", || pool.queued() == [0, 1, 0]).await;
    let a = admitted(a).await;
    let b = admitted(b).await;
    assert_eq!(pool.in_use(), (2 * GIB, 2 * FUEL));
    settle().await;
    assert!(!c.is_finished(), "C waits while A and B hold the whole budget");

    drop(a);
    let c = admitted(c).await;
    assert_eq!(c.demand(), recommended(512 * MIB));
    assert_eq!(pool.in_use(), (GIB + 512 * MIB, 2 * FUEL));
    assert_eq!(pool.queued(), [0, 0, 0]);

    drop(b);
    drop(c);
    assert_eq!(pool.in_use(), (0, 0));
}

#[tokio::test]
async fn a_demand_larger_than_the_whole_budget_is_refused_at_once() {
    let (pool, _clock) =
        pool_with(ReservationPolicy::default().memory_budget_bytes(GIB).fuel_budget(10 * FUEL));
    let too_much_memory = reserve_now(&pool, essential(GIB + 1)).await;
    assert!(
        matches!(too_much_memory, Err(ConductorError::ExceedsBudget { memory_bytes, .. }) if memory_bytes == GIB + 1),
        "{too_much_memory:?}"
    );
    let too_much_fuel = reserve_now(&pool, Demand::new(MIB, 10 * FUEL + 1, Priority::Essential)).await;
    assert!(matches!(too_much_fuel, Err(ConductorError::ExceedsBudget { .. })), "{too_much_fuel:?}");
    assert_eq!(
        too_much_fuel.as_ref().err().map(ConductorError::class),
        Some(symphony_types::error::ErrorClass::Fatal),
        "waiting cannot help, so it is not retried"
    );
    assert_eq!(pool.queued(), [0, 0, 0]);
    assert_eq!(pool.in_use(), (0, 0));

    let exactly_the_budget = reserve_now(&pool, Demand::new(GIB, 10 * FUEL, Priority::Optional)).await;
    assert!(exactly_the_budget.is_ok(), "the whole budget is admissible");
}

#[tokio::test]
async fn a_cancelled_token_is_refused_before_admission() {
    let (pool, _clock) = pool(GIB);
    let cancel = CancelToken::new();
    cancel.cancel();
    let mut reserving = Box::pin(pool.reserve(essential(MIB), &cancel));
    assert!(matches!(poll_once(&mut reserving).await, Poll::Ready(Err(ConductorError::Cancelled))));
    assert_eq!(pool.in_use(), (0, 0));
}

#[tokio::test]
async fn optional_calls_are_shed_while_a_higher_priority_call_waits() {
    let (pool, _clock) = pool(GIB);
    let holder = reserve_now(&pool, essential(768 * MIB)).await.unwrap();

    // Nothing of higher priority waits: a short optional call queues like any other.
    let first_optional = spawn_reserve(&pool, optional(512 * MIB));
    until("the optional call waits", || pool.queued() == [0, 0, 1]).await;
    assert_eq!((pool.queued_in(Priority::Optional), pool.queued_in(Priority::Essential)), (1, 0));
    // A recommended call is never shed: it waits too (ahead of the optional one).
    let waiting_recommended = spawn_reserve(&pool, recommended(512 * MIB));
    until("the recommended call waits", || pool.queued() == [0, 1, 1]).await;

    // Now an optional call is shed at once, even one that would fit in the free 256 MiB.
    let shed = reserve_now(&pool, optional(128 * MIB)).await;
    assert!(is_overloaded(&shed), "{shed:?}");
    assert_eq!(pool.queued(), [0, 1, 1], "the shed call never queued");
    assert_eq!(pool.in_use(), (768 * MIB, FUEL));

    drop(holder);
    let recommended_call = admitted(waiting_recommended).await;
    let optional_call = admitted(first_optional).await;
    assert_eq!(pool.in_use(), (GIB, 2 * FUEL));
    drop((recommended_call, optional_call));
    assert_eq!(pool.in_use(), (0, 0));
}

#[tokio::test]
async fn waiters_are_admitted_by_priority_then_in_arrival_order() {
    let (pool, _clock) = pool(GIB);
    let log = Arc::new(Mutex::new(Vec::new()));
    let holder = reserve_now(&pool, essential(GIB)).await.unwrap();

    let arrivals = [
        ("optional", optional(GIB), [0, 0, 1]),
        ("recommended-1", recommended(GIB), [0, 1, 1]),
        ("essential-1", essential(GIB), [1, 1, 1]),
        ("essential-2", essential(GIB), [2, 1, 1]),
        ("recommended-2", recommended(GIB), [2, 2, 1]),
    ];
    let mut waiters = HashMap::new();
    for (name, demand, queued_after) in arrivals {
        let (pool_for_task, log) = (pool.clone(), Arc::clone(&log));
        let handle = tokio::spawn(async move {
            let reservation = pool_for_task.reserve(demand, &CancelToken::new()).await;
            log.lock().unwrap().push(name);
            reservation
        });
        until(name, || pool.queued() == queued_after).await;
        waiters.insert(name, handle);
    }

    // Each needs the whole budget, so each release admits exactly the next one.
    let mut holding = holder;
    for (admitted_so_far, next) in
        ["essential-1", "essential-2", "recommended-1", "recommended-2", "optional"].into_iter().enumerate()
    {
        drop(holding);
        until(next, || log.lock().unwrap().len() == admitted_so_far + 1).await;
        assert_eq!(log.lock().unwrap().last(), Some(&next));
        holding = admitted(waiters.remove(next).unwrap()).await;
    }
    drop(holding);
    assert_eq!(pool.in_use(), (0, 0));
    assert_eq!(pool.queued(), [0, 0, 0]);
}

#[tokio::test]
async fn a_large_head_is_not_overtaken_by_smaller_calls() {
    let (pool, _clock) = pool(GIB);
    let holder = reserve_now(&pool, essential(768 * MIB)).await.unwrap();
    let big = spawn_reserve(&pool, essential(512 * MIB));
    until("the large essential call waits", || pool.queued() == [1, 0, 0]).await;
    // 256 MiB are free: each of these would fit, and none may pass the large head.
    let small_essential = spawn_reserve(&pool, essential(128 * MIB));
    let small_recommended = spawn_reserve(&pool, recommended(128 * MIB));
    until("the small calls wait", || pool.queued() == [2, 1, 0]).await;
    settle().await;
    assert!(!small_essential.is_finished() && !small_recommended.is_finished());
    assert_eq!(pool.in_use(), (768 * MIB, FUEL));

    drop(holder);
    let big = admitted(big).await;
    let small_essential = admitted(small_essential).await;
    let small_recommended = admitted(small_recommended).await;
    assert_eq!(pool.in_use(), (768 * MIB, 3 * FUEL));
    drop((big, small_essential, small_recommended));
    assert_eq!(pool.in_use(), (0, 0));
}

#[tokio::test]
async fn a_full_queue_refuses_at_once() {
    let (pool, _clock) = pool_with(
        ReservationPolicy::default().memory_budget_bytes(GIB).queue_capacity(Priority::Essential, 1),
    );
    let holder = reserve_now(&pool, essential(GIB)).await.unwrap();
    let waiting = spawn_reserve(&pool, essential(MIB));
    until("one essential call waits", || pool.queued() == [1, 0, 0]).await;

    let refused = reserve_now(&pool, essential(MIB)).await;
    assert!(is_overloaded(&refused), "{refused:?}");
    assert_eq!(pool.queued(), [1, 0, 0]);

    drop(holder);
    drop(admitted(waiting).await);
    assert_eq!(pool.in_use(), (0, 0));
}

#[tokio::test]
async fn queue_timeout_refuses_once_the_clock_passes_it() {
    let (pool, clock) =
        pool_with(ReservationPolicy::default().memory_budget_bytes(GIB).queue_timeout_ms(2_000));
    let holder = reserve_now(&pool, essential(GIB)).await.unwrap();
    let waiting = spawn_reserve(&pool, recommended(MIB));
    until("the call waits", || pool.queued() == [0, 1, 0]).await;

    clock.advance(Duration::from_millis(1_999));
    settle().await;
    assert!(!waiting.is_finished(), "still inside its queue timeout");
    assert_eq!(pool.queued(), [0, 1, 0]);

    clock.advance(Duration::from_millis(1));
    let timed_out = finished(waiting).await;
    assert!(is_overloaded(&timed_out), "{timed_out:?}");
    assert_eq!(pool.queued(), [0, 0, 0]);
    drop(holder);
    assert_eq!(pool.in_use(), (0, 0), "a timed-out waiter is never admitted later");
}

#[tokio::test]
async fn cancel_while_queued_returns_cancelled_and_leaves_the_queue() {
    let (pool, clock) = pool(GIB);
    let holder = reserve_now(&pool, essential(GIB)).await.unwrap();
    let cancel = CancelToken::new();
    let waiting = spawn_cancellable(&pool, essential(MIB), cancel.clone());
    until("the call waits", || pool.queued() == [1, 0, 0]).await;

    cancel.cancel();
    // The token has no wake-up: the waiter sees it within one check interval.
    clock.advance(CANCEL_CHECK_INTERVAL);
    assert!(matches!(finished(waiting).await, Err(ConductorError::Cancelled)));
    assert_eq!(pool.queued(), [0, 0, 0]);
    drop(holder);
    assert_eq!(pool.in_use(), (0, 0), "no phantom admission of the cancelled call");
}

#[tokio::test]
async fn a_waiter_leaving_unblocks_the_calls_behind_it() {
    let (pool, clock) = pool(GIB);
    let _holder = reserve_now(&pool, essential(512 * MIB)).await.unwrap();
    let cancel = CancelToken::new();
    let big = spawn_cancellable(&pool, essential(GIB), cancel.clone());
    until("the large call waits", || pool.queued() == [1, 0, 0]).await;
    let small = spawn_reserve(&pool, recommended(256 * MIB));
    until("the small call waits behind it", || pool.queued() == [1, 1, 0]).await;

    cancel.cancel();
    clock.advance(CANCEL_CHECK_INTERVAL);
    assert!(matches!(finished(big).await, Err(ConductorError::Cancelled)));
    let small = admitted(small).await;
    assert_eq!(small.demand(), recommended(256 * MIB));
    assert_eq!(pool.in_use(), (768 * MIB, 2 * FUEL));
}

#[tokio::test]
async fn a_waiter_dropped_while_queued_leaves_no_trace() {
    let (pool, _clock) = pool(GIB);
    let holder = reserve_now(&pool, essential(GIB)).await.unwrap();
    let cancel = CancelToken::new();
    let mut waiting = Box::pin(pool.reserve(essential(GIB), &cancel));
    assert!(poll_once(&mut waiting).await.is_pending());
    assert_eq!(pool.queued(), [1, 0, 0]);

    drop(waiting);
    assert_eq!(pool.queued(), [0, 0, 0]);
    drop(holder);
    assert_eq!(pool.in_use(), (0, 0));
}

#[tokio::test]
async fn a_waiter_dropped_after_admission_but_before_seeing_it_gives_the_room_back() {
    let (pool, _clock) = pool(GIB);
    let holder = reserve_now(&pool, essential(GIB)).await.unwrap();
    let cancel = CancelToken::new();
    let mut waiting = Box::pin(pool.reserve(essential(GIB), &cancel));
    assert!(poll_once(&mut waiting).await.is_pending());

    drop(holder);
    assert_eq!(pool.in_use(), (GIB, FUEL), "admitted: the room is held on the waiter's behalf");
    assert_eq!(pool.queued(), [0, 0, 0]);
    drop(waiting);
    assert_eq!(pool.in_use(), (0, 0));
}

#[tokio::test]
async fn a_panicking_holder_releases_its_reservation() {
    let (pool, _clock) = pool(GIB);
    let (held, is_held) = tokio::sync::oneshot::channel();
    let (panic_now, go) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn({
        let pool = pool.clone();
        async move {
            let _reservation = pool.reserve(essential(GIB), &CancelToken::new()).await;
            let _ = held.send(());
            let _ = go.await;
            panic!("the holder panics while holding its reservation");
        }
    });
    is_held.await.unwrap();
    let waiting = spawn_reserve(&pool, essential(GIB));
    until("the call waits", || pool.queued() == [1, 0, 0]).await;

    let _ = panic_now.send(());
    assert!(holder.await.is_err_and(|e| e.is_panic()));
    let reservation = admitted(waiting).await;
    drop(reservation);
    assert_eq!(pool.in_use(), (0, 0));
}

#[tokio::test]
async fn fuel_budget_limits_concurrency_like_memory() {
    let (pool, _clock) =
        pool_with(ReservationPolicy::default().memory_budget_bytes(GIB).fuel_budget(2 * FUEL));
    let call = Demand::new(MIB, FUEL, Priority::Essential);
    let first = reserve_now(&pool, call).await.unwrap();
    let second = reserve_now(&pool, call).await.unwrap();
    let third = spawn_reserve(&pool, call);
    until("the third call waits for fuel", || pool.queued() == [1, 0, 0]).await;
    assert_eq!(pool.in_use(), (2 * MIB, 2 * FUEL));

    drop(first);
    let third = admitted(third).await;
    assert_eq!(pool.in_use(), (2 * MIB, 2 * FUEL));
    drop((second, third));
    assert_eq!(pool.in_use(), (0, 0));
}

type Reply = Result<Payload, CallError>;

fn ok() -> Reply {
    Ok(Payload::new("application/json", b"{}".to_vec()))
}

fn trap() -> Reply {
    Err(HostError::GuestTrap { code: TrapCode::Unreachable, message: "guest panicked".into() }.into())
}

/// What the pool held while a call ran, as `heavy` notes it.
type InUseDuringCall = Arc<Mutex<Option<(u64, u64)>>>;

/// `heavy@1.0.0`: answers `reply()` reporting 7 fuel, noting what `pool` held while it ran.
fn heavy(pool: &ResourcePool, reply: fn() -> Reply) -> (ScriptedInvoke, InUseDuringCall) {
    let in_use_during_call = InUseDuringCall::default();
    let (pool, noted) = (pool.clone(), Arc::clone(&in_use_during_call));
    let fake = ScriptedInvoke::new("heavy@1.0.0")
        .otherwise(reply)
        .usage(Usage { fuel: 7, ..Usage::default() })
        .on_call(move |_| *noted.lock().unwrap() = Some(pool.in_use()));
    (fake, in_use_during_call)
}

fn request() -> CallRequest {
    CallRequest::new(Payload::new("application/json", b"{}".to_vec()))
}

#[tokio::test]
async fn reserved_holds_the_demand_during_the_call_and_releases_on_success_and_on_error() {
    let (pool, _clock) = pool(GIB);
    let demand = essential(64 * MIB);
    for (reply, succeeds) in [(ok as fn() -> Reply, true), (trap, false)] {
        let (fake, in_use_during_call) = heavy(&pool, reply);
        let reserved = Reserved::new(fake, pool.clone(), demand);
        assert_eq!(reserved.id(), "heavy@1.0.0");
        let outcome = reserved.invoke(request()).await;
        assert_eq!(outcome.result.is_ok(), succeeds);
        assert_eq!(outcome.usage.fuel, 7, "the inner outcome comes back untouched");
        assert_eq!(*in_use_during_call.lock().unwrap(), Some((64 * MIB, FUEL)));
        assert_eq!(pool.in_use(), (0, 0));
    }
}

#[tokio::test]
async fn reserved_refusal_is_an_outcome_and_the_target_is_not_called() {
    let (pool, _clock) = pool(GIB);
    let reserved = Reserved::new(heavy(&pool, ok).0, pool.clone(), essential(2 * GIB));
    let outcome = reserved.invoke(request()).await;
    assert!(matches!(outcome.result, Err(CallError::Conductor(ConductorError::ExceedsBudget { .. }))));
    assert_eq!(outcome.usage, Usage::default());
    assert_eq!(reserved.inner.calls(), 0);
}

#[tokio::test]
async fn reserved_releases_when_the_call_is_dropped_mid_await() {
    let (pool, clock) = pool(GIB);
    let fake = heavy(&pool, ok).0.work(&clock, Duration::from_secs(1));
    let reserved = Reserved::new(fake, pool.clone(), essential(64 * MIB));
    let mut call = reserved.invoke(request());
    assert!(poll_once(&mut call).await.is_pending());
    assert_eq!(pool.in_use(), (64 * MIB, FUEL), "held while the call runs");
    drop(call);
    assert_eq!(pool.in_use(), (0, 0));
}
