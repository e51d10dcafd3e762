"""Drives a running `tokctl serve` with the official OpenAI and Anthropic SDKs.

Usage: python3 scripts/sdk_smoke.py http://127.0.0.1:8080 tok_KEY
Checks plain and streamed chat completions, embeddings, the model list and
Anthropic messages (plain and streamed), and that streamed usage arrives
when asked for. Exits non-zero on the first failure.
"""
import sys

import anthropic
import openai

base, key = sys.argv[1], sys.argv[2]
oa = openai.OpenAI(base_url=f"{base}/v1", api_key=key)

r = oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
assert r.choices[0].message.content, r
assert r.usage.prompt_tokens > 0, r.usage

text, usage = "", None
for chunk in oa.chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
    stream_options={"include_usage": True},
):
    if chunk.choices:
        text += chunk.choices[0].delta.content or ""
    if chunk.usage:
        usage = chunk.usage
assert text and usage and usage.completion_tokens > 0, (text, usage)

e = oa.embeddings.create(model="gpt-4o-mini", input="hello")
assert len(e.data[0].embedding) > 0
assert any(m.id == "gpt-4o-mini" for m in oa.models.list().data)

try:
    oa.chat.completions.create(model="no-such-model", messages=[])
    raise AssertionError("unknown model accepted")
except openai.NotFoundError as err:
    assert "known models" in str(err), err

an = anthropic.Anthropic(base_url=base, api_key=key)
m = an.messages.create(model="claude-sonnet-4", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
assert m.content[0].text and m.usage.output_tokens > 0, m
with an.messages.stream(model="claude-sonnet-4", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as s:
    streamed = "".join(s.text_stream)
    final = s.get_final_message()
assert streamed and final.usage.output_tokens > 0, final

print("sdk smoke: openai", openai.__version__, "and anthropic", anthropic.__version__, "OK")
