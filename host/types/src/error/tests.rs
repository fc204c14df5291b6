//! The taxonomy's promises: kinds, classes, sources and the messages that name the fix.

use super::*;

#[test]
fn guest_classes_follow_the_taxonomy() {
    let unavailable = ExtensionError::Unavailable { message: "down".into(), retry_after_ms: Some(5) };
    assert_eq!(unavailable.class(), ErrorClass::Transient);
    assert_eq!(unavailable.kind(), "unavailable");
    assert_eq!(unavailable.retry_after_ms(), Some(5));
    let invalid = ExtensionError::InvalidInput { message: "no".into() };
    assert_eq!(invalid.class(), ErrorClass::Fatal);
    let internal = ExtensionError::Internal { message: "bug".into() };
    assert_eq!(internal.class(), ErrorClass::Recoverable);
}

#[test]
fn pin_errors_name_the_pins_file_and_the_command_for_that_state_dir() {
    assert_eq!(
        pin_command(Path::new(".symphony/pins.toml"), Path::new("e/extension.toml")),
        "symphony pin e/extension.toml"
    );
    assert_eq!(
        pin_command(Path::new("/srv/state/pins.toml"), Path::new("e/extension.toml")),
        "symphony --state-dir /srv/state pin e/extension.toml"
    );
    let without_state = HostError::Unpinned {
        path: "e.wasm".into(),
        extension: "e@1.0.0".into(),
        pins_file: None,
        manifest: "e/extension.toml".into(),
    };
    assert!(without_state.to_string().contains("allow_unpinned"), "{without_state}");
    assert_eq!(without_state.kind(), "component_unpinned");
}

#[test]
fn host_breaches_are_fatal_and_reported_from_the_host() {
    let err = CallError::from(HostError::OutOfFuel { limit_fuel: 10 });
    let report = err.report();
    assert_eq!(report.source, ErrorSource::Host);
    assert_eq!(report.kind, "out_of_fuel");
    assert_eq!(report.class, ErrorClass::Fatal);
    let json = serde_json::to_value(&report).unwrap_or_default();
    assert_eq!(json["source"], "host");
    assert_eq!(json["class"], "fatal");
}
