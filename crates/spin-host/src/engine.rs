//! One wasmtime engine per process, configured as Spin 4.1 configures its
//! own (component model with async, epoch interruption ticking every 10 ms,
//! Spin's pooling allocator), and a compile cache so each `.wasm` is
//! compiled once per build rather than once per test.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; a guest yields to the host at each tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.wasm_component_model_async(true);
        config.epoch_interruption(true);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(spin_pool()));
        // `perf record` can then name the guests' functions.
        if std::env::var_os("SPIN_TEST_HOST_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).expect("wasmtime engine configuration is valid");
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .expect("spawn epoch ticker");
        engine
    })
}

/// The pooling allocator as Spin 4.1 sets it up by default (spin-core's
/// `Config::default`, without its `SPIN_WASMTIME_*` overrides): slots for
/// 1,000 live instances, memories up to 4 GiB, and the first 2 MiB of each
/// memory (512 KiB of each table) kept resident and reset in place when an
/// instance goes, rather than handed back to the kernel with an `madvise`
/// (which costs a TLB shootdown, then page faults in the next instance).
///
/// One addition, for speed only: where the kernel has `PAGEMAP_SCAN` (Linux
/// 6.7+), only the pages an instance dirtied are reset, where Spin resets
/// all 2 MiB. A fresh instance is therefore cheaper here than under Spin;
/// `benches/per_request.rs` says so beside its figures.
fn spin_pool() -> PoolingAllocationConfig {
    const MIB: usize = 1 << 20;
    const INSTANCES: u32 = 1_000;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(INSTANCES)
        .total_memories(INSTANCES)
        .total_tables(2 * INSTANCES)
        .total_stacks(INSTANCES)
        .total_core_instances(4 * INSTANCES)
        .table_elements(100_000)
        .max_component_instance_size(10 * MIB)
        .max_core_instance_size(10 * MIB)
        .max_core_instances_per_component(200)
        .max_tables_per_component(64)
        .max_memories_per_component(32)
        .max_tables_per_module(2)
        .max_memories_per_module(2)
        .max_memory_size(4 << 30)
        .linear_memory_keep_resident(2 * MIB)
        .table_keep_resident(MIB / 2)
        .pagemap_scan(Enabled::Auto);
    pool
}

/// Loads a component, compiling it at most once per content: in memory for
/// this process, on disk (next to nothing else, keyed by content and engine)
/// for the next process.
pub fn load_component(path: &Path) -> Result<Component> {
    static LOADED: OnceLock<Mutex<HashMap<[u8; 32], Component>>> = OnceLock::new();
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read component {} (was it built?)", path.display()))?;
    let engine = engine();
    let mut hasher = Sha256::new();
    hasher.update(&bytes);
    let mut compat = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut compat);
    hasher.update(std::hash::Hasher::finish(&compat).to_le_bytes());
    let key: [u8; 32] = hasher.finalize().into();

    let loaded = LOADED.get_or_init(Default::default);
    if let Some(component) = loaded.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(component.clone());
    }
    let cached = cache_dir().join(format!("{}.cwasm", hex::encode(key)));
    let component = match deserialize(engine, &cached) {
        Some(component) => component,
        None => {
            let component = Component::new(engine, &bytes)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot compile component {}", path.display()))?;
            if let Ok(serialized) = component.serialize() {
                // Written under a temporary name so a concurrent reader never
                // sees half a file.
                let tmp = cached.with_extension(format!("tmp{}", std::process::id()));
                if std::fs::create_dir_all(cache_dir()).is_ok()
                    && std::fs::write(&tmp, serialized).is_ok()
                {
                    let _ = std::fs::rename(&tmp, &cached);
                }
            }
            component
        }
    };
    loaded
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, component.clone());
    Ok(component)
}

fn cache_dir() -> PathBuf {
    std::env::var_os("SPIN_HOST_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("spin-test-host-cache"))
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> Option<Component> {
    if !path.exists() {
        return None;
    }
    // SAFETY: the file is one this host serialized itself, named by the
    // hash of its source and of the engine's compatibility settings, and
    // written atomically; wasmtime still checks its header and rejects a
    // file from another engine or version.
    unsafe { Component::deserialize_file(engine, path) }.ok()
}
