//! Tests of the compiled cache with tiny inline-WAT components and real engines.

use wasmtime::component::Linker;
use wasmtime::{Config, Store};

use super::*;

/// A component exporting `answer: func() -> u32` returning 42.
const ANSWER_WAT: &str = r#"
(component
  (core module $m (func (export "f") (result i32) i32.const 42))
  (core instance $i (instantiate $m))
  (func (export "answer") (result u32) (canon lift (core func $i "f")))
)"#;

fn engine(consume_fuel: bool) -> Engine {
    let mut config = Config::new();
    config.consume_fuel(consume_fuel);
    Engine::new(&config).unwrap()
}

/// The component as WAT text: wasmtime compiles text as well as binary, and any bytes do as
/// the cache key.
fn component_bytes() -> (Vec<u8>, String) {
    let bytes = ANSWER_WAT.as_bytes().to_vec();
    let sha = hex::encode(Sha256::digest(&bytes));
    (bytes, sha)
}

fn call_answer(engine: &Engine, component: &Component) -> u32 {
    let mut store = Store::new(engine, ());
    // Only engines that consume fuel accept it.
    store.set_fuel(10_000).ok();
    let instance = Linker::new(engine).instantiate(&mut store, component).unwrap();
    let answer = instance.get_typed_func::<(), (u32,)>(&mut store, "answer").unwrap();
    answer.call(&mut store, ()).unwrap().0
}

fn flip_byte_at(path: &Path, offset: usize) {
    let mut entry = std::fs::read(path).unwrap();
    entry[offset] ^= 0x55;
    std::fs::write(path, entry).unwrap();
}

#[test]
fn miss_then_hit_and_both_run() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CompiledCache::new(dir.path().join("cache"));
    let engine = engine(true);
    let (bytes, sha) = component_bytes();
    let (first, outcome) = cache.load_or_compile(&engine, &bytes, &sha).unwrap();
    assert_eq!(outcome, CacheOutcome::Miss);
    assert!(cache.entry_path(&engine, &sha).unwrap().is_file());
    let (second, outcome) = cache.load_or_compile(&engine, &bytes, &sha).unwrap();
    assert_eq!(outcome, CacheOutcome::Hit);
    assert_eq!(call_answer(&engine, &first), 42);
    assert_eq!(call_answer(&engine, &second), 42);
}

#[test]
fn a_flipped_byte_is_rebuilt_and_then_hits() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CompiledCache::new(dir.path());
    let engine = engine(true);
    let (bytes, sha) = component_bytes();
    cache.load_or_compile(&engine, &bytes, &sha).unwrap();
    let path = cache.entry_path(&engine, &sha).unwrap();
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    flip_byte_at(&path, len / 2);

    let (component, outcome) = cache.load_or_compile(&engine, &bytes, &sha).unwrap();
    assert_eq!(outcome, CacheOutcome::Rebuilt { reason: RebuildReason::ChecksumMismatch });
    assert_eq!(call_answer(&engine, &component), 42);
    assert_eq!(cache.load_or_compile(&engine, &bytes, &sha).unwrap().1, CacheOutcome::Hit);
}

#[test]
fn a_truncated_entry_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CompiledCache::new(dir.path());
    let engine = engine(false);
    let (bytes, sha) = component_bytes();
    cache.load_or_compile(&engine, &bytes, &sha).unwrap();
    let path = cache.entry_path(&engine, &sha).unwrap();
    let entry = std::fs::read(&path).unwrap();
    std::fs::write(&path, &entry[..entry.len() / 3]).unwrap();
    let outcome = cache.load_or_compile(&engine, &bytes, &sha).unwrap().1;
    assert!(
        matches!(outcome, CacheOutcome::Rebuilt { reason: RebuildReason::Truncated { .. } }),
        "{outcome}"
    );
    assert_eq!(cache.load_or_compile(&engine, &bytes, &sha).unwrap().1, CacheOutcome::Hit);
}

#[test]
fn an_entry_wasmtime_refuses_is_rebuilt_even_with_a_valid_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CompiledCache::new(dir.path());
    let engine = engine(true);
    let (bytes, sha) = component_bytes();
    let path = cache.entry_path(&engine, &sha).unwrap();
    let actual: Digest32 = Sha256::digest(&bytes).into();
    let bogus = cache_entry::encode(b"\x7fELF not really", &engine_key(&engine), &actual);
    write_atomically(&path, &bogus).unwrap();
    let outcome = cache.load_or_compile(&engine, &bytes, &sha).unwrap().1;
    assert!(
        matches!(outcome, CacheOutcome::Rebuilt { reason: RebuildReason::Incompatible { .. } }),
        "{outcome}"
    );
    assert_eq!(cache.load_or_compile(&engine, &bytes, &sha).unwrap().1, CacheOutcome::Hit);
}

#[test]
fn an_entry_copied_from_another_engine_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CompiledCache::new(dir.path());
    let (fuel, no_fuel) = (engine(true), engine(false));
    let (bytes, sha) = component_bytes();
    cache.load_or_compile(&no_fuel, &bytes, &sha).unwrap();
    let target = cache.entry_path(&fuel, &sha).unwrap();
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(cache.entry_path(&no_fuel, &sha).unwrap(), &target).unwrap();
    let outcome = cache.load_or_compile(&fuel, &bytes, &sha).unwrap().1;
    assert_eq!(outcome, CacheOutcome::Rebuilt { reason: RebuildReason::WrongKey });
}

#[test]
fn engine_configurations_have_their_own_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CompiledCache::new(dir.path());
    let (fuel, no_fuel) = (engine(true), engine(false));
    let (bytes, sha) = component_bytes();
    assert_ne!(engine_key(&fuel), engine_key(&no_fuel));
    assert_eq!(engine_key(&fuel), engine_key(&engine(true)), "the key is stable for one configuration");
    assert_ne!(cache.entry_path(&fuel, &sha).unwrap(), cache.entry_path(&no_fuel, &sha).unwrap());
    assert_eq!(cache.load_or_compile(&fuel, &bytes, &sha).unwrap().1, CacheOutcome::Miss);
    assert_eq!(cache.load_or_compile(&no_fuel, &bytes, &sha).unwrap().1, CacheOutcome::Miss);
    assert_eq!(cache.load_or_compile(&fuel, &bytes, &sha).unwrap().1, CacheOutcome::Hit);
    assert_eq!(cache.load_or_compile(&no_fuel, &bytes, &sha).unwrap().1, CacheOutcome::Hit);
}

#[test]
fn a_wrong_or_malformed_hash_is_refused_before_touching_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CompiledCache::new(dir.path().join("cache"));
    let engine = engine(true);
    let (bytes, _) = component_bytes();
    let wrong = cache.load_or_compile(&engine, &bytes, &"00".repeat(32));
    assert!(matches!(wrong, Err(IntegrityError::Sha256Mismatch { .. })));
    let traversal = cache.load_or_compile(&engine, &bytes, "../../escape");
    assert!(matches!(traversal, Err(IntegrityError::InvalidSha256 { .. })));
    assert!(!cache.dir().exists());
}

#[test]
fn an_invalid_component_is_a_compile_error_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CompiledCache::new(dir.path().join("cache"));
    let engine = engine(true);
    let bytes = b"\0asm not a component".to_vec();
    let sha = hex::encode(Sha256::digest(&bytes));
    let result = cache.load_or_compile(&engine, &bytes, &sha);
    assert!(matches!(result, Err(IntegrityError::Compile { .. })));
    assert!(!cache.entry_path(&engine, &sha).unwrap().exists());
}

#[test]
fn an_unwritable_cache_still_compiles() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("cache");
    std::fs::write(&not_a_dir, b"a file where the directory should be").unwrap();
    let cache = CompiledCache::new(&not_a_dir);
    let engine = engine(true);
    let (bytes, sha) = component_bytes();
    let (component, outcome) = cache.load_or_compile(&engine, &bytes, &sha).unwrap();
    assert_eq!(outcome, CacheOutcome::Miss);
    assert_eq!(call_answer(&engine, &component), 42);
}

#[test]
fn prune_removes_other_engines_entries_only() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CompiledCache::new(dir.path());
    let (fuel, no_fuel) = (engine(true), engine(false));
    let (bytes, sha) = component_bytes();
    assert_eq!(cache.prune(&fuel).unwrap(), 0);
    cache.load_or_compile(&fuel, &bytes, &sha).unwrap();
    cache.load_or_compile(&no_fuel, &bytes, &sha).unwrap();
    std::fs::write(dir.path().join("README"), b"not ours").unwrap();
    assert_eq!(cache.prune(&fuel).unwrap(), 1);
    assert!(cache.entry_path(&fuel, &sha).unwrap().is_file());
    assert!(!cache.entry_path(&no_fuel, &sha).unwrap().exists());
    assert!(dir.path().join("README").is_file());
}

#[test]
fn outcomes_display_their_reason() {
    let rebuilt = CacheOutcome::Rebuilt { reason: RebuildReason::ChecksumMismatch };
    assert_eq!(rebuilt.to_string(), "rebuilt (checksum mismatch)");
    assert_eq!(CacheOutcome::Hit.to_string(), "hit");
}
