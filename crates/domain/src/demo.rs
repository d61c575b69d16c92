//! The demo conference a fresh install shows on its first run, so there is a
//! realistic three-day schedule to browse before organizers enter their own.

use crate::ids::Slug;
use crate::model::{
    Draft, Event, RegistrationSettings, Room, Session, SessionLinks, Speaker, Track,
};
use jiff::{SignedDuration, Timestamp, civil, tz::TimeZone};
use std::collections::BTreeMap;

pub const DEMO_SLUG: &str = "wasm-edge-summit-2027";

const TIMEZONE: &str = "Europe/Lisbon";
const DAYS: usize = 3;

/// Tracks, each with the room it holds its talks in.
const TRACKS: [(&str, &str, &str); 4] = [
    ("runtime", "Runtimes & Components", "alfama"),
    ("edge", "Edge Platforms", "auditorium"),
    ("languages", "Languages & Tooling", "belem"),
    ("ops", "Operations & Security", "graca"),
];

const ROOMS: [(&str, &str, Option<u32>); 6] = [
    ("auditorium", "Tagus Auditorium", Some(650)),
    ("alfama", "Alfama Hall", Some(240)),
    ("belem", "Belém Room", Some(160)),
    ("graca", "Graça Room", Some(140)),
    ("lab-a", "Workshop Lab A", Some(40)),
    ("lab-b", "Workshop Lab B", None),
];

/// Local start times of the track talks, the same every day.
const TALK_SLOTS: [(i8, i8); 5] = [(10, 0), (11, 0), (12, 0), (14, 30), (15, 30)];
/// Where and when each day's `SPECIALS` take place, in their order.
const SPECIAL_SLOTS: [(Kind, &str, (i8, i8)); 4] = [
    (Kind::Plenary, "auditorium", (9, 0)),
    (Kind::Workshop, "lab-a", (11, 0)),
    (Kind::Workshop, "lab-b", (16, 20)),
    (Kind::Plenary, "auditorium", (17, 0)),
];

// Records are `track | title | abstract | tags`, one a line so the
// programme reads like the printed one.

/// Per day: opening keynote, two workshops, closing session.
const SPECIALS: [&str; 12] = [
    "runtime | Opening Keynote: WebAssembly's Next Five Years | Where the component model, WASI and the runtimes are heading, and what has to happen for Wasm to become the default way to ship server-side code. | keynote components wasi",
    "languages | Workshop: Your First Component in Rust | Build a component from an empty crate, compose it with a logging adapter and run it locally. | workshop rust components",
    "ops | Workshop: Tracing an Edge Function End to End | Instrument a small edge service with OpenTelemetry and follow one request from the client to the database. | workshop observability tracing",
    "languages | Lightning Talks: Things We Built This Year | Ten five-minute talks from the community, from weekend hacks to systems serving real traffic. | lightning community",
    "edge | Keynote: The Edge Is Just Another Computer | Edge platforms used to be caches with scripts attached. A look at what changes when they run whole applications with state, and what does not. | keynote edge",
    "runtime | Workshop: Writing WIT Interfaces | Design an interface for a plugin system, generate bindings for two languages and evolve it without breaking either. | workshop wit components",
    "edge | Workshop: Building a Cached API at the Edge | Put a key-value cache in front of a slow origin API and tune it for freshness and hit rate. | workshop caching kv",
    "ops | Panel: Running Untrusted Code Safely | Runtime authors and platform operators discuss sandboxing, vulnerability disclosure and the threats that keep them up at night. | panel security",
    "languages | Keynote: Languages Meet the Component Model | Interfaces described once and implemented in any language: how close are we, and what is still missing? | keynote languages components",
    "ops | Workshop: Hardening a WASI Application | Take an over-privileged application, find what it really needs and lock it down to exactly that. | workshop security capabilities",
    "languages | Workshop: Profiling and Shrinking Wasm Binaries | Measure where the bytes and the milliseconds go in a real module, then cut both in half. | workshop performance size",
    "ops | Closing Keynote: Operating at the Speed of Requests | What running millions of millisecond-long workloads taught us about deploys, alerts and sleep. | keynote operations",
];

/// Fifteen per track, scheduled five a day in this order.
const TALKS: [&str; 60] = [
    "runtime | Cold Starts Under a Millisecond: Snapshotting Wasm Instances | Pre-initialising modules and snapshotting their memory lets a runtime skip work on every request. We show the technique, its pitfalls with lazily initialised globals and numbers from a production fleet. | snapshots performance runtime",
    "runtime | A Field Guide to the Component Model | Worlds, interfaces, resources and the canonical ABI, explained with one running example. You will leave able to read a WIT file and predict the bindings it produces. | components wit",
    "runtime | Pooling Allocators and the Cost of Isolation | Thousands of instances per host only work if creating one is nearly free. We walk through pooled memories, copy-on-write images and the limits that keep noisy neighbours in check. | memory isolation runtime",
    "runtime | Async All the Way Down: WASI 0.3 in Practice | Native async in the component model changes how hosts and guests share work. We port an HTTP proxy from 0.2 to 0.3 and compare the code and the latency. | wasi async",
    "runtime | Fuel, Epochs and Deadlines: Bounding Guest Execution | Untrusted code must stop when told to. We compare fuel metering with epoch interruption and show how to pick budgets that do not punish honest workloads. | sandboxing runtime",
    "runtime | Resources and Handles Across Component Boundaries | Own and borrow handles give components a safe way to share host objects. This talk covers lifetimes, drop semantics and the bugs we hit getting them right. | components resources",
    "runtime | Garbage Collection Comes to WebAssembly | The GC proposal lets managed languages drop their bundled collectors. We look at what runtimes must implement and what it means for binary size and pause times. | gc proposals",
    "runtime | Linking Components at Deploy Time | Composition turns a set of components into one deployable unit without recompiling. We show a registry-driven pipeline that links policy, logging and business logic per tenant. | components composition",
    "runtime | SIMD in the Sandbox: Vectorised Image Processing | Fixed-width SIMD is now broadly available in runtimes. We port an image resizer, measure the speedup and discuss when auto-vectorisation is enough. | simd performance",
    "runtime | Debugging Wasm in Production Without Losing Your Mind | DWARF, source maps and core dumps for WebAssembly are finally usable. A tour of the tools that turn an opaque trap into a stack trace with line numbers. | debugging tooling",
    "runtime | Memory64 and the End of the 4 GiB Ceiling | Some workloads outgrow 32-bit linear memory. We cover the proposal, the bounds-checking costs it brings back and the workloads that justify them. | memory proposals",
    "runtime | Building a Tiny Interpreter for Constrained Devices | Not every target can host a JIT. We built a Wasm interpreter that fits in 64 KiB of RAM and share the design decisions that got it there. | embedded interpreters",
    "runtime | Threads, Shared Memory and the Road to Parallel Components | Shared-everything threads are coming to the component model. We explain the current proposal and what parallel guests will need from hosts. | threads proposals",
    "runtime | Deterministic Execution for Replayable Systems | Simulations and test harnesses need the same inputs to give the same outputs. We list the sources of non-determinism in Wasm and how to remove each one. | determinism testing",
    "runtime | What the Canonical ABI Costs You | Passing strings and lists between components means copying them. We profile lifting and lowering in a busy service and show interface designs that avoid the worst of it. | components performance",
    "edge | Serving Two Million Requests a Second from 300 Cities | An inside look at the request path of a Wasm-based edge platform, from TLS termination to instance reuse. Includes the three outages that shaped it. | edge architecture",
    "edge | Key-Value at the Edge: Consistency You Can Reason About | Eventually consistent stores surprise people in predictable ways. We describe read-your-writes guarantees across regions and how to design around replication lag. | databases kv consistency",
    "edge | SQLite Everywhere: Embedded Databases in Edge Functions | Replicated SQLite gives edge code a real query engine with local reads. We cover write forwarding, schema migrations and when to keep data at the origin. | databases sqlite",
    "edge | Caching Strategies for Personalised Pages | Personalisation and caching pull in opposite directions. We show edge-side composition that caches the shared shell and fills per-user fragments on the way out. | caching performance",
    "edge | Routing by Policy: Programmable Load Balancing in Wasm | Moving routing decisions into sandboxed modules lets teams ship traffic rules without a platform release. We cover canaries, geo-fencing and failure budgets. | networking routing",
    "edge | Image Optimisation at the Edge Without an Add-on | We replaced a paid image service with a 400 KiB component. Format negotiation, resizing and caching, with the benchmarks that convinced finance. | images performance",
    "edge | Streaming Responses and Backpressure in Edge Functions | Buffering whole bodies wastes memory and delays the first byte. We show how to stream through WASI HTTP and keep slow clients from exhausting a host. | http streaming",
    "edge | Authentication at the Edge: Verifying Tokens in Microseconds | Checking tokens and signed cookies before a request reaches the origin cuts load and latency. We cover key rotation, clock skew and what must never be cached. | security auth",
    "edge | Edge and Origin: Drawing the Line | Not everything belongs at the edge. A decision framework based on data gravity, consistency needs and cost, illustrated with three real migrations. | architecture edge",
    "edge | Offline-First Sync with CRDTs and Edge Relays | Collaborative apps need to work on flaky networks. We pair CRDT documents with lightweight edge relays and show how conflicts resolve without a central server. | crdt sync",
    "edge | Feature Flags Evaluated at the Edge | Evaluating flags close to users removes a network hop from every page view. We share the data model, the propagation pipeline and how we test rule changes safely. | flags edge",
    "edge | Running Machine Learning Inference on the Edge | Small models fit comfortably in edge sandboxes with WASI-NN. We benchmark CPU inference for classification and embeddings and discuss where GPUs still win. | ml inference wasi",
    "edge | Rate Limiting Without a Central Counter | Global rate limits are hard when every city keeps its own state. We compare sliding windows, token buckets and gossip-based approaches under real abuse traffic. | security networking",
    "edge | Multi-Tenant Edge Platforms: Isolation Beyond the Sandbox | The Wasm sandbox is only one layer. We cover resource quotas, side-channel mitigations and tenant-aware scheduling in a shared fleet. | isolation security",
    "edge | Cron at the Edge: Scheduled Work Without Servers | Edge platforms are built for requests, but real apps also need background jobs. We show durable timers and queues built on edge primitives. | scheduling queues",
    "languages | From Cargo to Components: Shipping Rust as Wasm | A practical walk from a plain Rust crate to a published component. Covers bindings generation, the wasm32-wasip2 target and keeping binaries small. | rust components",
    "languages | Python in the Sandbox | CPython compiled to WASI runs real applications today. We show how to package dependencies, trim startup time and call into Rust components. | python wasi",
    "languages | JavaScript Components Without a Browser | Embedding a JS engine in a component lets front-end teams write edge logic. We discuss startup snapshots, size budgets and typing against WIT interfaces. | javascript components",
    "languages | Go and WebAssembly: Two Compilers, Many Targets | Go's Wasm story has two compilers and several targets. A comparison of binary size, GC behaviour and component support as of this year. | go wasi",
    "languages | Kotlin/Wasm and the GC Proposal | Kotlin targets Wasm GC directly instead of shipping a collector. We look at the generated code, interop with JavaScript and performance against the JVM. | kotlin gc",
    "languages | Making Rust Binaries Small for the Edge | Every kilobyte counts when modules are fetched on demand. Panic strategies, allocator choice, LTO and the dependency audits that took us from 2 MiB to 180 KiB. | rust size",
    "languages | Zig for Wasm: Manual Memory, Tiny Binaries | Zig's explicit allocators map cleanly onto linear memory. We build an HTTP handler and compare it with Rust and C equivalents. | zig performance",
    "languages | WIT Design Patterns for Stable APIs | An interface is a promise. We share patterns for versioning, error types and resources that let components evolve without breaking their consumers. | wit api components",
    "languages | Testing Components Like Any Other Library | Components deserve unit tests, property tests and fuzzing. We show a harness that runs the same tests natively and under a Wasm runtime. | testing tooling",
    "languages | .NET on WASI: Ahead-of-Time Compilation Arrives | Ahead-of-time compilation for WASI makes C# a realistic choice for edge functions. We measure startup and size and discuss the trimming warnings you will meet. | dotnet wasi",
    "languages | One WIT File, Bindings for Every Language | A tour of the binding generators behind the component ecosystem, how they map WIT types to idiomatic code and where each still has gaps. | bindings wit tooling",
    "languages | Hot Reloading Wasm During Development | Fast feedback loops matter. We built a dev server that swaps components in place while keeping state, and explain the limits of doing so safely. | tooling workflow",
    "languages | Swift on WebAssembly | Swift now builds for WASI with an official toolchain. We port a server-side Swift library and report on binary size, concurrency and Foundation support. | swift wasi",
    "languages | Writing a Language That Targets Wasm First | Designing a small language for the component model from day one changes many choices. Lessons from a typed configuration language with a Wasm-only backend. | compilers languages",
    "languages | Profiling Guest Code Across Languages | Sampling profilers that understand Wasm frames make performance work possible. We compare tooling for Rust, Go and JS guests with flame graphs from real services. | profiling performance",
    "ops | Observability for Wasm Workloads with OpenTelemetry | Tracing through a host into guest code needs context propagation across the sandbox boundary. We show telemetry that keeps span overhead under a microsecond. | observability tracing",
    "ops | Supply-Chain Security for Components | Components are a new kind of dependency. We cover signing, SBOMs and registry policies that check provenance before anything is linked. | security signing",
    "ops | Capability-Based Security in Practice | WASI grants nothing by default. We audit three real applications' capability requests and show how to keep permissions minimal as they grow. | security capabilities",
    "ops | Rolling Out a New Runtime Version Across 10,000 Hosts | Runtime upgrades change compiled code for every tenant. Our staged rollout, differential testing and the rollback that saved a weekend. | deployment operations",
    "ops | Logs, Metrics and the Cost of Printf at Scale | Logging from thousands of short-lived instances produces a lot of data. We describe sampling, structured logs and the budgets that keep the bill predictable. | observability logging",
    "ops | Fuzzing Wasm Runtimes Continuously | Differential fuzzing across engines finds miscompilations before users do. How we run it on every commit and triage what it finds. | fuzzing security",
    "ops | Incident Review: When a Trap Took Down a Region | A single guest panic should not cascade. A blameless review of an outage where it did, and the isolation changes that followed. | incidents reliability",
    "ops | Spectre and Friends: Side Channels in Shared Runtimes | Co-locating tenants in one process raises side-channel questions. We summarise the mitigations runtimes ship today and what they cost. | security isolation",
    "ops | GitOps for Edge Deployments | Declarative config and pull-based delivery work at the edge too. We show how we promote components through environments with signed manifests. | deployment gitops",
    "ops | Capacity Planning for Dense Multi-Tenant Hosts | How many instances fit on a machine depends on memory, CPU and the shape of traffic. A model built from production data, and how it guides our hardware purchases. | capacity operations",
    "ops | SLOs for Functions That Live for Milliseconds | Latency objectives for sub-millisecond work need careful measurement. We explain where to put the clock and how to keep cold starts visible in the numbers. | reliability slo",
    "ops | Secrets Management for Edge Functions | Edge code needs API keys without leaking them into bundles or logs. We cover variable providers, rotation and audit trails. | security secrets",
    "ops | eBPF Meets Wasm: Host-Level Visibility into Guests | Kernel probes can see what a runtime does on behalf of its guests. We correlate eBPF traces with guest spans to find latency the sandbox hides. | observability ebpf",
    "ops | Chaos Engineering at the Edge | Injecting faults in hundreds of locations at once needs care. Our tooling for partial outages, slow origins and clock drift, and what it revealed. | reliability chaos",
    "ops | Compliance and Data Residency on a Global Network | Regulation says where data may be processed. We show how routing rules and regional storage keep requests within borders without a deployment per country. | compliance privacy",
];

/// Seats in a lab: the demo's workshops are picked by attendees.
const WORKSHOP_SEATS: u32 = 24;
const WORKSHOP_NOTE: &str =
    "Bring a laptop with the toolchain installed; setup instructions are on the event page.";

/// Appended to every third talk's abstract.
const TALK_NOTES: [&str; 4] = [
    "Includes a live demo.",
    "No prior WebAssembly experience needed.",
    "Slides and example code will be published after the session.",
    "Aimed at people who have shipped at least one Wasm module.",
];

/// `track | name | affiliation | bio`; speakers talk in their own track.
const SPEAKERS: [&str; 42] = [
    "runtime | Amara Okafor | Lumen Cloud | Leads the runtime team at Lumen Cloud and maintains its instance snapshotting engine.",
    "runtime | Søren Lindqvist | Nordvik University | Researches compiler construction, with a focus on fast and verified code generation for WebAssembly.",
    "runtime | Mei Lin Zhou | Parallax Systems | Works on component model tooling and has contributed to several WASI proposals.",
    "runtime | Rafael Mendes | Ondaverde | Systems engineer building the sandbox behind Ondaverde's plugin platform.",
    "runtime | Ingrid Halvorsen | Fjordline Labs | Runtime engineer who spends most days inside memory allocators and page tables.",
    "runtime | Kwame Mensah | Accra Institute of Technology | Lecturer in programming languages. Teaches a course in which students build their own Wasm runtime.",
    "runtime | Yuki Sato | Hanabi Networks | Performance engineer focused on SIMD and code generation for edge workloads.",
    "runtime | Elena Petrova | Kestrel Compute | Maintains an embedded Wasm interpreter used in industrial sensors.",
    "runtime | Tomás Ibarra | Ribera Software | Compiler engineer working on garbage collection support in Wasm runtimes.",
    "runtime | Priya Raman | Banyan Cloud | Designs the resource limits and metering for Banyan's serverless platform.",
    "runtime | Lukas Becker | Rheintal Technical University | Doctoral researcher studying deterministic execution and record-replay for sandboxed code.",
    "edge | Chiamaka Eze | Relaywave | Principal engineer on Relaywave's edge request path and its instance reuse scheduler.",
    "edge | Mateo Rossi | Stellata | Builds Stellata's globally replicated key-value store.",
    "edge | Hana Kobayashi | Tsubame Data | Database engineer working on replicated SQLite for edge applications.",
    "edge | Oliver Grant | Northbank Media | Web performance lead responsible for caching across Northbank's news sites.",
    "edge | Fatima Al-Sayed | Qasr Networks | Network engineer who designs traffic routing and load-balancing policies for a global backbone.",
    "edge | Jonas Weber | Pixelbahn | Built Pixelbahn's image pipeline and now works on edge-side rendering.",
    "edge | Ana Lúcia Ferreira | Marés Digital | Front-end architect focused on streaming HTML and a fast first paint.",
    "edge | Dmitri Volkov | Sentinel Gate | Security engineer specialising in authentication at the network edge.",
    "edge | Zoë Papadakis | Aegean Labs | Works on local-first collaboration software and maintains a CRDT library.",
    "edge | Arjun Mehta | Flagpole | Co-founder of a feature-flag service that evaluates every rule at the edge.",
    "edge | Nadia Haddad | Université Lyon Sud | Distributed-systems researcher studying rate limiting and abuse mitigation on global networks.",
    "languages | João Carvalho | Porto Labs | Rust developer and maintainer of several crates for building WebAssembly components.",
    "languages | Aisha Bello | Lagos Code Collective | Python contributor working on WASI support for CPython.",
    "languages | Camille Laurent | Brioche Software | Builds tooling that turns JavaScript into components for server-side use.",
    "languages | Diego Fernández | Cono Sur Systems | Go developer who has shipped Wasm modules to several production edge platforms.",
    "languages | Ewa Kowalczyk | Vistula Tech | Developer advocate exploring Kotlin on Wasm GC, on servers and in browsers.",
    "languages | Sebastián Ortiz | Andes Compute | Obsessed with binary size. Maintains a popular guide to shrinking Rust Wasm output.",
    "languages | Hyun-woo Park | Hangang Software | Zig enthusiast who builds small networking tools for constrained environments.",
    "languages | Liam O'Connor | Tidewater Systems | Designs the WIT interfaces of a plugin ecosystem used by hundreds of third-party developers.",
    "languages | Leila Ahmadi | Caspian University | Teaches compilers and leads a research group on languages designed for the component model.",
    "languages | Marcus Johansson | Nordljus | .NET engineer working on ahead-of-time compilation for WASI.",
    "ops | Grace Mwangi | Savanna Cloud | SRE lead running the observability pipeline for millions of short-lived instances.",
    "ops | Henrik Nielsen | Kattegat Security | Security researcher focused on software supply chains and artifact signing.",
    "ops | Beatriz Costa | Lisboa Digital | Platform engineer responsible for runtime upgrades across a fleet of 10,000 hosts.",
    "ops | Kenji Watanabe | Kumo Systems | Fuzzing specialist who has reported bugs in most major Wasm engines.",
    "ops | Olivia Bennett | Harbourline | Reliability engineer who writes the incident reviews everyone else reads.",
    "ops | Rahul Iyer | Monsoon Networks | Works on capability-based permission models for multi-tenant platforms.",
    "ops | Sofia Marino | Vela Cloud | Capacity planner turning production telemetry into hardware purchase plans.",
    "ops | Tariq Hassan | Nile Data | Security engineer specialising in secrets management and key rotation.",
    "ops | Julia Schneider | Alpenrand | Kernel engineer correlating eBPF traces on hosts with spans from guests.",
    "ops | Pedro Alves | Atlântico Cloud | Leads chaos engineering and compliance tooling at a regional cloud provider.",
];

/// The demo event's draft: the same value on every call.
pub fn demo_draft() -> Draft {
    let tz = TimeZone::get(TIMEZONE).expect("the bundled tzdb knows Europe/Lisbon");
    let mut plan = Planner {
        tz,
        pools: Default::default(),
        turns: [0; 4],
        sessions: Vec::new(),
    };
    let speakers = SPEAKERS
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let [track, name, affiliation, bio] = fields(record);
            let id = slug(name);
            let website = format!("https://example.org/people/{id}");
            let mut links = BTreeMap::from([("website".to_string(), website)]);
            if i.is_multiple_of(3) {
                let handle = id.as_str().replace('-', "");
                let social = format!("https://social.example.org/@{handle}");
                links.insert("mastodon".into(), social);
            }
            plan.pools[track_index(track)].push(id.clone());
            Speaker {
                id,
                name: name.into(),
                bio: bio.into(),
                affiliation: affiliation.into(),
                links,
            }
        })
        .collect();

    // Turns follow table order, which the sort below then puts in time order.
    for (track, _, room) in TRACKS {
        let talks = TALKS.iter().filter(|r| fields::<4>(r)[0] == track);
        for (i, talk) in talks.enumerate() {
            let slot = TALK_SLOTS[i % TALK_SLOTS.len()];
            plan.add(talk, room, i / TALK_SLOTS.len(), slot, Kind::Talk);
        }
    }
    for (i, record) in SPECIALS.iter().enumerate() {
        let (kind, room, slot) = SPECIAL_SLOTS[i % SPECIAL_SLOTS.len()];
        plan.add(record, room, i / SPECIAL_SLOTS.len(), slot, kind);
    }
    let mut sessions = plan.sessions;
    sessions.sort_by(|a, b| (a.starts_at, &a.room).cmp(&(b.starts_at, &b.room)));

    Draft {
        event: Event {
            name: "WebAssembly Edge Summit 2027".into(),
            timezone: TIMEZONE.into(),
            starts_at: local_time(&plan.tz, 0, (9, 0)),
            ends_at: local_time(&plan.tz, DAYS - 1, (18, 0)),
            description: "Three days on running WebAssembly at the edge and beyond: runtimes, \
                the component model, WASI, and the languages and tooling that target them. \
                Talks come from the people building and operating these systems in \
                production, with hands-on labs every day."
                .into(),
            venue: "Centro de Congressos da Ribeira, Lisbon".into(),
            tracks: TRACKS
                .iter()
                .map(|&(id, name, _)| Track {
                    id: slug(id),
                    name: name.into(),
                })
                .collect(),
            rooms: ROOMS
                .iter()
                .map(|&(id, name, capacity)| Room {
                    id: slug(id),
                    name: name.into(),
                    capacity,
                })
                .collect(),
            registration: RegistrationSettings {
                open: true,
                capacity: Some(500),
                opens_at: None,
                closes_at: None,
                // A developer on `spin up` registers and sees the outcome
                // at once; confirming by email is for real events.
                confirm_email: false,
                hold_minutes: crate::model::DEFAULT_HOLD_MINUTES,
            },
        },
        sessions,
        speakers,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Plenary,
    Talk,
    Workshop,
}

/// Lays sessions out, giving each track's speakers turns in rotation so
/// talks spread evenly over everyone.
struct Planner {
    tz: TimeZone,
    pools: [Vec<Slug>; 4],
    turns: [usize; 4],
    sessions: Vec<Session>,
}

impl Planner {
    fn add(&mut self, record: &str, room: &str, day: usize, time: (i8, i8), kind: Kind) {
        let [track, title, summary, tags] = fields(record);
        let (n, id, t) = (self.sessions.len(), slug(title), track_index(track));
        let (pool, turn) = (&self.pools[t], self.turns[t]);
        self.turns[t] += 1;
        let mut speakers = vec![pool[turn % pool.len()].clone()];
        let paired = match kind {
            Kind::Plenary => title.starts_with("Panel"),
            Kind::Talk => n % 7 == 2,
            Kind::Workshop => true,
        };
        if paired {
            speakers.push(pool[(turn + pool.len() / 2) % pool.len()].clone());
        }
        let (minutes, summary) = match kind {
            Kind::Plenary => (45, summary.to_string()),
            Kind::Workshop => (50, format!("{summary} {WORKSHOP_NOTE}")),
            Kind::Talk if n.is_multiple_of(3) => (40, format!("{summary} {}", TALK_NOTES[n % 4])),
            Kind::Talk => (40, summary.to_string()),
        };
        let plenary = kind == Kind::Plenary;
        let base = format!("https://example.org/{DEMO_SLUG}");
        let links = SessionLinks {
            live: plenary.then(|| format!("{base}/live/{room}")),
            recording: plenary.then(|| format!("{base}/recordings/{id}")),
            slides: (plenary || n % 4 == 1).then(|| format!("{base}/slides/{id}.pdf")),
        };
        let starts_at = local_time(&self.tz, day, time);
        self.sessions.push(Session {
            id,
            title: title.into(),
            summary,
            starts_at,
            ends_at: starts_at + SignedDuration::from_mins(minutes),
            track: Some(slug(track)),
            room: Some(slug(room)),
            speakers,
            tags: tags.split(' ').map(String::from).collect(),
            links,
            // Labs seat fewer than the event: attendees pick them.
            capacity: (kind == Kind::Workshop).then_some(WORKSHOP_SEATS),
            registration_required: false,
        });
    }
}

fn local_time(tz: &TimeZone, day: usize, (hour, minute): (i8, i8)) -> Timestamp {
    civil::date(2027, 6, 8 + day as i8)
        .at(hour, minute, 0, 0)
        .to_zoned(tz.clone())
        .expect("demo times are well inside jiff's range")
        .timestamp()
}

fn fields<const N: usize>(record: &str) -> [&str; N] {
    let parts: Vec<&str> = record.split(" | ").collect();
    parts
        .try_into()
        .unwrap_or_else(|_| panic!("demo record should have {N} fields: {record}"))
}

fn track_index(id: &str) -> usize {
    TRACKS
        .iter()
        .position(|&(track, _, _)| track == id)
        .unwrap_or_else(|| panic!("unknown demo track {id}"))
}

/// An id from a title or a name: ASCII-folded, lowercase, dash-separated.
fn slug(text: &str) -> Slug {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ï' => 'i',
            'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
            'ú' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            c if c.is_ascii_alphanumeric() => c,
            _ => '-',
        };
        if c != '-' || !(out.is_empty() || out.ends_with('-')) {
            out.push(c);
        }
    }
    out.truncate(64);
    Slug::parse(out.trim_end_matches('-')).expect("demo ids are valid slugs")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn unique<'a>(ids: impl IntoIterator<Item = &'a Slug>) -> BTreeSet<&'a str> {
        let ids: Vec<&str> = ids.into_iter().map(Slug::as_str).collect();
        let set: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(set.len(), ids.len(), "duplicate ids in {ids:?}");
        set
    }

    #[test]
    fn demo_is_deterministic_and_round_trips_through_json() {
        let draft = demo_draft();
        assert_eq!(draft, demo_draft());
        let json = serde_json::to_string(&draft).unwrap();
        assert_eq!(serde_json::from_str::<Draft>(&json).unwrap(), draft);
        assert!(Slug::parse(DEMO_SLUG).is_ok());
    }

    #[test]
    fn demo_has_a_full_programme_over_three_local_days() {
        let draft = demo_draft();
        let event = &draft.event;
        assert!(event.tracks.len() >= 4);
        assert!(event.rooms.len() >= 6);
        assert!(draft.sessions.len() >= 60);
        assert!(draft.speakers.len() >= 40);
        assert_eq!(event.registration.capacity, Some(500));
        assert!(event.registration.open);

        let tz = TimeZone::get(&event.timezone).unwrap();
        assert_ne!(tz.to_offset(event.starts_at), jiff::tz::Offset::UTC);
        assert_ne!(event.timezone, "UTC");
        let start = event.starts_at.to_zoned(tz.clone());
        let end = event.ends_at.to_zoned(tz.clone());
        assert_eq!((start.hour(), end.hour()), (9, 18));
        let days: BTreeSet<_> = draft
            .sessions
            .iter()
            .map(|s| s.starts_at.to_zoned(tz.clone()).date())
            .collect();
        assert_eq!(days.len(), 3);
        assert_eq!(days.first(), Some(&start.date()));
        assert_eq!(days.last(), Some(&end.date()));

        for s in &draft.sessions {
            let inside = event.starts_at <= s.starts_at && s.ends_at <= event.ends_at;
            assert!(inside, "{} is outside the event", s.id);
            let minutes = (s.ends_at - s.starts_at).get_seconds() / 60;
            assert!((30..=50).contains(&minutes), "{} lasts {minutes} min", s.id);
            assert!(!s.summary.is_empty() && !s.tags.is_empty(), "{}", s.id);
            assert!((1..=2).contains(&s.speakers.len()), "{}", s.id);
            for tag in &s.tags {
                assert!(tag.chars().all(|c| c.is_ascii_lowercase()), "{tag}");
            }
        }
        let with_slides = draft.sessions.iter().filter(|s| s.links.slides.is_some());
        assert!(with_slides.count() >= 10);
    }

    #[test]
    fn demo_references_resolve_and_ids_are_unique() {
        let draft = demo_draft();
        let tracks = unique(draft.event.tracks.iter().map(|t| &t.id));
        let rooms = unique(draft.event.rooms.iter().map(|r| &r.id));
        let speakers = unique(draft.speakers.iter().map(|s| &s.id));
        unique(draft.sessions.iter().map(|s| &s.id));

        let mut heard = BTreeSet::new();
        for s in &draft.sessions {
            let (track, room) = (s.track.as_ref().unwrap(), s.room.as_ref().unwrap());
            assert!(tracks.contains(track.as_str()), "{}", s.id);
            assert!(rooms.contains(room.as_str()), "{}", s.id);
            for speaker in &s.speakers {
                assert!(speakers.contains(speaker.as_str()), "{speaker}");
                heard.insert(speaker.as_str());
            }
        }
        assert_eq!(heard, speakers, "every speaker has a session");
        for speaker in &draft.speakers {
            assert!(!speaker.bio.is_empty() && !speaker.affiliation.is_empty());
            assert!(speaker.links.contains_key("website"));
        }
    }

    #[test]
    fn no_room_or_speaker_is_double_booked() {
        let draft = demo_draft();
        let overlap = |a: &Session, b: &Session| a.starts_at < b.ends_at && b.starts_at < a.ends_at;
        for (i, a) in draft.sessions.iter().enumerate() {
            for b in &draft.sessions[i + 1..] {
                if overlap(a, b) {
                    assert_ne!(a.room, b.room, "{} and {} share a room", a.id, b.id);
                    let shared = a.speakers.iter().find(|s| b.speakers.contains(s));
                    assert!(shared.is_none(), "{shared:?} is in {} and {}", a.id, b.id);
                }
            }
        }
    }
}
