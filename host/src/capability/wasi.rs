//! Building one call's WASI context from a [`CapabilityGrant`].
//!
//! Nothing is inherited from the host: no environment, arguments, stdin or network. What is
//! granted is wired in; what is not is replaced by the answer a locked-down system gives (no
//! preopens, an empty environment, a clock frozen at zero, a fixed random stream, a discarding
//! stdout, `access-denied` on connect, bind or send), and every attempt at a denied clock,
//! random source, stream, TCP or UDP address is recorded in the call's [`DenialRecorder`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use wasmtime_wasi::clocks::{HostMonotonicClock, HostWallClock};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::output_capture::{GuestOutput, SharedLog, StdStream};
use symphony_types::capability::denials::{CapabilityKind, DenialRecorder};
use symphony_types::capability::{Access, CapabilityGrant, pattern_matches};

/// The WASI context for one call under `grant`.
pub(crate) fn build_wasi_ctx(grant: &CapabilityGrant, denials: &DenialRecorder, log: &SharedLog) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();

    for dir in &grant.filesystem {
        let perms = match dir.access {
            Access::ReadOnly => FsPerms::ReadOnly,
            Access::ReadWrite => FsPerms::ReadWrite,
        };
        if let Err(err) = builder.preopened_dir(&dir.host, &dir.guest, perms) {
            // The directory vanished since the grant was decided: the guest sees no preopen.
            tracing::warn!(dir = %dir.host.display(), error = %err, "granted directory unavailable");
            denials.record(CapabilityKind::Filesystem, &format!("{} (unavailable)", dir.guest));
        }
    }

    for (name, value) in &grant.env {
        builder.env(name, value);
    }

    if !grant.clocks {
        builder.wall_clock(DeniedWallClock(denials.clone()));
        builder.monotonic_clock(DeniedMonotonicClock(denials.clone()));
    }

    if !grant.random {
        builder.secure_random(DeniedRandom::new(denials.clone()));
        builder.insecure_random(DeniedRandom::new(denials.clone()));
        builder.insecure_random_seed(0);
    }

    for stream in [StdStream::Stdout, StdStream::Stderr] {
        let output = if grant.stdio {
            GuestOutput::Captured { log: log.clone(), stream }
        } else {
            GuestOutput::Denied { denials: denials.clone(), stream }
        };
        match stream {
            StdStream::Stdout => builder.stdout(output),
            StdStream::Stderr => builder.stderr(output),
        };
    }

    // TCP and UDP are switched on so every connect, bind and datagram reaches this check, where
    // a TCP connect is allowed only to granted destinations and everything else is refused (the
    // guest sees `access-denied`) and recorded. Network grants are for outbound TCP (and HTTP
    // over it): UDP is always refused. Name lookups never reach WASI's resolver: they are
    // answered and recorded by `observed_imports`.
    builder.allow_tcp(true);
    builder.allow_udp(true);
    let allowed = grant.network.clone();
    let recorder = denials.clone();
    builder.socket_addr_check(move |addr: SocketAddr, usage: SocketAddrUse| {
        let target = addr.to_string();
        let permitted = match usage {
            // The implicit ephemeral bind before a connect: harmless alone, and letting it
            // through is what makes the connect itself reach this check (and get recorded).
            SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
            SocketAddrUse::TcpConnect => allowed.iter().any(|pattern| pattern_matches(pattern, &target)),
            _ => false,
        };
        if !permitted {
            recorder.record(CapabilityKind::Network, &format!("{target} ({usage:?})"));
        }
        Box::pin(async move { permitted })
    });

    builder.build()
}

/// A wall clock frozen at the Unix epoch.
struct DeniedWallClock(DenialRecorder);

impl HostWallClock for DeniedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        self.0.record(CapabilityKind::Clocks, "wall-clock");
        Duration::ZERO
    }
}

/// A monotonic clock that never advances.
struct DeniedMonotonicClock(DenialRecorder);

impl HostMonotonicClock for DeniedMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        self.0.record(CapabilityKind::Clocks, "monotonic-clock");
        0
    }
}

/// A fixed, public pseudo-random stream (SplitMix64 from a constant seed): what a guest gets when
/// it asks for randomness it was not granted. Never secret, identical on every call.
struct DeniedRandom {
    denials: DenialRecorder,
    state: u64,
}

impl DeniedRandom {
    fn new(denials: DenialRecorder) -> Self {
        Self { denials, state: 0 }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl rand_core::TryRng for DeniedRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.denials.record(CapabilityKind::Random, "random");
        Ok((self.next() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.denials.record(CapabilityKind::Random, "random");
        Ok(self.next())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.denials.record(CapabilityKind::Random, "random");
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}
