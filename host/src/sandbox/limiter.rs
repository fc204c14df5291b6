//! The `ResourceLimiter` installed in every call's `Store`.
//!
//! wasmtime's own `StoreLimits` caps each linear memory separately; this limiter caps the
//! **total** across all memories (and all tables) of one instance, tracks the peak, and records
//! the first breach so the sandbox can report a typed `memory_limit` / `table_limit` error instead
//! of guessing from the trap the guest raises after its allocation fails.

/// A growth request the limiter refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    /// Linear memory growth refused.
    Memory {
        /// Total bytes the instance would have had.
        requested_bytes: u64,
        /// The limit, in bytes.
        limit_bytes: u64,
    },
    /// Table growth refused.
    Table {
        /// Total elements the instance would have had.
        requested_elements: u64,
        /// The limit, in elements.
        limit_elements: u64,
    },
}

/// Per-store limiter: totals, peak and first breach.
#[derive(Debug)]
pub struct StoreLimiter {
    memory_limit_bytes: u64,
    table_limit_elements: u64,
    instance_limit: usize,
    memory_total_bytes: u64,
    memory_peak_bytes: u64,
    pending_memory_growth: u64,
    table_total_elements: u64,
    pending_table_growth: u64,
    breach: Option<Breach>,
}

impl StoreLimiter {
    /// A limiter for one store.
    #[must_use]
    pub fn new(memory_limit_bytes: u64, table_limit_elements: u64, instance_limit: u64) -> Self {
        Self {
            memory_limit_bytes,
            table_limit_elements,
            instance_limit: usize::try_from(instance_limit).unwrap_or(usize::MAX),
            memory_total_bytes: 0,
            memory_peak_bytes: 0,
            pending_memory_growth: 0,
            table_total_elements: 0,
            pending_table_growth: 0,
            breach: None,
        }
    }

    /// Highest total linear memory seen, in bytes.
    #[must_use]
    pub fn memory_peak_bytes(&self) -> u64 {
        self.memory_peak_bytes
    }

    /// The first refused growth, if any.
    #[must_use]
    pub fn breach(&self) -> Option<Breach> {
        self.breach
    }

    fn record(&mut self, breach: Breach) {
        self.breach.get_or_insert(breach);
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl wasmtime::ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = to_u64(desired.saturating_sub(current));
        let requested = self.memory_total_bytes.saturating_add(growth);
        if requested > self.memory_limit_bytes {
            self.record(Breach::Memory { requested_bytes: requested, limit_bytes: self.memory_limit_bytes });
            return Ok(false);
        }
        self.memory_total_bytes = requested;
        self.memory_peak_bytes = self.memory_peak_bytes.max(requested);
        self.pending_memory_growth = growth;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // The growth we accounted for did not happen (e.g. past the memory's own maximum).
        self.memory_total_bytes = self.memory_total_bytes.saturating_sub(self.pending_memory_growth);
        self.pending_memory_growth = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = to_u64(desired.saturating_sub(current));
        let requested = self.table_total_elements.saturating_add(growth);
        if requested > self.table_limit_elements {
            self.record(Breach::Table {
                requested_elements: requested,
                limit_elements: self.table_limit_elements,
            });
            return Ok(false);
        }
        self.table_total_elements = requested;
        self.pending_table_growth = growth;
        Ok(true)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_total_elements = self.table_total_elements.saturating_sub(self.pending_table_growth);
        self.pending_table_growth = 0;
        Ok(())
    }

    fn instances(&self) -> usize {
        self.instance_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    const PAGE: usize = 64 * 1024;

    #[test]
    fn caps_the_total_across_memories_and_keeps_the_peak() {
        let mut limiter = StoreLimiter::new(3 * PAGE as u64, 100, 10);
        assert!(matches!(limiter.memory_growing(0, 2 * PAGE, None), Ok(true)));
        // A second memory may not take the instance past the total.
        assert!(matches!(limiter.memory_growing(0, 2 * PAGE, None), Ok(false)));
        assert_eq!(
            limiter.breach(),
            Some(Breach::Memory { requested_bytes: 4 * PAGE as u64, limit_bytes: 3 * PAGE as u64 })
        );
        assert!(matches!(limiter.memory_growing(0, PAGE, None), Ok(true)));
        assert_eq!(limiter.memory_peak_bytes(), 3 * PAGE as u64);
    }

    #[test]
    fn failed_growth_is_rolled_back() {
        let mut limiter = StoreLimiter::new(4 * PAGE as u64, 100, 10);
        assert!(matches!(limiter.memory_growing(0, 3 * PAGE, None), Ok(true)));
        let _ = limiter.memory_grow_failed(wasmtime::Error::msg("past maximum"));
        assert!(matches!(limiter.memory_growing(0, 4 * PAGE, None), Ok(true)));
        assert_eq!(limiter.breach(), None);
    }

    #[test]
    fn caps_table_elements() {
        let mut limiter = StoreLimiter::new(PAGE as u64, 10, 10);
        assert!(matches!(limiter.table_growing(0, 8, None), Ok(true)));
        assert!(matches!(limiter.table_growing(8, 11, None), Ok(false)));
        assert_eq!(limiter.breach(), Some(Breach::Table { requested_elements: 11, limit_elements: 10 }));
    }
}
