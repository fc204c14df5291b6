//! Building one call's WASI context from a [`CapabilityGrant`].
//!
//! Nothing is inherited from the host: no environment, arguments, stdin or network. What is
//! granted is wired in; what is not is replaced by the answer a locked-down system gives (no
//! preopens, an empty environment, a clock frozen at zero, a fixed random stream, a discarding
//! stdout, `access-denied` on connect, bind or send), and every attempt at a denied clock,
//! random source, stream, TCP or UDP address is recorded in the call's [`DenialRecorder`].
//!
//! A workflow run's staging directory comes with the call, not the grant: it is preopened
//! read-write at [`WORKFLOW_OUTPUT_GUEST_PATH`] only when the grant has `workflow_output`, and a
//! directory offered to an extension without it is withheld and recorded.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use wasmtime_wasi::clocks::{HostMonotonicClock, HostWallClock};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::output_capture::{GuestOutput, SharedLog, StdStream};
use symphony_types::capability::denials::{CapabilityKind, DenialRecorder};
use symphony_types::capability::{Access, CapabilityGrant, WORKFLOW_OUTPUT_GUEST_PATH, pattern_matches};

/// One call's WASI context, and whether the run's staging directory is preopened in it.
pub(crate) struct CallWasi {
    pub(crate) ctx: WasiCtx,
    pub(crate) workflow_output: bool,
}

/// The WASI context for one call under `grant`; `workflow_output` is the run's staging
/// directory when the call is a workflow step that was given one.
pub(crate) fn build_wasi_ctx(
    grant: &CapabilityGrant,
    workflow_output: Option<&Path>,
    denials: &DenialRecorder,
    log: &SharedLog,
) -> CallWasi {
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

    let workflow_output =
        workflow_output.is_some_and(|dir| preopen_workflow_output(&mut builder, grant, dir, denials));

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

    CallWasi { ctx: builder.build(), workflow_output }
}

/// Preopen the run's staging directory `dir` read-write at [`WORKFLOW_OUTPUT_GUEST_PATH`] when
/// `grant` allows it; otherwise, when the manifest declared it (or `dir` is gone), record a
/// denial. Whether it was preopened.
fn preopen_workflow_output(
    builder: &mut WasiCtxBuilder,
    grant: &CapabilityGrant,
    dir: &Path,
    denials: &DenialRecorder,
) -> bool {
    if !grant.workflow_output {
        // Every workflow step is offered the staging; only an extension that declared the
        // capability and was refused it by the policy has a denial to record.
        let declared = grant.decisions.iter().any(|d| d.capability == CapabilityKind::WorkflowOutput);
        if declared {
            denials.record(CapabilityKind::WorkflowOutput, WORKFLOW_OUTPUT_GUEST_PATH);
        }
        return false;
    }
    // wasmtime-wasi 48 has one permission set per preopen: read-write covers the directory
    // (create, rename, remove entries) and the files in it.
    match builder.preopened_dir(dir, WORKFLOW_OUTPUT_GUEST_PATH, FsPerms::ReadWrite) {
        Ok(_) => true,
        Err(err) => {
            tracing::warn!(dir = %dir.display(), error = %err, "workflow output directory unavailable");
            denials.record(
                CapabilityKind::WorkflowOutput,
                &format!("{WORKFLOW_OUTPUT_GUEST_PATH} (unavailable)"),
            );
            false
        }
    }
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
