//! Host-side bindings for the Spin interfaces in `wit/spin.wit`.

wasmtime::component::bindgen!({
    path: "wit",
    world: "eventfront:spin-host/spin-imports",
    imports: {
        "spin:sqlite/sqlite.[static]connection.open": trappable,
        "spin:sqlite/sqlite.[method]connection.execute": trappable,
        "spin:sqlite/sqlite.[method]connection.last-insert-rowid": trappable,
        "spin:sqlite/sqlite.[method]connection.changes": trappable,
        // The blocking forms of spin:postgres wait on the database, so the
        // host implements them as async functions on the calling fiber.
        "spin:postgres/postgres.[static]connection.open": async | trappable,
        "spin:postgres/postgres.[method]connection.query": async | trappable,
        "spin:postgres/postgres.[method]connection.execute": async | trappable,
        "spin:postgres/postgres.[constructor]connection-builder": trappable,
        "spin:postgres/postgres.[method]connection-builder.set-ca-root": trappable,
        "spin:postgres/postgres.[method]connection-builder.build": async | trappable,
        default: store | trappable,
    },
    with: {
        "spin:key-value/key-value.store": crate::kv::KvStore,
        "spin:sqlite/sqlite.connection": crate::sqlite::SqliteConnection,
        "spin:postgres/postgres.connection": crate::postgres::PgConnection,
        "spin:postgres/postgres.connection-builder": crate::postgres::PgConnectionBuilder,
    },
});
