//! Application variables as Spin resolves them: an override from the
//! environment (`SPIN_VARIABLE_<NAME>`), else the manifest default; a
//! required variable with neither stops the app from starting. Component
//! variables and `allowed_outbound_hosts` entries are `{{ name }}` templates
//! over these values.

use crate::manifest::VariableDecl;
use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, HashMap};

/// The resolved value of every application variable.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    values: HashMap<String, String>,
}

/// The environment key Spin reads an override from: `SPIN_VARIABLE_` and the
/// variable name in upper case.
pub fn env_key(name: &str) -> String {
    format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
}

impl Variables {
    /// `env` is the override source: the process environment under
    /// `spin up`, a map chosen by the test otherwise.
    pub fn resolve(
        decls: &BTreeMap<String, VariableDecl>,
        env: &HashMap<String, String>,
    ) -> Result<Self> {
        let mut values = HashMap::new();
        let mut missing = Vec::new();
        for (name, decl) in decls {
            match env.get(&env_key(name)).or(decl.default.as_ref()) {
                Some(value) => {
                    values.insert(name.clone(), value.clone());
                }
                None if decl.required => missing.push(name.as_str()),
                None => {}
            }
        }
        if !missing.is_empty() {
            bail!(
                "required variable(s) not set: {} (set them with {})",
                missing.join(", "),
                missing
                    .iter()
                    .map(|n| env_key(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(Self { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Expands every `{{ name }}` in `template`.
    pub fn render(&self, template: &str) -> Result<String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .with_context(|| format!("unclosed '{{{{' in {template:?}"))?;
            let name = after[..end].trim();
            match self.get(name) {
                Some(value) => out.push_str(value),
                None => bail!("{template:?} names variable {name:?}, which has no value"),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The guest's view: a component reads its own variables, by name.
impl<T> crate::bindings::spin::variables::variables::HostWithStore<T> for crate::state::SpinHost {
    async fn get(
        accessor: &wasmtime::component::Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, crate::bindings::spin::variables::variables::Error>> {
        use crate::bindings::spin::variables::variables::Error;
        if crate::manifest::check_variable_name(&name).is_err() {
            return Ok(Err(Error::InvalidName(name)));
        }
        Ok(
            accessor.with(|mut access| match access.get().caps.variables.get(&name) {
                Some(value) => Ok(value.clone()),
                None => Err(Error::Undefined(name)),
            }),
        )
    }
}

impl crate::bindings::spin::variables::variables::Host for crate::state::SpinView<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls() -> BTreeMap<String, VariableDecl> {
        BTreeMap::from([
            (
                "region".to_string(),
                VariableDecl {
                    default: Some("local".into()),
                    ..Default::default()
                },
            ),
            (
                "token".to_string(),
                VariableDecl {
                    required: true,
                    secret: true,
                    ..Default::default()
                },
            ),
            ("optional".to_string(), VariableDecl::default()),
        ])
    }

    #[test]
    fn override_beats_default() {
        let env = HashMap::from([
            ("SPIN_VARIABLE_TOKEN".to_string(), "t".to_string()),
            ("SPIN_VARIABLE_REGION".to_string(), "eu".to_string()),
        ]);
        let vars = Variables::resolve(&decls(), &env).unwrap();
        assert_eq!(vars.get("region"), Some("eu"));
        assert_eq!(vars.get("token"), Some("t"));
        assert_eq!(vars.get("optional"), None);
    }

    #[test]
    fn missing_required_is_an_error_naming_it() {
        let err = Variables::resolve(&decls(), &HashMap::new()).unwrap_err();
        assert!(err.to_string().contains("token"), "{err}");
        assert!(err.to_string().contains("SPIN_VARIABLE_TOKEN"), "{err}");
    }

    #[test]
    fn templates_expand_and_unknown_names_fail() {
        let env = HashMap::from([("SPIN_VARIABLE_TOKEN".to_string(), "t".to_string())]);
        let vars = Variables::resolve(&decls(), &env).unwrap();
        assert_eq!(
            vars.render("https://{{ region }}.example:{{token}}/x")
                .unwrap(),
            "https://local.example:t/x"
        );
        assert!(vars.render("{{ optional }}").is_err());
        assert!(vars.render("{{ region").is_err());
    }
}
