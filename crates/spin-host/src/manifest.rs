//! Reads a Spin manifest (version 2) the way Spin 4.1 does, keeping only
//! what the host acts on: HTTP triggers, components and their grants, and
//! application variables. Unknown keys are tolerated, as Spin tolerates them.

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parsed `spin.toml`, with paths resolved against its folder.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: String,
    pub dir: PathBuf,
    pub variables: BTreeMap<String, VariableDecl>,
    pub http_triggers: Vec<HttpTrigger>,
    pub components: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Reachable from outside at this route (`/x`, `/x/...`, `/...`).
    Public(String),
    /// Reachable only through `http://<id>.spin.internal`.
    Private,
}

#[derive(Debug, Clone)]
pub struct HttpTrigger {
    pub route: Route,
    pub component: String,
}

#[derive(Debug, Clone)]
pub struct ComponentDecl {
    pub id: String,
    pub source: PathBuf,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    /// Raw entries; templates are resolved once variables are known.
    pub allowed_outbound_hosts: Vec<String>,
    /// Component variable name → template over application variables.
    pub variables: BTreeMap<String, String>,
    pub files: Vec<FileMount>,
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FileMount {
    /// A glob relative to the manifest folder, mounted at the same relative path.
    Pattern(String),
    /// A folder mounted at a guest path.
    Directory {
        source: PathBuf,
        destination: String,
    },
}

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
struct RawApplication {
    name: String,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Deserialize)]
struct RawHttpTrigger {
    route: RawRoute,
    component: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
struct RawComponent {
    source: RawSource,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    files: Vec<RawFile>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSource {
    Path(String),
    Remote { url: String },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawFile {
    Pattern(String),
    Mapping { source: String, destination: String },
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, &dir).with_context(|| format!("invalid manifest {}", path.display()))
    }

    pub fn parse(text: &str, dir: &Path) -> Result<Self> {
        let raw: RawManifest = toml::from_str(text)?;
        ensure!(
            raw.spin_manifest_version.as_integer() == Some(2),
            "spin_manifest_version must be 2"
        );
        for name in raw.variables.keys() {
            check_variable_name(name)?;
        }
        for (name, decl) in &raw.variables {
            ensure!(
                !(decl.required && decl.default.is_some()),
                "variable {name:?} cannot be both required and have a default"
            );
        }
        let mut components = BTreeMap::new();
        for (id, raw) in raw.component {
            check_component_id(&id)?;
            let source = match raw.source {
                RawSource::Path(p) => dir.join(p),
                RawSource::Remote { url } => {
                    bail!("component {id:?}: remote source {url:?} is not supported by this host")
                }
            };
            for name in raw.variables.keys() {
                check_variable_name(name).with_context(|| format!("component {id:?} variable"))?;
            }
            let files = raw
                .files
                .into_iter()
                .map(|f| match f {
                    RawFile::Pattern(p) => FileMount::Pattern(p),
                    RawFile::Mapping {
                        source,
                        destination,
                    } => FileMount::Directory {
                        source: dir.join(source),
                        destination,
                    },
                })
                .collect();
            components.insert(
                id.clone(),
                ComponentDecl {
                    id,
                    source,
                    key_value_stores: raw.key_value_stores,
                    sqlite_databases: raw.sqlite_databases,
                    allowed_outbound_hosts: raw.allowed_outbound_hosts,
                    variables: raw.variables,
                    files,
                    environment: raw.environment,
                },
            );
        }
        let mut http_triggers = Vec::new();
        for t in raw.trigger.http {
            ensure!(
                components.contains_key(&t.component),
                "trigger names unknown component {:?}",
                t.component
            );
            let route = match t.route {
                RawRoute::Path(p) => {
                    ensure!(p.starts_with('/'), "route {p:?} must start with '/'");
                    Route::Public(p)
                }
                RawRoute::Private { private: true } => Route::Private,
                RawRoute::Private { private: false } => {
                    bail!("route {{ private = false }} is not a route")
                }
            };
            if let Route::Public(p) = &route {
                ensure!(
                    !http_triggers
                        .iter()
                        .any(|o: &HttpTrigger| o.route == Route::Public(p.clone())),
                    "duplicate route {p:?}"
                );
            }
            http_triggers.push(HttpTrigger {
                route,
                component: t.component,
            });
        }
        Ok(Self {
            name: raw.application.name,
            dir: dir.to_path_buf(),
            variables: raw.variables,
            http_triggers,
            components,
        })
    }

    /// Keeps only the named components and the triggers that reach them,
    /// as `spin up --component-id` (selective deployment) does.
    pub fn retain_components(&mut self, ids: &[String]) -> Result<()> {
        for id in ids {
            ensure!(self.components.contains_key(id), "no component {id:?}");
        }
        self.components.retain(|id, _| ids.contains(id));
        self.http_triggers.retain(|t| ids.contains(&t.component));
        Ok(())
    }
}

/// Spin's variable names: lower-case letters, digits and underscores,
/// starting with a letter.
pub fn check_variable_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && !name.ends_with('_')
        && !name.contains("__");
    ensure!(ok, "invalid variable name {name:?}");
    Ok(())
}

/// Spin's component ids: kebab-case words of lower-case letters and digits.
fn check_component_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && id.starts_with(|c: char| c.is_ascii_lowercase());
    ensure!(ok, "invalid component id {id:?}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
spin_manifest_version = 2

[application]
name = "sample"

[variables]
region = { default = "local" }
token = { required = true, secret = true }

[[trigger.http]]
route = "/..."
component = "front"

[[trigger.http]]
route = { private = true }
component = "back"

[component.front]
source = "target/front.wasm"
key_value_stores = ["default"]
allowed_outbound_hosts = ["http://back.spin.internal"]
files = ["static/**/*", { source = "assets", destination = "/assets" }]
[component.front.variables]
region = "{{ region }}"

[component.back]
source = "back.wasm"
sqlite_databases = ["default"]
[component.back.build]
command = "cargo build"
"#;

    #[test]
    fn parses_triggers_components_and_variables() {
        let m = Manifest::parse(SAMPLE, Path::new("/app")).unwrap();
        assert_eq!(m.name, "sample");
        assert_eq!(m.http_triggers.len(), 2);
        assert_eq!(m.http_triggers[0].route, Route::Public("/...".into()));
        assert_eq!(m.http_triggers[1].route, Route::Private);
        let front = &m.components["front"];
        assert_eq!(front.source, Path::new("/app/target/front.wasm"));
        assert_eq!(front.key_value_stores, ["default"]);
        assert_eq!(front.variables["region"], "{{ region }}");
        assert_eq!(front.files.len(), 2);
        assert!(m.variables["token"].required && m.variables["token"].secret);
        assert_eq!(m.variables["region"].default.as_deref(), Some("local"));
    }

    #[test]
    fn rejects_what_spin_rejects() {
        let bad_version = SAMPLE.replace("spin_manifest_version = 2", "spin_manifest_version = 1");
        assert!(Manifest::parse(&bad_version, Path::new("/")).is_err());
        let unknown_component = SAMPLE.replace("component = \"back\"", "component = \"nope\"");
        assert!(Manifest::parse(&unknown_component, Path::new("/")).is_err());
        let bad_var = SAMPLE.replace("region = { default", "Region = { default");
        assert!(Manifest::parse(&bad_var, Path::new("/")).is_err());
        let both = SAMPLE.replace(
            "required = true, secret = true",
            "required = true, default = \"x\"",
        );
        assert!(Manifest::parse(&both, Path::new("/")).is_err());
    }

    #[test]
    fn selective_deployment_keeps_named_components() {
        let mut m = Manifest::parse(SAMPLE, Path::new("/")).unwrap();
        m.retain_components(&["back".into()]).unwrap();
        assert_eq!(m.components.len(), 1);
        assert_eq!(m.http_triggers.len(), 1);
        assert!(m.retain_components(&["nope".into()]).is_err());
    }
}
