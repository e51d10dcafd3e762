//! Every client API to every provider API: the official OpenAI and
//! Anthropic SDKs (Python) through the real binary, in all four
//! combinations, against an upstream that refuses what its API would
//! refuse (`api_upstream`). Plain, streamed, a tool call (plain and
//! streamed) and its result on a second turn; then the ledger: each row
//! says the client's API and the provider's, and a translated request
//! records the same usage as the pass-through request to the same upstream.

use sqlx::Row;

use super::cases::run_sdk_script;
use super::harness::{Gateway, Upstream, start_upstream};
use crate::support::TestDb;

/// Requests the script makes per combination (plain, streamed, tool call
/// plain and streamed, the second turn).
const PER_COMBINATION: usize = 5;

/// One ledger row, as this test compares them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    endpoint: String,
    model: String,
    upstream_api: Option<String>,
    status: i64,
    /// input, cached input, cache writes, output.
    usage: [i64; 4],
    streamed: bool,
}

async fn ledger(db: &TestDb) -> Vec<Seen> {
    const SQL: &str = "SELECT endpoint, model, upstream_api, CAST(status_code AS BIGINT), \
        input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, streamed \
        FROM usage_entries ORDER BY request_id";
    macro_rules! seen {
        ($rows:expr) => {
            $rows
                .iter()
                .map(|r| Seen {
                    endpoint: r.get(0),
                    model: r.get(1),
                    upstream_api: r.get(2),
                    status: r.get(3),
                    usage: [r.get(4), r.get(5), r.get(6), r.get(7)],
                    streamed: r.get(8),
                })
                .collect()
        };
    }
    match db.connect().await {
        tokctl::db::Db::Sqlite(p) => seen!(sqlx::query(SQL).fetch_all(&p).await.expect("rows")),
        tokctl::db::Db::Postgres(p) => seen!(sqlx::query(SQL).fetch_all(&p).await.expect("rows")),
    }
}

pub async fn every_client_api_reaches_every_provider(db: &TestDb) {
    let up = Upstream {
        validate: true,
        stream_usage: true,
        ..Default::default()
    };
    let base = start_upstream(up.clone()).await;
    let extra = format!(
        "[providers.oai]\nkind = \"openai\"\nbase_url = \"{base}\"\nmax_retries = 0\n\
         [providers.ant]\nkind = \"anthropic\"\nbase_url = \"{base}\"\nmax_retries = 0\n\
         [[models]]\nname = \"chat-up\"\nprovider = \"oai\"\nupstream_model = \"gpt-up\"\nfree = true\n\
         [[models]]\nname = \"messages-up\"\nprovider = \"ant\"\nupstream_model = \"claude-up\"\nfree = true\n\
         max_tokens_default = 777\n"
    );
    let gw = Gateway::start(&db.dsn, &extra);
    run_sdk_script("sdk_translate.py", &gw).await;
    assert_eq!(gw.stop().0, 0);

    // What reached the upstream is valid for its API (it refuses anything
    // else), and a Chat client's missing limit became the model's default.
    let received = up.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 4 * PER_COMBINATION);
    let to_messages: Vec<serde_json::Value> = received
        .iter()
        .filter_map(|(_, b)| serde_json::from_slice::<serde_json::Value>(b).ok())
        .filter(|v| v["model"] == "claude-up")
        .collect();
    assert_eq!(to_messages.len(), 2 * PER_COMBINATION);
    assert!(
        to_messages.iter().any(|v| v["max_tokens"] == 777),
        "a Chat client without max_tokens gets max_tokens_default upstream"
    );

    let rows = ledger(db).await;
    assert_eq!(rows.len(), 4 * PER_COMBINATION, "{rows:#?}");
    let combos: Vec<&[Seen]> = rows.chunks(PER_COMBINATION).collect();
    let expect = [
        ("/v1/chat/completions", "chat-up", "chat"),
        ("/v1/chat/completions", "messages-up", "messages"),
        ("/v1/messages", "messages-up", "messages"),
        ("/v1/messages", "chat-up", "chat"),
    ];
    for (combo, (endpoint, model, api)) in combos.iter().zip(expect) {
        for r in combo.iter() {
            assert_eq!(
                (
                    r.endpoint.as_str(),
                    r.model.as_str(),
                    r.upstream_api.as_deref(),
                    r.status
                ),
                (endpoint, model, Some(api), 200),
                "{r:?}"
            );
            assert!(r.usage[3] > 0, "output tokens recorded: {r:?}");
        }
        let streamed: Vec<bool> = combo.iter().map(|r| r.streamed).collect();
        assert_eq!(streamed, [false, true, false, true, false]);
    }
    // The same upstream reports the same usage whichever API the client
    // speaks: a translated row equals the pass-through row beside it.
    let usage = |c: &[Seen]| c.iter().map(|r| r.usage).collect::<Vec<_>>();
    assert_eq!(usage(combos[3]), usage(combos[0]), "the OpenAI upstream");
    assert_eq!(usage(combos[1]), usage(combos[2]), "the Anthropic upstream");
}

crate::dbtest!(every_client_api_reaches_every_provider, |db| {
    every_client_api_reaches_every_provider(&db).await;
});
