"""A streamed chat completion through a model whose first deployment answers
429: the official OpenAI SDK must see one clean stream from the second, and
the gateway's routing headers.

Usage: python3 scripts/sdk_route_failover.py http://127.0.0.1:8080 tok_KEY
The gateway routes model `m` to a deployment `first` that answers 429 and a
deployment `second` that streams "Hello there friend" (tests/it/gateway/routing.rs).
"""
import sys

import openai

base, key = sys.argv[1], sys.argv[2]
# No SDK retries: the failover must be the gateway's.
oa = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
raw = oa.chat.completions.with_raw_response.create(
    model="m",
    messages=[{"role": "user", "content": "hi"}],
    stream=True,
    stream_options={"include_usage": True},
)
assert raw.headers.get("x-tokctl-attempts") == "2", dict(raw.headers)
assert raw.headers.get("x-tokctl-deployment") == "second", dict(raw.headers)
text, usage = "", None
for chunk in raw.parse():
    if chunk.choices:
        text += chunk.choices[0].delta.content or ""
    if chunk.usage:
        usage = chunk.usage
assert text == "Hello there friend", repr(text)
assert usage is not None and usage.prompt_tokens == 30, usage
print("ok")
