//! Host-side bindings for the Spin interfaces in `wit/spin.wit`.

wasmtime::component::bindgen!({
    path: "wit",
    world: "eventfront:spin-host/spin-imports",
    imports: {
        "spin:sqlite/sqlite.[static]connection.open": trappable,
        "spin:sqlite/sqlite.[method]connection.execute": trappable,
        "spin:sqlite/sqlite.[method]connection.last-insert-rowid": trappable,
        "spin:sqlite/sqlite.[method]connection.changes": trappable,
        default: store | trappable,
    },
    with: {
        "spin:key-value/key-value.store": crate::kv::KvStore,
        "spin:sqlite/sqlite.connection": crate::sqlite::SqliteConnection,
    },
});
