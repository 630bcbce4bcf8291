//! Components that are not this project's guest, built from the core modules
//! in `tests/components/` (WebAssembly text) and a WIT world, as any
//! toolchain builds one.

use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

use crate::root;

/// Builds a component from `tests/components/<wat>` and the world `world` of
/// the WIT in `wit/` plus the `extra` packages.
pub fn component(wat: &str, extra: &[&str], world: &str) -> Vec<u8> {
    let mut resolve = Resolve::default();
    let (attacher, _) = resolve.push_dir(root().join("wit")).expect("the project's WIT parses");
    let mut main = attacher;
    for (i, source) in extra.iter().enumerate() {
        main = resolve.push_str(format!("extra-{i}.wit"), source).expect("the test WIT parses");
    }
    let world = resolve.select_world(&[main], Some(world)).expect("the world exists");
    let mut module = wat::parse_file(root().join("tests/components").join(wat)).expect("the WAT parses");
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8).unwrap();
    ComponentEncoder::default().module(&module).unwrap().validate(true).encode().expect("a valid component")
}
