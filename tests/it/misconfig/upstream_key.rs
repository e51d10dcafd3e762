//! Item 2: a remote provider whose `api_key_env` names an unset or empty
//! variable fails `config check` (exit 2) and warns at `serve` start; a key
//! pasted into `api_key_env` is refused without being repeated.

use crate::support::Tokctl;

fn provider(key_env: &str) -> String {
    format!(
        "[providers.up]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
         api_key_env = \"{key_env}\"\n\
         [[models]]\nname = \"m\"\nprovider = \"up\"\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n"
    )
}

#[test]
fn config_check_fails_when_the_key_variable_is_unset_or_empty() {
    let var = "IT_UPSTREAM_KEY_FOR_CHECK";
    let run = Tokctl::new().config(&provider(var));
    let out = run.run(&["config", "check"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("providers.up.api_key_env")
            && out.stderr.contains(&format!("${var} is not set"))
            && out.stderr.contains("provider `up`"),
        "{}",
        out.stderr
    );
    let empty = Tokctl::new().config(&provider(var)).env(var, "  ");
    let out = empty.run(&["config", "check"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains(&format!("${var} is empty")),
        "{}",
        out.stderr
    );
    let set = Tokctl::new().config(&provider(var)).env(var, "sk-test-123");
    let out = set.run(&["config", "check"]);
    out.expect_code(0);
    assert!(
        out.stderr.contains("configuration is valid"),
        "{}",
        out.stderr
    );
    // No key variable at all is a deliberate choice (a local upstream).
    let none = Tokctl::new().config(&provider(""));
    none.run(&["config", "check"]).expect_code(0);
}

#[test]
fn serve_warns_at_start_when_the_key_variable_is_unset() {
    // serve stops at once on a port already taken, after its start checks.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("addr").to_string();
    let var = "IT_UPSTREAM_KEY_FOR_SERVE";
    let run = Tokctl::new().config(&provider(var));
    let out = run.run(&["serve", "--listen", &addr]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "warning: providers.up.api_key_env: ${var} is not set"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn a_key_pasted_into_api_key_env_is_refused_with_a_hint() {
    for pasted in ["sk-proj-Zq8secretsecret", "sk-ant-api03-Zq8secretsecret"] {
        let run = Tokctl::new().config(&provider(pasted));
        let out = run.run(&["config", "check"]);
        out.expect_code(2);
        assert!(
            out.stderr.contains("providers.up.api_key_env")
                && out.stderr.contains("looks like an API key itself")
                && out.stderr.contains("export UP_API_KEY="),
            "{}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("Zq8secret"),
            "the key is repeated: {}",
            out.stderr
        );
        // Every command refuses it, not only `config check`.
        run.run(&["users", "list"]).expect_code(2);
    }
}
