//! The Kubernetes manifests (deploy/kubernetes) rendered by `kubectl
//! kustomize` and read back: probes, ports, the grace period and the
//! securityContext against the config.toml the ConfigMap mounts, and the
//! probe paths asked of a real gateway; plus `tokctl health --live`, the
//! liveness check the container image carries.

use std::process::Command;

use serde_json::Value;

use super::deploy::{listen_port, load_config, repo, run_ok, tool, written_paths, yaml_docs};
use crate::gateway::harness::Gateway;
use crate::support::{TestDb, Tokctl, free_port};

/// `kubectl kustomize DIR`, as JSON documents.
fn render(dir: &str) -> Vec<Value> {
    let kubectl = tool("kubectl", "kubernetes-client");
    yaml_docs(&run_ok(
        Command::new(kubectl).arg("kustomize").arg(repo(dir)),
    ))
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the rendered manifests"))
}

/// A probe's path and its port resolved through the container's named ports.
fn probe(container: &Value, which: &str) -> (String, u64) {
    let get = &container[which]["httpGet"];
    let path = get["path"]
        .as_str()
        .unwrap_or_else(|| panic!("{which} has no httpGet path"));
    let port = match &get["port"] {
        Value::String(name) => container["ports"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name.as_str()))
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("{which} names port {name}, which the container lacks")),
        v => v.as_u64().expect("a port number"),
    };
    (path.to_string(), port)
}

#[tokio::test]
async fn kustomize_base_matches_the_config_it_mounts() {
    let docs = render("deploy/kubernetes/base");
    let sts = find(&docs, "StatefulSet", "tokctl");
    let pod = &sts["spec"]["template"]["spec"];
    let c = &pod["containers"][0];

    // The config the pods get: the generated ConfigMap the StatefulSet mounts.
    let cm_name = pod["volumes"]
        .as_array()
        .and_then(|vs| vs.iter().find_map(|v| v["configMap"]["name"].as_str()))
        .expect("a ConfigMap volume");
    let cm = find(&docs, "ConfigMap", cm_name);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        cm["data"]["config.toml"].as_str().expect("config.toml"),
    )
    .expect("write");
    let literal_env: Vec<(String, String)> = c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["name"].as_str()?.into(), e["value"].as_str()?.into())))
        .collect();
    let config = load_config(&path, &literal_env);
    let port = u64::from(listen_port(&config.server.listen));

    let (live, live_port) = probe(c, "livenessProbe");
    let (ready, ready_port) = probe(c, "readinessProbe");
    let (start, start_port) = probe(c, "startupProbe");
    assert_eq!((live.as_str(), live_port), ("/livez", port));
    assert_eq!((ready.as_str(), ready_port), ("/readyz", port));
    assert_eq!((start.as_str(), start_port), ("/livez", port));

    let grace = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("grace period");
    assert!(
        grace * 1000 > config.server.shutdown_timeout_ms + 5000,
        "terminationGracePeriodSeconds {grace} must leave the flush time beyond server.shutdown_timeout_ms = {}",
        config.server.shutdown_timeout_ms
    );

    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert!(
        sc["capabilities"]["drop"]
            .as_array()
            .is_some_and(|d| d.contains(&"ALL".into()))
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(
        pod["securityContext"]["runAsUser"]
            .as_u64()
            .is_some_and(|u| u != 0)
    );
    assert!(
        c["resources"]["requests"]["cpu"].is_string()
            && c["resources"]["limits"]["memory"].is_string()
    );

    // Every file tokctl writes is on the pod's own volume; the config's is read-only.
    let mounts = c["volumeMounts"].as_array().expect("mounts");
    let mount = |name: &str| mounts.iter().find(|m| m["name"] == name).expect("mounted");
    let data = mount("data")["mountPath"]
        .as_str()
        .expect("data path")
        .to_string();
    assert!(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data");
    assert_eq!(mount("config")["readOnly"], true);
    for p in written_paths(&config) {
        assert!(
            p.starts_with(&format!("{data}/")),
            "{p} is not on the data volume {data}"
        );
    }

    // The chain's instance id is the pod's name; secrets come from the Secret.
    let env = |name: &str| -> &Value {
        c["env"]
            .as_array()
            .and_then(|es| es.iter().find(|e| e["name"] == name))
            .unwrap_or_else(|| panic!("no env {name}"))
    };
    assert_eq!(
        env("TOKCTL_LEDGER_CHAIN_INSTANCE_ID")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    for v in [
        "TOKCTL_LEDGER_PATH",
        "TOKCTL_IDENTITY_PATH",
        "TOKCTL_LEDGER_CHAIN_HMAC_KEY",
    ] {
        assert_eq!(
            env(v)["valueFrom"]["secretKeyRef"]["name"],
            "tokctl-secrets",
            "{v}"
        );
    }

    let svc = find(&docs, "Service", "tokctl");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(
        find(&docs, "Service", "tokctl-headless")["spec"]["clusterIP"],
        "None"
    );
    assert_eq!(sts["spec"]["serviceName"], "tokctl-headless");
    assert_eq!(
        find(&docs, "HorizontalPodAutoscaler", "tokctl")["spec"]["scaleTargetRef"]["name"],
        "tokctl"
    );
    find(&docs, "PodDisruptionBudget", "tokctl");

    // The gateway answers the probes' paths with 200.
    let db = TestDb::sqlite();
    let gw = Gateway::start(&db.dsn, "");
    let client = reqwest::Client::new();
    for p in [&live, &ready] {
        let r = client.get(gw.url(p)).send().await.expect("probe request");
        assert_eq!(r.status(), 200, "{p}");
    }
}

#[test]
fn monitoring_overlay_adds_a_service_monitor_for_the_main_service_only() {
    let docs = render("deploy/kubernetes/monitoring");
    let sm = find(&docs, "ServiceMonitor", "tokctl");
    let selector = sm["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels");
    let matches = |svc: &Value| {
        selector
            .iter()
            .all(|(k, v)| svc["metadata"]["labels"][k] == *v)
    };
    assert!(matches(find(&docs, "Service", "tokctl")));
    assert!(
        !matches(find(&docs, "Service", "tokctl-headless")),
        "pods would be scraped twice"
    );
    let port = sm["spec"]["endpoints"][0]["port"]
        .as_str()
        .expect("port name");
    let svc = find(&docs, "Service", "tokctl");
    assert!(
        svc["spec"]["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .any(|p| p["name"] == port)
    );
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
}

/// Gateway config with two providers: `mock` (model `gpt-4o-mini`) and
/// `dead` (model `gone`), an OpenAI-compatible base URL nobody listens on.
pub fn with_dead_provider() -> String {
    let dead = free_port();
    format!(
        "[health]\nprovider_check_interval_ms = 200\n\
         [providers.dead]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{dead}/v1\"\nmax_retries = 0\n\
         [providers.mock]\nkind = \"mock\"\n\
         [[models]]\nname = \"gpt-4o-mini\"\nprovider = \"mock\"\n[[models]]\nname = \"gone\"\nprovider = \"dead\"\n"
    )
}

#[test]
fn health_live_is_true_while_the_gateway_serves_even_degraded() {
    // A provider nobody listens on: /health is degraded, the process is live.
    let db = TestDb::sqlite();
    let gw = Gateway::start(&db.dsn, &with_dead_provider());
    let url = gw.url("");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Tokctl::new().run(&["health", "--url", &url]).code != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway never reported degraded"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = Tokctl::new().run(&["health", "--live", "--url", &url]);
    out.expect_code(0);
    assert!(out.stdout.starts_with("live: "), "{}", out.stdout);
    assert!(out.stdout.contains("/livez answered 200"), "{}", out.stdout);

    // Something that answers, but not a live tokctl: CRITICAL.
    let wrong = gw.url("/nowhere");
    let out = Tokctl::new().run(&["health", "--live", "--url", &wrong]);
    out.expect_code(2);
    assert!(out.stdout.starts_with("not live: "), "{}", out.stdout);

    // Nothing listening: UNKNOWN, with the address in the error.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let out = Tokctl::new().run(&["health", "--live", "--url", &closed, "--timeout", "2"]);
    out.expect_code(3);
    assert!(out.stderr.contains(&closed), "{}", out.stderr);
    // --live only asks /livez: it takes none of the report's flags.
    Tokctl::new()
        .run(&["health", "--live", "--direct"])
        .expect_code(3);
    Tokctl::new()
        .run(&["health", "--live", "--json", "--url", &url])
        .expect_code(3);
}
