"""Drives a running `tokctl serve` whose key has spent its budget, with the
official OpenAI and Anthropic SDKs at their default retry settings.

Usage: python3 scripts/sdk_budget.py http://127.0.0.1:8080 tok_KEY MODEL
Each SDK must raise at once on the 429 `budget_exceeded` (the gateway says
`x-should-retry: false`, so neither retries): the OpenAI SDK a
RateLimitError whose code is budget_exceeded and type insufficient_quota,
the Anthropic SDK a RateLimitError whose message starts `budget_exceeded:`.
The caller counts the refusals the gateway served (one per SDK: no retry).
Exits non-zero on any failure.
"""
import sys

import anthropic
import openai

base, key, model = sys.argv[1], sys.argv[2], sys.argv[3]
oa = openai.OpenAI(base_url=f"{base}/v1", api_key=key)
try:
    oa.chat.completions.create(model=model, max_tokens=24, messages=[{"role": "user", "content": "hi"}])
    raise AssertionError("an exhausted budget admitted an OpenAI request")
except openai.RateLimitError as err:
    assert err.status_code == 429, err
    assert err.code == "budget_exceeded", err.body
    assert err.type == "insufficient_quota", err.body
    assert err.response.headers.get("x-should-retry") == "false", err.response.headers
    assert err.response.headers.get("x-ratelimit-type") == "budget", err.response.headers
    assert err.response.headers.get("x-tokctl-budget-reset", "").endswith("Z"), err.response.headers

an = anthropic.Anthropic(base_url=base, api_key=key)
try:
    an.messages.create(model=model, max_tokens=24, messages=[{"role": "user", "content": "hi"}])
    raise AssertionError("an exhausted budget admitted an Anthropic request")
except anthropic.RateLimitError as err:
    message = err.body["error"]["message"]
    assert message.startswith("budget_exceeded:"), message
