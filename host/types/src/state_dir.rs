//! Where Symphony keeps its state (pins, compiled cache, audit log, health history) unless told
//! otherwise: shared by the host that opens it, the CLI's `--state-dir` default and the errors
//! that tell a user which command fixes them.

/// Default state directory, relative to the working directory.
pub const DEFAULT_STATE_DIR: &str = ".symphony";
