//! Environment-gated credentials: resolved only in allowed tiers, never in an
//! error, redacted everywhere once resolved.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use mcpguard_core::{Inventory, Tier};
use mcpguard_policy::{
    CredentialErrorKind, EnvResolver, FileResolver, Gate, JsonLinesSink, Principal, ToolCall,
};
use proptest::prelude::*;

mod support;
use serde_json::json;

const INVENTORY: &str = r#"
version = 1

[[servers]]
id = "db"
owner = "data-platform"
transport = "stdio"
provenance = { kind = "first_party" }
credential = { env = "PROD_DB_PASSWORD" }
credential_tiers = ["production"]
data_classes = ["internal"]

[[servers.tools]]
name = "query"
actions = ["read"]
reach = "internal"

[[servers]]
id = "docs"
owner = "docs-team"
transport = "stdio"
provenance = { kind = "first_party" }
credential = { vault = "vault://kv/docs#token" }
data_classes = ["internal"]

[[servers.tools]]
name = "search"
actions = ["read"]
reach = "none"
target = "q"

[[servers]]
id = "open"
owner = "docs-team"
transport = "stdio"
provenance = { kind = "first_party" }
credential = "none"
data_classes = ["public"]
"#;

const DB_PASSWORD: &str = "Pr0d-Db-Passw0rd!xyz";

fn env() -> EnvResolver {
    let vars = HashMap::from([("PROD_DB_PASSWORD".to_owned(), DB_PASSWORD.to_owned())]);
    EnvResolver::from_fn(move |name| vars.get(name).cloned())
}

fn gate(tier: Tier) -> Gate {
    Gate::builder()
        .inventory(Inventory::from_toml_str(INVENTORY, "creds.toml").unwrap())
        .tier(tier)
        .build()
        .unwrap()
}

#[test]
fn a_credential_is_refused_outside_its_tiers_without_showing_it() {
    let err = gate(Tier::Personal)
        .credentials()
        .resolve("db", "default", &env())
        .unwrap_err();
    assert_eq!(err.kind(), CredentialErrorKind::NotAllowedInTier);
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("PROD_DB_PASSWORD") && text.contains("`personal`"),
        "{text}"
    );
    assert!(text.contains("production"), "{text}");
    assert!(!text.contains(DB_PASSWORD), "{text}");
    let secret = gate(Tier::Production)
        .credentials()
        .resolve("db", "default", &env())
        .unwrap();
    assert_eq!(secret.expose(), DB_PASSWORD);
    assert_eq!(format!("{secret:?} {secret}"), "[REDACTED] [REDACTED]");
    assert_eq!(serde_json::to_string(&secret).unwrap(), "\"[REDACTED]\"");
}

#[test]
fn missing_and_unsupported_sources_are_clear_errors() {
    let g = gate(Tier::Production);
    let err = g
        .credentials()
        .resolve("db", "default", &EnvResolver::from_fn(|_| None))
        .unwrap_err();
    assert_eq!(err.kind(), CredentialErrorKind::Missing);
    assert!(
        err.to_string().contains("`PROD_DB_PASSWORD` is not set"),
        "{err}"
    );
    assert_eq!(
        g.credentials()
            .resolve("nope", "default", &env())
            .unwrap_err()
            .kind(),
        CredentialErrorKind::UnknownServer
    );
    assert_eq!(
        g.credentials()
            .resolve("open", "default", &env())
            .unwrap_err()
            .kind(),
        CredentialErrorKind::NoCredential
    );
    let err = g
        .credentials()
        .resolve("docs", "default", &env())
        .unwrap_err();
    assert_eq!(err.kind(), CredentialErrorKind::Unsupported);
    let err = g
        .credentials()
        .resolve("docs", "default", &FileResolver::new())
        .unwrap_err();
    assert!(err.to_string().contains("no mount"), "{err}");
    let short = EnvResolver::from_fn(|_| Some("short".to_owned()));
    assert_eq!(
        g.credentials()
            .resolve("db", "default", &short)
            .unwrap_err()
            .kind(),
        CredentialErrorKind::Unusable
    );
}

#[test]
fn mounted_files_resolve_vault_references() {
    let dir = std::env::temp_dir().join(format!("mcpguard-creds-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::write(dir.join("docs/token"), "docs-token-Zq8Lm3Xw9\n").unwrap();
    let files = FileResolver::new().mount("vault://kv/", &dir);
    let g = gate(Tier::Team);
    let secret = g.credentials().resolve("docs", "default", &files).unwrap();
    assert_eq!(secret.expose(), "docs-token-Zq8Lm3Xw9");
    std::fs::remove_file(dir.join("docs/token")).unwrap();
    let err = gate(Tier::Team)
        .credentials()
        .resolve("docs", "default", &files)
        .unwrap_err();
    assert_eq!(err.kind(), CredentialErrorKind::Missing);
    assert!(!err.to_string().contains("Zq8Lm3"));
    std::fs::remove_dir_all(&dir).ok();
}

use support::Shared;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_resolved_credential_is_redacted_everywhere(
        encoding in 0usize..3,
        place in 0usize..3,
        before in "[a-z =:]{0,8}",
        after in "[a-z ,.]{0,8}",
    ) {
        let log = Shared::default();
        let g = Gate::builder()
            .inventory(Inventory::from_toml_str(INVENTORY, "creds.toml").unwrap())
            .tier(Tier::Production)
            .audit_sink(Arc::new(JsonLinesSink::new(log.clone(), mcpguard_policy::AuditKey::parse("640f53318d8facfd9a133af4c2f7e2f5cdb9c731d249be16084a4ddbbbe95959").unwrap())))
            .redact_results(true)
            .build()
            .unwrap();
        let secret = g.credentials().resolve("db", "default", &env()).unwrap();
        let encoded = match encoding {
            0 => secret.expose().clone(),
            1 => base64::engine::general_purpose::STANDARD.encode(format!("app:{}", secret.expose())),
            _ => secret.expose().replace('!', "%21"),
        };
        let text = format!("{before}{encoded}{after}");
        let args = match place {
            0 => json!({"q": text}),
            1 => json!({"q": "x", "filters": [{"note": text}]}),
            _ => json!({"q": "x", "dsn": format!("postgres://app@db/{text}")}),
        };
        let call = ToolCall::new(Principal::new("ana"), "db", "query").arguments(args).purpose(text.clone());
        // A read: it runs in the production tier without an approval.
        let result: String = g.admit(&call).run(|| Ok::<_, String>(format!("row: {text}"))).unwrap();
        prop_assert!(!result.contains(&encoded), "{}", result);
        let logged = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        prop_assert!(!logged.is_empty());
        prop_assert!(!logged.contains(&encoded), "{}", logged);
        let line = g.redactor().redact(&format!("connecting with {text}")).into_owned();
        prop_assert!(!line.contains(&encoded), "{}", line);
    }
}

const TWO_CREDENTIALS: &str = r#"
version = 1

[[servers]]
id = "github"
owner = "platform-team"
transport = "stdio"
provenance = { kind = "first_party" }
credentials = [
  { name = "dev", env = "GH_DEV_TOKEN", tiers = ["personal", "team"] },
  { name = "deploy", env = "GH_DEPLOY_TOKEN", tiers = ["production"] },
]
data_classes = ["internal"]

[[servers.tools]]
name = "search"
actions = ["read"]
reach = "none"
target = "q"
"#;

#[test]
fn each_of_several_credentials_resolves_only_in_its_own_tiers() {
    const DEV: &str = "gh-dev-Zx81Lq0Pw3Mn";
    const DEPLOY: &str = "gh-deploy-Ty62Rb5Kc9Vs";
    let vars = HashMap::from([
        ("GH_DEV_TOKEN".to_owned(), DEV.to_owned()),
        ("GH_DEPLOY_TOKEN".to_owned(), DEPLOY.to_owned()),
    ]);
    let env = EnvResolver::from_fn(move |name| vars.get(name).cloned());
    let gate = |tier| {
        Gate::builder()
            .inventory(Inventory::from_toml_str(TWO_CREDENTIALS, "two.toml").unwrap())
            .tier(tier)
            .build()
            .unwrap()
    };
    for tier in [Tier::Personal, Tier::Team] {
        let g = gate(tier);
        assert_eq!(
            g.credentials()
                .resolve("github", "dev", &env)
                .unwrap()
                .expose(),
            DEV
        );
        let err = g
            .credentials()
            .resolve("github", "deploy", &env)
            .unwrap_err();
        assert_eq!(err.kind(), CredentialErrorKind::NotAllowedInTier);
        assert!(
            err.to_string().contains("credential `deploy`")
                && err.to_string().contains("production"),
            "{err}"
        );
        assert!(!err.to_string().contains(DEPLOY), "{err}");
    }
    let g = gate(Tier::Production);
    assert_eq!(
        g.credentials()
            .resolve("github", "deploy", &env)
            .unwrap()
            .expose(),
        DEPLOY
    );
    assert_eq!(
        g.credentials()
            .resolve("github", "dev", &env)
            .unwrap_err()
            .kind(),
        CredentialErrorKind::NotAllowedInTier
    );
    // The resolved one is redacted from then on; the other was never resolved.
    assert!(
        !g.redactor()
            .redact(&format!("token {DEPLOY}"))
            .contains(DEPLOY)
    );
    // A name the server does not have lists the ones it has; a name-shaped
    // secret typed in by mistake is not echoed.
    let err = g
        .credentials()
        .resolve("github", "default", &env)
        .unwrap_err();
    assert_eq!(err.kind(), CredentialErrorKind::UnknownCredential);
    assert!(err.to_string().contains("dev, deploy"), "{err}");
    let err = g
        .credentials()
        .resolve("github", "ghp_ABCdef0123456789ABCdef0123456789", &env)
        .unwrap_err();
    assert!(!err.to_string().contains("ghp_"), "{err}");
}
