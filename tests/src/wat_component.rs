//! Real Symphony components from hand-written core modules, for guests Rust cannot express
//! (table growth) or API versions the workspace does not build: the WAT module gets the WIT
//! world's metadata embedded and is encoded as a component, exactly as `wit-bindgen` guests are.

/// Encode the core module `wat` as a component of the `extension` world in `wit_source`.
///
/// # Errors
/// When the WIT or WAT does not parse or the module does not fit the world.
pub fn component_from_wat(wit_source: &str, wat: &str) -> anyhow::Result<Vec<u8>> {
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve.push_str("extension.wit", wit_source)?;
    let world = resolve.select_world(&[package], Some("extension"))?;
    let mut module = wat::parse_str(wat)?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )?;
    wit_component::ComponentEncoder::default().module(&module)?.validate(true).encode()
}
