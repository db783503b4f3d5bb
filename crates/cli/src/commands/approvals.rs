//! `mcpguard approvals list|show|approve|deny`: four-eyes approval requests in
//! a deployment's Redis.

use std::sync::Arc;

use mcpguard_policy::{
    REDIS_URL_VAR, RedisApprovalStore, RedisConfig, Review, ReviewError, Reviews, quoted,
    quoted_json,
};
use serde_json::{Value, json};

use crate::{Exit, Failure, Format, bad, json_out};

/// What to do.
pub(crate) enum Action {
    List,
    Show(String),
    /// The request, the reviewer (default `$USER`), approve (else deny).
    Decide(String, Option<String>, bool),
}

pub(crate) fn approvals(
    store: Option<&str>,
    namespace: &str,
    action: &Action,
    format: Format,
) -> Exit {
    let config = match store {
        Some(url) => RedisConfig::new(url, namespace),
        None => RedisConfig::from_env(REDIS_URL_VAR, namespace),
    }
    .map_err(|e| bad(format!("--store: {e}")))?;
    let redis = RedisApprovalStore::new(config);
    redis
        .ping()
        .map_err(|e| bad(format!("the approval store cannot be reached: {e}")))?;
    let reviews = Reviews::new(Arc::new(redis));
    match action {
        Action::List => {
            let all = reviews.list().map_err(|e| bad(e.to_string()))?;
            match format {
                Format::Json => json_out(&all.iter().map(summary).collect::<Vec<_>>())?,
                Format::Text if all.is_empty() => say!("no approval requests"),
                Format::Text => {
                    // Every value but the state came from a caller (or whoever
                    // can write the store): quoted, so none can forge a row.
                    for r in &all {
                        say!(
                            "{}  {:<9} {} wants {}/{}{}",
                            quoted(r.id()),
                            state(r),
                            quoted(r.caller()),
                            quoted(r.server()),
                            quoted(r.tool()),
                            r.target()
                                .map(|t| format!(" on {}", quoted(t)))
                                .unwrap_or_default()
                        );
                    }
                }
            }
            Ok(0)
        }
        Action::Show(id) => {
            let review = reviews
                .get(id)
                .map_err(|e| bad(e.to_string()))?
                .ok_or_else(|| Failure(format!("no approval request `{id}`"), 1))?;
            show(&review, format)?;
            Ok(0)
        }
        Action::Decide(id, reviewer, approve) => {
            let reviewer = reviewer
                .clone()
                .or_else(|| std::env::var("USER").ok())
                .ok_or_else(|| bad("name the reviewer with --reviewer (USER is not set)"))?;
            let decided = if *approve {
                reviews.approve(id, &reviewer)
            } else {
                reviews.deny(id, &reviewer)
            };
            match decided {
                Ok(review) => {
                    if matches!(format, Format::Json) {
                        json_out(&summary(&review))?;
                    } else {
                        say!(
                            "{} {}: {} by {}; {}",
                            if *approve { "approved" } else { "denied" },
                            quoted(review.id()),
                            quoted(review.tool()),
                            quoted(&reviewer),
                            if *approve {
                                "the caller's retry of the same call runs once"
                            } else {
                                "the caller's retry is refused"
                            }
                        );
                    }
                    Ok(0)
                }
                // The answer is "no": not this reviewer, not this request.
                Err(
                    e @ (ReviewError::OwnCall(_)
                    | ReviewError::Decided { .. }
                    | ReviewError::Unknown(_)
                    | ReviewError::BadReviewer(_)),
                ) => Err(Failure(e.to_string(), 1)),
                Err(e) => Err(bad(e.to_string())),
            }
        }
    }
}

fn state(review: &Review) -> &'static str {
    match review.decision() {
        None => "pending",
        Some(d) if d.approved() => "approved",
        Some(_) => "denied",
    }
}

fn summary(review: &Review) -> Value {
    json!({
        "id": review.id(),
        "state": state(review),
        "caller": review.caller(),
        "server": review.server(),
        "tool": review.tool(),
        "target": review.target(),
        "arguments": review.arguments(),
        "question": review.question(),
        "requested_at": review.requested_at(),
        "expires_at": review.expires_at(),
        "reviewer": review.decision().map(|d| d.reviewer()),
    })
}

fn show(review: &Review, format: Format) -> Result<(), Failure> {
    if matches!(format, Format::Json) {
        return json_out(&summary(review));
    }
    // Every value but the state and the times came from a caller (or whoever
    // can write the store): quoted, so none can forge a line.
    say!("request   {}", quoted(review.id()));
    say!("state     {}", state(review));
    say!("caller    {}", quoted(review.caller()));
    say!(
        "call      {}/{}",
        quoted(review.server()),
        quoted(review.tool())
    );
    if let Some(target) = review.target() {
        say!("target    {}", quoted(target));
    }
    say!("arguments {}", quoted_json(review.arguments()));
    say!("expires   {} (Unix time)", review.expires_at());
    if let Some(d) = review.decision() {
        say!("reviewer  {}", quoted(d.reviewer()));
    }
    say!("");
    // The question is the gate's text, its values quoted already; what is
    // stored may have been written by anyone who reaches the store, so it
    // loses escapes and hidden characters, and keeps its line breaks only.
    let (question, _) = mcpguard_core::sanitize(review.question());
    for line in question.lines() {
        say!("{}", line.replace('\r', "\\r"));
    }
    Ok(())
}
