//! Builds the HTTP contract (`docs/openapi.json`) into the edge gzipped: a
//! twelfth of its size in the `.wasm`, and already in the form most clients
//! ask for.

use std::io::Write;
use std::path::Path;

fn main() {
    let contract = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    println!("cargo::rerun-if-changed={}", contract.display());
    let json = std::fs::read(&contract).expect("docs/openapi.json is readable");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&json).expect("gzip into memory");
    let gzipped = encoder.finish().expect("gzip into memory");
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("openapi.json.gz");
    std::fs::write(out, gzipped).expect("OUT_DIR is writable");
}
