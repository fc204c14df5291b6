//! Table growth is capped per instance and reported as `table_limit`. Rust cannot emit
//! `table.grow`, so this hostile guest is a hand-written core module (below) turned into a real
//! Symphony component with the WIT contract, exactly as `wit-bindgen` guests are.

#![allow(clippy::expect_used)] // a failed expectation is the test failing

use symphony_host::{CallError, ExtensionManifest, HostError};
use symphony_tests::{assert_still_serving, call_json, runtime, workspace_root};

/// Exports `describe` and an `invoke` that grows a table by 1000 elements until refused, then traps.
const TABLE_BOMB: &str = r#"
(module
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (global $heap (mut i32) (i32.const 8192))
  (data (i32.const 2048) "table-bomb1.0.0")
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (global.set $heap (i32.add (local.get $p) (local.get 3)))
    (local.get $p))
  (func (export "symphony:extension/handler@1.0.0#describe") (result i32)
    (i32.store (i32.const 1024) (i32.const 2048))
    (i32.store (i32.const 1028) (i32.const 10))
    (i32.store (i32.const 1032) (i32.const 2058))
    (i32.store (i32.const 1036) (i32.const 5))
    (i32.store (i32.const 1040) (i32.const 0))
    (i32.store (i32.const 1044) (i32.const 0))
    (i32.const 1024))
  (func (export "symphony:extension/handler@1.0.0#invoke")
        (param i32 i32 i32 i64 i32 i32 i32 i32) (result i32)
    (loop $grow
      (br_if $grow (i32.ne (table.grow $t (ref.null func) (i32.const 1000)) (i32.const -1))))
    unreachable)
)
"#;

fn table_bomb_component() -> anyhow::Result<Vec<u8>> {
    let wit = std::fs::read_to_string(workspace_root().join("wit/v1.0.0/extension.wit"))?;
    symphony_tests::wat_component::component_from_wat(&wit, TABLE_BOMB)
}

#[tokio::test]
async fn table_bomb_hits_the_table_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("table-bomb.wasm"), table_bomb_component().expect("component"))
        .expect("write");
    let manifest_path = dir.path().join("extension.toml");
    std::fs::write(
        &manifest_path,
        "name = \"table-bomb\"\nversion = \"1.0.0\"\ncomponent = \"table-bomb.wasm\"\n[limits]\ntable_elements = 5_000\n",
    )
    .expect("write manifest");
    let ext =
        runtime().load_manifest(ExtensionManifest::load(&manifest_path).expect("manifest")).expect("load");
    assert_eq!(ext.describe().await.expect("describe").name, "table-bomb");

    let outcome = call_json(&ext, serde_json::json!({})).await;
    match outcome.result {
        Err(CallError::Host(HostError::TableLimit { requested_elements, limit_elements: 5_000 })) => {
            assert!(requested_elements > 5_000);
        }
        other => panic!("expected table_limit, got {other:?}"),
    }
    assert_still_serving().await;
}
