//! A deterministic generator of the log an MCP server writes in production:
//! structured lines of `key=value` pairs (request, trace and session ids, UUIDs,
//! counters whose names hold `token`, `key`, `auth`), JSON-RPC requests and results,
//! URLs with query strings, stack frames, and one fake secret about every 50 KB.
//! Shared by `benches/redact.rs` (`redact/structured_log`, `redact/jsonrpc_results`)
//! and `examples/structured_log.rs` (the whole-process throughput script).

/// A linear congruential generator: the same seed gives the same text everywhere.
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    /// The next 31 bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A number below `n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// One of `items`.
    pub(crate) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        items.get(i).copied().unwrap_or("")
    }

    /// `n` characters of `alphabet`.
    pub(crate) fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| {
                let i = usize::try_from(self.below(alphabet.len() as u64)).unwrap_or(0);
                char::from(alphabet.get(i).copied().unwrap_or(b'x'))
            })
            .collect()
    }

    /// `n` lowercase hex digits.
    pub(crate) fn hex(&mut self, n: usize) -> String {
        self.chars(b"0123456789abcdef", n)
    }

    /// A version-4 UUID.
    pub(crate) fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-{}{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.pick(&["8", "9", "a", "b"]),
            self.hex(3),
            self.hex(12)
        )
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn timestamp(rng: &mut Lcg) -> String {
    format!(
        "2026-11-30T{:02}:{:02}:{:02}.{:06}Z",
        rng.below(24),
        rng.below(60),
        rng.below(60),
        rng.below(1_000_000)
    )
}

const TOOLS: &[&str] = &[
    "read_file",
    "search_code",
    "list_issues",
    "get_pull_request",
    "query",
    "fetch_url",
    "create_comment",
];

/// A JSON-RPC result body as a tool returns it (file text, search hits, rows).
pub(crate) fn jsonrpc_result(rng: &mut Lcg) -> String {
    let id = rng.below(100_000);
    let text = match rng.below(5) {
        0 => format!(
            "fn handle(req: Request) -> Result<Response> {{\\n    let token_count = req.tokens().len();\\n    let cache_key = format!(\\\"{{}}:{{}}\\\", req.user_id, req.session_id);\\n    Ok(Response::new(token_count))\\n}}\\n// line {}",
            rng.below(900)
        ),
        1 => format!(
            "Found {} matches:\\nsrc/auth/session.rs:{}: let key_id = keys.current().id;\\nsrc/api/tokens.rs:{}: if token.expires_at < now {{ refresh(token) }}",
            rng.below(40),
            rng.below(400),
            rng.below(400)
        ),
        2 => format!(
            "| id | title | state |\\n|---|---|---|\\n| {} | Rotate API key schedule | open |\\n| {} | Session timeout too short | closed |",
            rng.below(9000),
            rng.below(9000)
        ),
        3 => format!(
            "<html><head><meta name=\\\"csrf-param\\\" content=\\\"authenticity_token\\\"></head><body><a href=\\\"https://docs.example.com/guide?section={}&lang=en\\\">Guide</a></body></html>",
            rng.below(50)
        ),
        _ => format!(
            "[{{\\\"user_id\\\": {}, \\\"account\\\": \\\"acme\\\", \\\"plan\\\": \\\"team\\\", \\\"api_calls\\\": {}, \\\"last_login\\\": \\\"{}\\\"}}]",
            rng.below(90_000),
            rng.below(100_000),
            timestamp(rng)
        ),
    };
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"{text}"}}],"isError":false,"_meta":{{"requestId":"{}"}}}}}}"#,
        rng.uuid()
    )
}

/// One structured line, free of secrets.
pub(crate) fn line(rng: &mut Lcg) -> String {
    let ts = timestamp(rng);
    let level = rng.pick(&["INFO", "INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"]);
    let request_id = rng.uuid();
    let trace_id = rng.hex(32);
    let span_id = rng.hex(16);
    let session_id = rng.uuid();
    let tool = rng.pick(TOOLS);
    let body = match rng.below(10) {
        0 => format!(
            r#"msg="tools/call" tool={tool} request={{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"path":"src/handlers/mod.rs","limit":{}}}}}}}"#,
            rng.below(100_000),
            rng.below(500)
        ),
        1 => format!(
            "msg=\"tools/call result\" tool={tool} duration_ms={} response={}",
            rng.below(2000),
            jsonrpc_result(rng)
        ),
        2 => format!(
            "msg=\"upstream request\" method=GET url=\"https://api.github.com/repos/acme/widgets/issues?state=open&page={}&per_page=100&sort=updated\" status=200 bytes={}",
            rng.below(30),
            rng.below(90_000)
        ),
        3 => format!(
            "msg=\"token usage\" input_tokens={} output_tokens={} max_tokens=8192 token_budget_remaining={} model=claude-sonnet",
            rng.below(50_000),
            rng.below(8000),
            rng.below(1_000_000)
        ),
        4 => format!(
            "msg=\"cache lookup\" cache_key=\"repo:acme/widgets:tree:{}\" hit={} key_count={} ttl_s=300",
            rng.hex(12),
            rng.pick(&["true", "false"]),
            rng.below(10_000)
        ),
        5 => format!(
            "msg=\"auth ok\" auth_method=oauth client_id={} user_id={} scopes=\"repo read:org\" key_id={} token_type=Bearer expires_in=3600",
            rng.chars(ALNUM, 20),
            rng.below(1_000_000),
            rng.hex(8)
        ),
        6 => format!(
            "msg=\"query\" db=postgres host=db.internal:5432 sql=\"SELECT id, name, api_key_id FROM accounts WHERE org_id = $1 LIMIT 100\" rows={} elapsed_ms={}",
            rng.below(100),
            rng.below(300)
        ),
        7 => format!(
            "msg=\"handler error\" error=\"timeout after 30s\" at=\"mcp_server::tools::{tool} (src/tools/{tool}.rs:{}:9)\" retry={} password_policy=strong",
            rng.below(400),
            rng.below(3)
        ),
        8 => format!(
            "msg=\"session resumed\" mcp_session_id={} protocol=2025-06-18 client=\"claude-code/2.0.{}\" secret_scanning=enabled",
            rng.uuid(),
            rng.below(40)
        ),
        _ => format!(
            "msg=\"fetched\" url=\"https://docs.example.com/search?q=rotate+api+key&page={}&sig_version=2\" content_type=text/html sha256={}",
            rng.below(10),
            rng.hex(64)
        ),
    };
    format!(
        "{ts} level={level} service=mcp-server request_id={request_id} trace_id={trace_id} span_id={span_id} session_id={session_id} {body}\n"
    )
}

/// One line carrying a fake secret, in the places secrets leak into logs.
pub(crate) fn secret_line(rng: &mut Lcg, n: usize) -> String {
    let ts = timestamp(rng);
    match n % 6 {
        0 => format!(
            "{ts} level=DEBUG msg=\"env\" GITHUB_TOKEN=ghp_{}\n",
            rng.chars(ALNUM, 36)
        ),
        1 => format!(
            "{ts} level=DEBUG msg=\"upstream headers\" authorization=\"Bearer sk-ant-api03-{}-{}AA\"\n",
            rng.chars(ALNUM, 40),
            rng.chars(ALNUM, 50)
        ),
        2 => format!(
            "{ts} level=WARN msg=\"connect\" url=\"postgres://app:{}@db.internal:5432/app\"\n",
            rng.chars(ALNUM, 18)
        ),
        3 => format!(
            "{ts} level=DEBUG msg=\"config\" aws_secret_access_key={}\n",
            rng.chars(ALNUM, 40)
        ),
        4 => format!(
            "{ts} level=DEBUG msg=\"slack\" token=xoxb-{}-{}-{}\n",
            rng.below(1_000_000_000_000),
            rng.below(1_000_000_000_000),
            rng.chars(ALNUM, 24)
        ),
        _ => format!(
            "{ts} level=DEBUG msg=\"stripe\" STRIPE_SECRET_KEY=sk_live_{}\n",
            rng.chars(ALNUM, 32)
        ),
    }
}

/// At least `bytes` bytes of log, from `seed`, a secret line about every
/// `secret_every` bytes (never, when 0). Returns the text and how many secret
/// lines it holds.
pub(crate) fn log(seed: u64, bytes: usize, secret_every: usize) -> (String, usize) {
    let mut rng = Lcg(seed);
    let mut out = String::with_capacity(bytes + 4096);
    let mut next_secret = secret_every;
    let mut secrets = 0;
    while out.len() < bytes {
        out.push_str(&line(&mut rng));
        if secret_every > 0 && out.len() >= next_secret {
            out.push_str(&secret_line(&mut rng, secrets));
            secrets += 1;
            next_secret += secret_every;
        }
    }
    (out, secrets)
}

/// JSON-RPC result messages (one per string) adding up to at least `bytes` bytes,
/// from `seed`; about every 50 KB a result carries a fake secret in its text, as
/// a tool that reads a `.env` file returns it.
pub(crate) fn jsonrpc_results(seed: u64, bytes: usize) -> Vec<String> {
    let mut rng = Lcg(seed);
    let mut out = Vec::new();
    let (mut total, mut next_secret, mut secrets) = (0, 50_000, 0);
    while total < bytes {
        let mut message = jsonrpc_result(&mut rng);
        if total >= next_secret {
            let secret = secret_line(&mut rng, secrets);
            let escaped = serde_json::to_string(secret.trim_end()).unwrap_or_default();
            let inner = escaped.trim_matches('"');
            message = message.replacen(r#""text":""#, &format!(r#""text":"{inner}\n"#), 1);
            secrets += 1;
            next_secret += 50_000;
        }
        total += message.len();
        out.push(message);
    }
    out
}
