//! Item 5: a model without prices is named by `config check` (exit 2 with
//! `--strict`) and at `serve` start; `free = true` is exempt; a missing
//! cached-input price is the input price, and `config show` says so.

use crate::support::Tokctl;

fn model(lines: &str) -> String {
    format!("[[models]]\nname = \"local-llama\"\nprovider = \"mock\"\n{lines}")
}

#[test]
fn config_check_names_a_model_without_prices() {
    let run = Tokctl::new().config(&model("input_per_mtok = 1.0\n"));
    let out = run.run(&["config", "check"]);
    out.expect_code(0);
    assert!(
        out.stderr
            .contains("model `local-llama` has no output_per_mtok")
            && out.stderr.contains("billed at 0 USD")
            && out.stderr.contains("free = true")
            && out.stderr.contains("error in a later release"),
        "{}",
        out.stderr
    );
    let strict = run.run(&["config", "check", "--strict"]);
    strict.expect_code(2);
    assert!(strict.stderr.contains("local-llama"), "{}", strict.stderr);

    let none = Tokctl::new().config(&model(""));
    let out = none.run(&["config", "check"]);
    assert!(
        out.stderr
            .contains("has no input_per_mtok or output_per_mtok"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_free_model_is_exempt_and_a_free_model_with_a_price_is_refused() {
    let run = Tokctl::new().config(&model("free = true\n"));
    let out = run.run(&["config", "check", "--strict"]);
    out.expect_code(0);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    let both = Tokctl::new().config(&model("free = true\noutput_per_mtok = 2.0\n"));
    let out = both.run(&["config", "check"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("free = true but output_per_mtok = 2"),
        "{}",
        out.stderr
    );
}

#[test]
fn serve_warns_at_start_about_a_model_without_prices() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("addr").to_string();
    let run = Tokctl::new().config(&model("output_per_mtok = 2.0\n"));
    let out = run.run(&["serve", "--listen", &addr]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("warning: models: model `local-llama` has no input_per_mtok"),
        "{}",
        out.stderr
    );
}

#[test]
fn config_show_states_the_cached_price_it_falls_back_to() {
    let run = Tokctl::new().config(&model("input_per_mtok = 3.0\noutput_per_mtok = 15.0\n"));
    let out = run.run(&["config", "show"]);
    out.expect_code(0);
    assert!(
        out.stdout
            .contains("cached_input_per_mtok = 3.0  # not set: the input price"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("cache_write_per_mtok = 3.0  # not set: the input price"),
        "{}",
        out.stdout
    );
}
