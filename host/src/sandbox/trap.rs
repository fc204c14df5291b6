//! What stopped a guest, as the typed [`HostError`] that explains it: fuel, deadline and stack
//! traps map directly; a refused memory or table growth is reported as the limit it hit
//! (whatever trap the guest raised afterwards); everything else is a [`TrapCode`].

use wasmtime::Trap;

use super::limiter::Breach;
use crate::call_state::CallState;
use symphony_types::error::{HostError, TrapCode};
use symphony_types::limits::Limits;

/// The typed error for `err`, which ended a call running under `limits` with `deadline_ms`.
pub(super) fn host_error(
    err: &wasmtime::Error,
    state: &CallState,
    limits: &Limits,
    fuel_limit: u64,
    deadline_ms: u64,
    stack_bytes: u64,
) -> HostError {
    let trap = err.downcast_ref::<Trap>().copied();
    match trap {
        Some(Trap::OutOfFuel) => return HostError::OutOfFuel { limit_fuel: fuel_limit },
        Some(Trap::Interrupt) => return HostError::DeadlineExceeded { limit_ms: deadline_ms },
        Some(Trap::StackOverflow) => return HostError::StackOverflow { limit_bytes: stack_bytes },
        _ => {}
    }
    if err.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
        return HostError::PoolExhausted;
    }
    if state.deadline_hit {
        return HostError::DeadlineExceeded { limit_ms: deadline_ms };
    }
    // The guest's allocation failed because we refused the growth; whatever trap followed
    // (usually `unreachable` from the allocator's abort) is a consequence of that breach.
    match state.limiter.breach() {
        Some(Breach::Memory { requested_bytes, limit_bytes }) => {
            return HostError::MemoryLimit { requested_bytes, limit_bytes };
        }
        Some(Breach::Table { requested_elements, limit_elements }) => {
            return HostError::TableLimit { requested_elements, limit_elements };
        }
        None => {}
    }
    let code = match trap {
        Some(Trap::UnreachableCodeReached) => TrapCode::Unreachable,
        Some(Trap::MemoryOutOfBounds) => TrapCode::MemoryOutOfBounds,
        Some(Trap::TableOutOfBounds) => TrapCode::TableOutOfBounds,
        Some(Trap::IndirectCallToNull) => TrapCode::IndirectCallToNull,
        Some(Trap::BadSignature) => TrapCode::BadSignature,
        Some(Trap::IntegerOverflow) => TrapCode::IntegerOverflow,
        Some(Trap::IntegerDivisionByZero) => TrapCode::IntegerDivisionByZero,
        Some(Trap::BadConversionToInteger) => TrapCode::BadConversionToInteger,
        Some(Trap::HeapMisaligned) => TrapCode::HeapMisaligned,
        Some(Trap::CannotEnterComponent | Trap::CannotLeaveComponent) => TrapCode::ComponentModel,
        _ => TrapCode::Other,
    };
    // wasmtime's description can carry a long guest backtrace: bound it like a guest message.
    let mut message = format!("{err:?}");
    super::guest_error::cut_message(&mut message, limits.error_message_bytes);
    HostError::GuestTrap { code, message }
}
