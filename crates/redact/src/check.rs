//! Second looks at a candidate: is the value random enough, is it a placeholder, does
//! the key name promise a secret, does the structure decode as its format says.

use base64::Engine as _;

/// A validation a rule applies to a candidate after its pattern matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// The `key` group names something secret: its last word is `password`,
    /// `secret`, `token`, `credential`, ..., or `key` qualified as `api`, `access`,
    /// `private`, ... (`api_key`, `clientSecret`, `DB_PASSWORD`), and not a count,
    /// a type or an id (`max_tokens`, `token_type`, `secret_name`).
    SecretKey,
    /// The value is not a placeholder, a reference or a marker: `<your-key>`,
    /// `${TOKEN}`, `{{ .Values.x }}`, `$API_KEY`, `os.environ[...]`, `changeme`,
    /// `********`, `null`, `[REDACTED:...]`, a file path.
    NotPlaceholder,
    /// The value looks machine-made or chosen as a password, not like a word: at
    /// least two character classes and an entropy floor scaled to its length.
    LooksRandom,
    /// The value is base64 that decodes to `user:password` (HTTP Basic, Docker `auth`).
    BasicAuth,
    /// The value is base64 of a PEM private key (`LS0tLS1CRUdJTi...`), not of a
    /// certificate or public key.
    Base64PrivateKey,
    /// The value is base64 (padded) of printable UTF-8 text, as the values of a
    /// Kubernetes secret are: binary noise and plain words do not decode so.
    Base64Text,
    /// Informational: the GitHub/npm CRC32 checksum in the last six characters.
    /// Recorded in [`crate::Finding::checksum`]; never drops a finding, because a
    /// token with a bad checksum is still a secret someone pasted.
    Base62Crc32,
}

impl Check {
    /// The check's name, as the catalogue lists it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::SecretKey => "secret-key",
            Self::NotPlaceholder => "not-placeholder",
            Self::LooksRandom => "looks-random",
            Self::BasicAuth => "basic-auth",
            Self::Base64PrivateKey => "base64-private-key",
            Self::Base64Text => "base64-text",
            Self::Base62Crc32 => "base62-crc32",
        }
    }
}

/// Shannon entropy of the bytes of `s`, in bits per byte.
pub(crate) fn shannon(s: &[u8]) -> f32 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
    }
    #[expect(
        clippy::cast_precision_loss,
        reason = "lengths of candidate values are far below 2^24"
    )]
    let len = s.len() as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            #[expect(clippy::cast_precision_loss, reason = "counts are small")]
            let p = c as f32 / len;
            -p * p.log2()
        })
        .sum()
}

/// Words that, as the last word of a key, mean the value is secret.
const SECRET_WORDS: [&str; 17] = [
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "pass",
    "secret",
    "token",
    "apikey",
    "credential",
    "credentials",
    "creds",
    "secretkey",
    "accesskey",
    "privatekey",
    "authtoken",
    "auth",
    // A personal access token (`AZURE_DEVOPS_PAT`).
    "pat",
];

/// Words that make a following `key` a secret key (`api_key`, `private-key`).
const KEY_QUALIFIERS: [&str; 39] = [
    "api",
    "access",
    "secret",
    "private",
    "signing",
    "encryption",
    "encrypt",
    "master",
    "client",
    "auth",
    "app",
    "account",
    "service",
    "subscription",
    "webhook",
    "admin",
    "session",
    "shared",
    "storage",
    "deploy",
    "license",
    "consumer",
    "tls",
    "ssl",
    "ssh",
    "gpg",
    "hmac",
    // Vendors' names for secret keys: Datadog's and Backblaze's application key,
    // Segment's write key, ingest and SDK keys, a server or production key.
    "application",
    "write",
    "ingest",
    "integration",
    "server",
    "sdk",
    "live",
    "prod",
    "production",
    "root",
    "merchant",
    "partner",
];

/// Words before a last word that make it bookkeeping, not a secret
/// (`next_page_token`, `max_tokens`, `csrf_token` stays secret).
const NOT_SECRET_QUALIFIERS: [&str; 14] = [
    "page",
    "next",
    "continuation",
    "pagination",
    "cursor",
    "sync",
    "cancellation",
    "max",
    "input",
    "output",
    "prompt",
    "completion",
    "total",
    "public",
];

/// The words of a key such as `myServiceAPIKey`, `DB_PASSWORD` or `x-api-key`, as
/// byte ranges, at most 16 (the last 16 when there are more): words split at
/// non-alphanumerics and at lower-to-upper case changes (`APIKey` is `API`, `Key`).
fn key_words(key: &[u8]) -> ([(usize, usize); 16], usize) {
    let mut words = [(0usize, 0usize); 16];
    let mut count = 0usize;
    let mut push = |start: usize, end: usize| {
        if end > start {
            if count == words.len() {
                words.rotate_left(1);
                count -= 1;
            }
            if let Some(slot) = words.get_mut(count) {
                *slot = (start, end);
            }
            count += 1;
        }
    };
    let mut start = 0;
    for i in 0..key.len() {
        let c = key.get(i).copied().unwrap_or(b' ');
        if !c.is_ascii_alphanumeric() {
            push(start, i);
            start = i + 1;
            continue;
        }
        if i > start {
            let prev = key.get(i - 1).copied().unwrap_or(b' ');
            let next = key.get(i + 1).copied().unwrap_or(b' ');
            let boundary = (prev.is_ascii_lowercase() && c.is_ascii_uppercase())
                || (prev.is_ascii_uppercase()
                    && c.is_ascii_uppercase()
                    && next.is_ascii_lowercase());
            if boundary {
                push(start, i);
                start = i;
            }
        }
    }
    push(start, key.len());
    (words, count)
}

/// Whether `key` holds one of the stems every secret key holds (`pass`, `pwd`,
/// `pat`, `secret`, `token`, `key`, `cred`, `auth`, any case): one pass that
/// answers most keys (`name`, `url`, `limit`) before they are split into words.
fn holds_secret_stem(key: &[u8]) -> bool {
    let at = |i: usize, stem: &[u8]| {
        key.get(i..i + stem.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(stem))
    };
    (0..key.len()).any(|i| match key.get(i).map(u8::to_ascii_lowercase) {
        Some(b'p') => at(i, b"pass") || at(i, b"pwd") || at(i, b"pat"),
        Some(b's') => at(i, b"secret"),
        Some(b't') => at(i, b"token"),
        Some(b'k') => at(i, b"key"),
        Some(b'c') => at(i, b"cred"),
        Some(b'a') => at(i, b"auth"),
        _ => false,
    })
}

/// Whether a key names a secret (see [`Check::SecretKey`]).
pub(crate) fn is_secret_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    if !holds_secret_stem(bytes) {
        return false;
    }
    let (words, count) = key_words(bytes);
    let word = |i: usize| -> Option<&[u8]> {
        let (s, e) = words.get(i).copied()?;
        bytes.get(s..e)
    };
    let is = |w: Option<&[u8]>, list: &[&str]| {
        w.is_some_and(|w| list.iter().any(|l| l.as_bytes().eq_ignore_ascii_case(w)))
    };
    let Some(mut last_i) = count.checked_sub(1) else {
        return false;
    };
    // `api_key_value`, `secret_key_base`: a trailing `value`/`base`/... is transparent.
    if is(
        word(last_i),
        &["value", "str", "string", "b64", "base64", "base"],
    ) {
        let Some(i) = last_i.checked_sub(1) else {
            return false;
        };
        last_i = i;
    }
    let last = word(last_i).unwrap_or_default();
    let before = last_i.checked_sub(1).and_then(word);
    if is(before, &NOT_SECRET_QUALIFIERS) {
        return false;
    }
    if is(Some(last), &["key", "keys"]) {
        return is(before, &KEY_QUALIFIERS);
    }
    // `pass` alone is a password key too (`pass=` in INI and .env files): a flag
    // (`pass: true`) or a count fails the value checks that follow every key.
    let lower = last.to_ascii_lowercase();
    let ends = |suffix: &str| lower.ends_with(suffix.as_bytes());
    // Glued words: `apikey`, `secretkey`, `DBPASSWORD`.
    is(Some(last), &SECRET_WORDS)
        || ends("password")
        || ends("passwd")
        || ends("secret")
        || (ends("token") && lower.len() > 5)
        || ends("apikey")
}

/// Credentials that vendors publish in their documentation as examples. They are
/// not secrets, and redacting them breaks documentation and sample configs; each
/// is matched exactly, so a real key that differs by one character is still
/// found.
const PUBLISHED_EXAMPLES: [&str; 9] = [
    // AWS: the example access key pairs of the IAM user guide ("Manage access keys
    // for IAM users") and the AWS CLI configuration guide.
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AKIAI44QH8DHBEXAMPLE",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    // Stripe: the test-mode keys shown throughout the API reference.
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "pk_test_TYooMQauvdEDq54NiTphI7jx",
    "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
    // GitHub: the personal access token in "Managing your personal access tokens".
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    // jwt.io: the HS256 example token of its debugger and introduction.
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
];

/// Whether `value` (quotes and blanks around it aside) is a credential a vendor
/// publishes as a documentation example ([`PUBLISHED_EXAMPLES`]).
pub(crate) fn is_published_example(value: &str) -> bool {
    let v = value.trim().trim_matches(|c| matches!(c, '"' | '\'' | '`'));
    PUBLISHED_EXAMPLES.contains(&v)
}

/// Whether the value is a stand-in rather than a secret (see [`Check::NotPlaceholder`]).
pub(crate) fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    if v.len() < 4 {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    const EXACT: [&str; 22] = [
        "null",
        "none",
        "nil",
        "undefined",
        "true",
        "false",
        "string",
        "required",
        "optional",
        "hidden",
        "redacted",
        "masked",
        "secret",
        "password",
        "token",
        "changeme",
        "change_me",
        "example",
        "placeholder",
        "dummy",
        "empty",
        "default",
    ];
    if EXACT.contains(&lower.as_str()) {
        return true;
    }
    const CONTAINS: [&str; 20] = [
        "redacted",
        "your_",
        "your-",
        "yourapi",
        "your api",
        "<your",
        "changeme",
        "change_me",
        "replace_me",
        "replaceme",
        "replace-me",
        "placeholder",
        "os.environ",
        "process.env",
        "getenv",
        "env(",
        "env[",
        "secrets.",
        "vault:",
        "xxxxxx",
    ];
    if CONTAINS.iter().any(|c| lower.contains(c)) {
        return true;
    }
    let first = v.chars().next().unwrap_or(' ');
    let last = v.chars().last().unwrap_or(' ');
    // References and templates: $VAR, ${VAR}, {{ x }}, <x>, %VAR%, @Value(...), [x].
    if matches!(first, '$' | '{' | '<' | '%' | '@' | '[' | '(' | '`')
        || matches!(last, '}' | '>' | ')' | ']')
    {
        return true;
    }
    // A run of one repeated character: ********, xxxxxxxx, 00000000, ....
    let mut chars = v.chars();
    if let Some(c0) = chars.next()
        && chars.all(|c| c == c0 || c == '-' || c == '_')
    {
        return true;
    }
    // A path to a file that holds the secret: /run/secrets/db, ./key.pem, ~/.ssh/id.
    if (v.starts_with('/') || v.starts_with("./") || v.starts_with("~/") || v.starts_with("../"))
        && !v.contains(' ')
    {
        return true;
    }
    // A member path in code: `config.api_key`, `settings.SECRET_KEY`, `Secret.from_env`.
    if v.contains('.')
        && v.split('.').all(|seg| {
            seg.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    {
        return true;
    }
    // A function call in code: getSecret(), load("x").
    if v.contains("()") || v.contains("(\"") || v.contains("('") {
        return true;
    }
    false
}

/// Whether a value looks like a password or a machine-made token rather than a word
/// or an identifier (see [`Check::LooksRandom`]).
pub(crate) fn looks_random(value: &str) -> bool {
    let v = value.as_bytes();
    let len = v.len();
    if len < 8 {
        return false;
    }
    let lower = v.iter().any(u8::is_ascii_lowercase);
    let upper = v.iter().any(u8::is_ascii_uppercase);
    let digit = v.iter().any(u8::is_ascii_digit);
    let symbol = v.iter().any(|b| !b.is_ascii_alphanumeric());
    let classes = [lower, upper, digit, symbol].iter().filter(|&&c| c).count();
    let h = shannon(v);
    // An identifier in snake_case or kebab-case (`my-app-name`, `default_value`)
    // has letters and separators only: a word, not a secret.
    let identifier = v
        .iter()
        .all(|b| b.is_ascii_lowercase() || matches!(b, b'_' | b'-' | b'.'))
        || v.iter()
            .all(|b| b.is_ascii_uppercase() || matches!(b, b'_' | b'-' | b'.'));
    if identifier {
        return len >= 24 && h >= 4.0;
    }
    // Letters only: a word or CamelCase identifier switches case once per word, a
    // random string about every other character.
    if v.iter().all(u8::is_ascii_alphabetic) {
        let switches = v
            .windows(2)
            .filter(|w| matches!(w, [a, b] if a.is_ascii_uppercase() != b.is_ascii_uppercase()))
            .count();
        return len >= 12 && switches * 3 >= len && h >= 3.0;
    }
    // A version (`1.2.3`), a number, a date: digits and dots or dashes.
    if v.iter()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b':' | b'/'))
    {
        return len >= 16 && h >= 3.0;
    }
    // Entropy floor: a fraction of the most a string of this length can have.
    #[expect(clippy::cast_precision_loss, reason = "small lengths")]
    let max = (len.min(64) as f32).log2();
    classes >= 2 && h >= (0.72 * max).min(3.2) || len >= 20 && h >= 3.5
}

/// Whether `value` is base64 of `user:password` with printable text.
pub(crate) fn is_basic_auth(value: &str) -> bool {
    let trimmed = value.trim_end_matches('=');
    let Ok(bytes) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed) else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return false;
    };
    match text.split_once(':') {
        Some((user, pass)) => {
            !pass.is_empty()
                && !text.chars().any(char::is_control)
                && !user.contains(' ')
                && pass.len() < 512
        }
        None => false,
    }
}

/// Whether `value` is base64 of a PEM private key.
pub(crate) fn is_base64_private_key(value: &str) -> bool {
    // The armour line is at most 50 bytes: decode the first 72 characters.
    let prefix_len = value.len().min(72) / 4 * 4;
    let Some(prefix) = value.get(..prefix_len) else {
        return false;
    };
    base64::engine::general_purpose::STANDARD
        .decode(prefix)
        .ok()
        .is_some_and(|b| {
            let text = String::from_utf8_lossy(&b);
            text.starts_with("-----BEGIN") && text.contains("PRIVATE KEY")
        })
}

/// Whether `value` is padded base64 of printable UTF-8 text.
pub(crate) fn is_base64_text(value: &str) -> bool {
    if !value.len().is_multiple_of(4) {
        return false;
    }
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|t| {
            t.len() >= 4
                && !t
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        })
}

/// The GitHub / npm token checksum: CRC32 of the 30 characters after the prefix,
/// base62 (`0-9A-Za-z`), left-padded to six characters, as the token's last six.
pub(crate) fn base62_crc32_valid(token: &str) -> bool {
    const DICT: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let Some((_, body)) = token.rsplit_once('_') else {
        return false;
    };
    if body.len() != 36 {
        return false;
    }
    let (entropy, checksum) = body.split_at(30);
    let mut n = crc32fast::hash(entropy.as_bytes());
    let mut encoded = [b'0'; 6];
    for slot in encoded.iter_mut().rev() {
        let digit = usize::try_from(n % 62).unwrap_or(0);
        *slot = DICT.get(digit).copied().unwrap_or(b'0');
        n /= 62;
    }
    encoded == checksum.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        for k in [
            "password",
            "DB_PASSWORD",
            "db_pass",
            "api_key",
            "apiKey",
            "x-api-key",
            "X-API-Key",
            "clientSecret",
            "client_secret",
            "GITHUB_TOKEN",
            "accessToken",
            "auth_token",
            "SECRET_KEY",
            "SECRET_KEY_BASE",
            "aws_secret_access_key",
            "private_key",
            "tls.key",
            "_authToken",
            "_auth",
            "passphrase",
            "credentials",
            "MYSQL_ROOT_PASSWORD",
            "apikey",
            "secret",
            "webhookSecret",
            "csrf_token",
            "AZURE_DEVOPS_PAT",
            "pass",
            "DATADOG_APPLICATION_KEY",
            "writeKey",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "max_tokens",
            "token_type",
            "secret_name",
            "password_length",
            "next_page_token",
            "key",
            "primary_key",
            "public_key",
            "tokenizer",
            "bypass",
            "compass",
            "tokens",
            "passwordless",
            "secretRef",
            "keyId",
            "access_key_id",
            "prompt_tokens",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn every_secret_word_holds_a_stem() {
        // The stem test answers before the word lists are read: a word added to
        // them without a stem would never be reached.
        for w in SECRET_WORDS.iter().chain(&["key", "keys"]) {
            assert!(holds_secret_stem(w.as_bytes()), "{w}");
        }
        for q in KEY_QUALIFIERS {
            assert!(holds_secret_stem(format!("{q}_key").as_bytes()), "{q}");
        }
        assert!(!holds_secret_stem(b"request_id"));
    }

    #[test]
    fn placeholders() {
        for v in [
            "<YOUR_API_KEY>",
            "${API_KEY}",
            "{{ .Values.token }}",
            "$TOKEN",
            "%PASSWORD%",
            "********",
            "xxxxxxxxxxxx",
            "changeme",
            "your-api-key-here",
            "os.environ['X']",
            "process.env.TOKEN",
            "null",
            "[REDACTED:github-pat]",
            "/run/secrets/db_password",
            "getSecret()",
            "config.api_key",
            "abc",
        ] {
            assert!(is_placeholder(v), "{v}");
        }
        for v in [
            "hunter2hunter2",
            "S3cr3t!pass",
            "wJalrXUtnFEMI/K7MDENG",
            "p@ss/word",
        ] {
            assert!(!is_placeholder(v), "{v}");
        }
    }

    #[test]
    fn randomness() {
        for v in [
            "S3cr3tP@ss",
            "hunter2!x",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "a8f5f167f44f4964e6c998dee827110c",
            "Tr0ub4dor&3",
            "9f86d081884c7d659a2feaa0c55ad015",
            "xKqPzRtLmNbVcXwY",
        ] {
            assert!(looks_random(v), "{v}");
        }
        for v in [
            "required",
            "my-application-name",
            "default_value",
            "1.2.3",
            "2024-01-01",
            "localhost",
            "bearer",
            "string",
            "Authentication",
            "MyApplicationName",
        ] {
            assert!(!looks_random(v), "{v}");
        }
    }

    #[test]
    fn structural_checks() {
        assert!(is_basic_auth("dXNlcjpwYXNzd29yZA==")); // user:password
        assert!(!is_basic_auth("aGVsbG8gd29ybGQ=")); // hello world
        assert!(!is_basic_auth("not base64!"));
        // "-----BEGIN RSA PRIVATE KEY-----" and a certificate.
        assert!(is_base64_private_key(
            "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVB"
        ));
        assert!(!is_base64_private_key(
            "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSURkekNDQWwrZ0F3SUJBZ0lF"
        ));
        assert!(shannon(b"aaaa") < 0.01);
        assert!((shannon(b"abcd") - 2.0).abs() < 0.01);
    }

    #[test]
    fn base62_checksum() {
        // A token built by the published algorithm, and the same with one change.
        let entropy = "zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ";
        let mut n = crc32fast::hash(entropy.as_bytes());
        let dict = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut sum = [b'0'; 6];
        for slot in sum.iter_mut().rev() {
            *slot = dict[(n % 62) as usize];
            n /= 62;
        }
        let token = format!("ghp_{entropy}{}", std::str::from_utf8(&sum).unwrap());
        assert!(base62_crc32_valid(&token));
        assert!(!base62_crc32_valid(&token.replace('z', "y")));
        assert!(!base62_crc32_valid("ghp_short"));
    }
}
