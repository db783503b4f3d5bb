//! Validated names: parse, don't validate.

use std::fmt;
use std::str::FromStr;

/// The name a credential gets in the single-credential form
/// (`credential = { env = "..." }`).
pub const DEFAULT_CREDENTIAL: &str = "default";

use serde::{Deserialize, Serialize};

use crate::error::NameError;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $rule:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                let check: fn(&str) -> bool = $check;
                if check(&s) {
                    Ok(Self(s))
                } else {
                    Err(NameError::new($what, $rule))
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = NameError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::try_from(s.to_owned())
            }
        }

        impl FromStr for $name {
            type Err = NameError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::try_from(s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> Self {
                n.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// The characters MCP allows in tool names: ASCII letters, digits, `_`, `-` and `.`.
fn is_mcp_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

name_type!(
    /// The id of an MCP server in the inventory, e.g. `github`.
    ///
    /// ```
    /// # use mcpguard_core::ServerId;
    /// let id = ServerId::try_from("github")?;
    /// assert_eq!(id.as_str(), "github");
    /// assert!(ServerId::try_from("has space").is_err());
    /// # Ok::<(), mcpguard_core::NameError>(())
    /// ```
    ServerId,
    "server id",
    "use 1 to 128 characters of A-Z, a-z, 0-9, `_`, `-` and `.`",
    is_mcp_name
);

name_type!(
    /// The name of a tool as the server lists it in `tools/list`, e.g. `read_file`.
    ///
    /// ```
    /// # use mcpguard_core::ToolName;
    /// let name = ToolName::try_from("fs.read")?;
    /// assert_eq!(name.to_string(), "fs.read");
    /// # Ok::<(), mcpguard_core::NameError>(())
    /// ```
    ToolName,
    "tool name",
    "use 1 to 128 characters of A-Z, a-z, 0-9, `_`, `-` and `.`, as MCP tool names are",
    is_mcp_name
);

name_type!(
    /// The person or team accountable for a server: who a reviewer calls.
    Owner,
    "owner",
    "name a team or person in 1 to 256 characters, without control characters",
    |s| {
        let t = s.trim();
        !t.is_empty() && t.len() == s.len() && s.len() <= 256 && !s.chars().any(char::is_control)
    }
);

name_type!(
    /// The name of one of a server's credentials (`dev`, `deploy`), unique within
    /// the server.
    CredentialName,
    "credential name",
    "use 1 to 64 characters of a-z, 0-9, `_` and `-`, starting with a letter or digit",
    |s| {
        (1..=64).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
    }
);

impl CredentialName {
    /// `default`: the name of a server's credential in the single form.
    pub fn default_name() -> Self {
        Self(DEFAULT_CREDENTIAL.to_owned())
    }
}

impl Owner {
    /// Whether the owner is a stand-in rather than someone to call (`unknown`,
    /// `TODO`, `tbd`, `n/a`, ...). The launch gate fails such servers.
    pub fn is_placeholder(&self) -> bool {
        const PLACEHOLDERS: [&str; 12] = [
            "unknown", "todo", "tbd", "tba", "n/a", "na", "none", "nobody", "-", "?", "owner",
            "changeme",
        ];
        let lower = self.0.to_ascii_lowercase();
        let trimmed = lower.trim_matches(|c: char| c == '<' || c == '>' || c == '"');
        PLACEHOLDERS.contains(&trimmed) || trimmed.starts_with("todo")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(ToolName::try_from("read_file").is_ok());
        assert!(ToolName::try_from("a".repeat(128).as_str()).is_ok());
        assert!(ToolName::try_from("a".repeat(129).as_str()).is_err());
        assert!(ToolName::try_from("").is_err());
        assert!(ToolName::try_from("rm -rf").is_err());
        assert!(ServerId::try_from("post/gres").is_err());
        assert!(Owner::try_from("  ").is_err());
        assert!(Owner::try_from(" padded").is_err());
        assert!(Owner::try_from("line\nbreak").is_err());
        let err = ToolName::try_from("ghp_secret value").unwrap_err();
        assert!(!err.to_string().contains("ghp_"), "{err}");
    }

    #[test]
    fn placeholder_owners_are_recognised() {
        for p in ["unknown", "TODO", "todo: find out", "<owner>", "n/a", "TBD"] {
            assert!(Owner::try_from(p).unwrap().is_placeholder(), "{p}");
        }
        for p in ["platform-team", "alice@example.com", "Data Infra"] {
            assert!(!Owner::try_from(p).unwrap().is_placeholder(), "{p}");
        }
    }
}
