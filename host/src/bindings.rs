//! Host bindings for the WIT world. Imports are async: they do network I/O.

wasmtime::component::bindgen!({
    world: "attacher",
    path: "../wit",
    imports: { default: async },
    exports: { default: async },
});
