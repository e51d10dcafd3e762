//! Users, API keys and the cached authenticator, on SQLite and PostgreSQL:
//! the store through the library, the `users` and `keys` commands through
//! the real binary ([`cli`]), and the cache through a real outage (a
//! closed pool).

use std::time::Duration;

use tokctl::db::{Db, Dsn, migrate, now_us};
use tokctl::identity::{
    AuthError, Authenticator, IdentityError, NewKey, hash_key, keys::DISPLAY_PREFIX_CHARS, store,
};

mod cli;
mod outage;

use crate::support::TestDb;

/// A pool on `t` with the schema applied.
pub async fn migrated(t: &TestDb) -> Db {
    let db = t.connect().await;
    let dsn = Dsn::parse(&t.dsn).expect("a test DSN parses");
    migrate::apply(&db, &dsn, &|| {})
        .await
        .expect("applying migrations");
    db
}

/// A user with one key; returns the plaintext key.
async fn user_with_key(db: &Db, user: &str, k: &NewKey) -> String {
    store::create_user(db, user).await.expect("creating a user");
    store::create_key(db, user, k)
        .await
        .expect("creating a key")
        .plaintext
}

pub const SHORT_TTL: Duration = Duration::from_millis(200);

/// Sleeps past the short TTL.
async fn past_ttl() {
    tokio::time::sleep(SHORT_TTL + Duration::from_millis(100)).await;
}

dbtest!(users_create_list_disable, |t| {
    let db = migrated(&t).await;
    assert_eq!(store::count_users(&db).await.expect("count"), 0);
    store::create_user(&db, "alice").await.expect("alice");
    store::create_user(&db, "bob").await.expect("bob");
    let dup = store::create_user(&db, "alice").await;
    assert!(
        matches!(&dup, Err(IdentityError::UserExists { name }) if name == "alice"),
        "{dup:?}"
    );
    assert!(matches!(
        store::create_user(&db, "has space").await,
        Err(IdentityError::InvalidName { .. })
    ));
    store::disable_user(&db, "bob").await.expect("disable bob");
    assert!(matches!(
        store::disable_user(&db, "carol").await,
        Err(IdentityError::UnknownUser { .. })
    ));
    let users = store::list_users(&db).await.expect("list");
    let seen: Vec<(&str, bool)> = users
        .iter()
        .map(|u| (u.name.as_str(), u.disabled))
        .collect();
    assert_eq!(seen, [("alice", false), ("bob", true)]);
    assert_eq!(store::count_users(&db).await.expect("count"), 2);
});

dbtest!(
    key_authenticates_until_revoked_then_refused_after_ttl,
    |t| {
        let db = migrated(&t).await;
        let settings = NewKey {
            name: "ci".into(),
            rps: Some(2.5),
            burst: Some(5),
            tokens_per_minute: Some(1000),
            ..NewKey::default()
        };
        let key = user_with_key(&db, "alice", &settings).await;
        assert!(key.starts_with("tok_") && key.len() >= 36, "{key}");
        let auth = Authenticator::new(db.clone(), SHORT_TTL);
        let p = auth.authenticate(&key).await.expect("a fresh key works");
        assert_eq!(p.user_name, "alice");
        assert_eq!(
            (p.rps, p.burst, p.tokens_per_minute),
            (Some(2.5), Some(5), Some(1000))
        );

        let listed = store::list_keys(&db, Some("alice")).await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].display_prefix, &key[..DISPLAY_PREFIX_CHARS]);
        assert_eq!(listed[0].id, p.key_id);

        let revoked = store::revoke_key(&db, &key[..DISPLAY_PREFIX_CHARS])
            .await
            .expect("revoke by prefix");
        assert!(revoked.revoked_at_us.is_some());
        past_ttl().await;
        let refused = auth.authenticate(&key).await;
        assert!(
            matches!(refused, Err(AuthError::Revoked { .. })),
            "{refused:?}"
        );
        assert_eq!(refused.map_err(|e| e.label()), Err("revoked"));

        assert!(matches!(
            store::revoke_key(&db, "tok_nothere00").await,
            Err(IdentityError::UnknownKey { .. })
        ));
        assert!(matches!(
            store::list_keys(&db, Some("nobody")).await,
            Err(IdentityError::UnknownUser { .. })
        ));
    }
);

dbtest!(revoke_by_id_and_by_full_key, |t| {
    let db = migrated(&t).await;
    let a = user_with_key(&db, "alice", &NewKey::default()).await;
    let b = store::create_key(&db, "alice", &NewKey::default())
        .await
        .expect("second key");
    store::revoke_key(&db, &b.key_id.to_string())
        .await
        .expect("revoke by id");
    store::revoke_key(&db, &a)
        .await
        .expect("revoke by full key");
    let unknown_full = "tok_ThisKeyDoesNotExist0123456789abcdefghij";
    let msg = store::revoke_key(&db, unknown_full)
        .await
        .map_err(|e| e.to_string())
        .expect_err("an unknown full key is an error");
    assert!(
        msg.contains("tok_ThisKeyD...") && !msg.contains(unknown_full),
        "errors never echo a full key: {msg}"
    );
    let keys = store::list_keys(&db, None).await.expect("list");
    assert!(keys.iter().all(|k| k.revoked_at_us.is_some()), "{keys:?}");
});

dbtest!(expired_key_is_refused, |t| {
    let db = migrated(&t).await;
    let soon = NewKey {
        expires_at_us: Some(now_us() + 1_000_000),
        ..NewKey::default()
    };
    let key = user_with_key(&db, "alice", &soon).await;
    let past = NewKey {
        expires_at_us: Some(now_us() - 1),
        ..NewKey::default()
    };
    let old = store::create_key(&db, "alice", &past)
        .await
        .expect("an expired key");
    // A long TTL: expiry is checked per request, even on a cached entry.
    let auth = Authenticator::new(db.clone(), Duration::from_secs(60));
    auth.authenticate(&key).await.expect("not yet expired");
    assert!(matches!(
        auth.authenticate(&old.plaintext).await,
        Err(AuthError::Expired { .. })
    ));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refused = auth.authenticate(&key).await;
    assert!(
        matches!(refused, Err(AuthError::Expired { .. })),
        "{refused:?}"
    );
});

dbtest!(disabled_user_is_refused_after_ttl, |t| {
    let db = migrated(&t).await;
    let key = user_with_key(&db, "alice", &NewKey::default()).await;
    let auth = Authenticator::new(db.clone(), SHORT_TTL);
    auth.authenticate(&key).await.expect("works before");
    store::disable_user(&db, "alice").await.expect("disable");
    past_ttl().await;
    let refused = auth.authenticate(&key).await;
    assert_eq!(
        refused,
        Err(AuthError::Disabled {
            user: "alice".into()
        })
    );
});

dbtest!(unknown_and_missing_keys, |t| {
    let db = migrated(&t).await;
    let auth = Authenticator::new(db.clone(), Duration::from_secs(60));
    assert_eq!(auth.authenticate("").await, Err(AuthError::Missing));
    let made_up = "tok_made_up_for_this_test_0123456789abcdef";
    assert_eq!(auth.authenticate(made_up).await, Err(AuthError::Invalid));
    let remembered_at = std::time::Instant::now();
    // Unknown is remembered briefly: a key that appears meanwhile is seen
    // once the negative entry lapses.
    store::create_user(&db, "alice").await.expect("alice");
    t.execute(&format!(
        "INSERT INTO api_keys (user_id, key_hash, display_prefix, created_at_us) \
         SELECT id, '{}', 'tok_made_up_', 1 FROM users WHERE name = 'alice'",
        hash_key(made_up)
    ))
    .await;
    let second = auth.authenticate(made_up).await;
    // Only meaningful while the negative entry is surely alive (a loaded
    // machine may take longer than its second to get here).
    if remembered_at.elapsed() < Duration::from_millis(900) {
        assert_eq!(second, Err(AuthError::Invalid), "unknown is remembered");
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let p = auth
        .authenticate(made_up)
        .await
        .expect("found after a second");
    assert_eq!(p.user_name, "alice");
});

dbtest!(cache_serves_known_keys_through_an_outage, |t| {
    let db = migrated(&t).await;
    let key = user_with_key(&db, "alice", &NewKey::default()).await;
    let long = Authenticator::new(db.clone(), Duration::from_secs(60));
    let short = Authenticator::new(db.clone(), Duration::from_millis(50));
    long.authenticate(&key).await.expect("fills the cache");
    short.authenticate(&key).await.expect("fills the cache");
    // The outage: no connection can be had from the pool any more.
    db.close().await;
    let p = long
        .authenticate(&key)
        .await
        .expect("a hit needs no database");
    assert_eq!(p.user_name, "alice");
    tokio::time::sleep(Duration::from_millis(100)).await;
    short
        .authenticate(&key)
        .await
        .expect("a stale entry is served while the database is unreachable");
    let unknown = long.authenticate("tok_never_seen_before_0000000000").await;
    assert_eq!(unknown, Err(AuthError::Unavailable));
    assert_eq!(
        unknown.map_err(|e| e.status()),
        Err(http::StatusCode::SERVICE_UNAVAILABLE)
    );
});

dbtest!(bootstrap_creates_exactly_one_admin, |t| {
    let db = migrated(&t).await;
    // Four pools, as four gateways starting at once would have.
    let mut pools = vec![db.clone()];
    for _ in 0..3 {
        pools.push(t.connect().await);
    }
    let results = futures_util::future::join_all(pools.iter().map(store::ensure_bootstrap)).await;
    let keys: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.expect("bootstrap succeeds or yields"))
        .collect();
    assert_eq!(keys.len(), 1, "exactly one bootstrap key: {keys:?}");
    assert_eq!(store::ensure_bootstrap(&db).await.expect("again"), None);
    let users = store::list_users(&db).await.expect("list");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].name, "admin");
    assert_eq!(users[0].active_keys, 1);
    let auth = Authenticator::new(db.clone(), SHORT_TTL);
    let p = auth.authenticate(&keys[0]).await.expect("admin key works");
    assert_eq!(p.user_name, "admin");
    for p in &pools[1..] {
        p.close().await;
    }
});

dbtest!(bootstrap_leaves_an_existing_install_alone, |t| {
    let db = migrated(&t).await;
    store::create_user(&db, "alice").await.expect("alice");
    assert_eq!(store::ensure_bootstrap(&db).await.expect("bootstrap"), None);
    assert_eq!(store::count_users(&db).await.expect("count"), 1);
});

/// A hung (not down) database: a lock holds every lookup. A key whose entry
/// is stale is still answered, after at most the refresh timeout.
#[tokio::test]
async fn stale_key_is_served_quickly_while_the_database_hangs() {
    let t = TestDb::postgres().await;
    let db = migrated(&t).await;
    let key = user_with_key(&db, "alice", &NewKey::default()).await;
    let auth = Authenticator::new(db.clone(), Duration::from_millis(50));
    auth.authenticate(&key).await.expect("fills the cache");
    let Db::Postgres(pool) = t.connect().await else {
        panic!("a PostgreSQL test database");
    };
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .expect("locking api_keys");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let p = auth
        .authenticate(&key)
        .await
        .expect("the stale entry answers");
    assert_eq!(p.user_name, "alice");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered in {:?}",
        started.elapsed()
    );
    tx.rollback().await.expect("rollback");
    pool.close().await;
}
